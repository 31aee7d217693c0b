// One fully connected layer of the encoder.

/// `y = activation(W x + b)` with `W` stored `[outputs, inputs]` row major.
public struct DenseLayer: Sendable {
    /// Inputs per row.
    public let inputs: Int
    /// Outputs per row.
    public let outputs: Int
    /// Weights, `outputs × inputs`, row major.
    public let weights: [Float]
    /// Biases, one per output.
    public let bias: [Float]
    /// Activation applied to the outputs.
    public let activation: Activation

    /// Creates a layer; shapes are checked by the caller.
    public init(inputs: Int, outputs: Int, weights: [Float], bias: [Float], activation: Activation) {
        self.inputs = inputs
        self.outputs = outputs
        self.weights = weights
        self.bias = bias
        self.activation = activation
    }
}
