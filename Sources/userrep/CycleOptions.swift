// Options shared by the commands that run a worker: how large a cycle is and how many threads it uses.
import ArgumentParser
import UserRepPipeline

/// `--max-batch` and `--threads`, checked and applied to a worker configuration.
struct CycleOptions: ParsableArguments {
    @Option(help: "Most records per poll cycle.") var maxBatch = WorkerConfiguration.defaultMaxBatchRecords
    @Option(help: "Threads for parsing, state updates, features + encoder and state serialization (defaults to the core count).")
    var threads = WorkerConfiguration.defaultComputeThreads

    func validate() throws {
        guard maxBatch >= 1 else { throw ValidationError("--max-batch must be at least 1, got \(maxBatch)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    /// Sets the cycle size and thread count of `config`.
    func apply(to config: inout WorkerConfiguration) {
        config.maxBatchRecords = maxBatch
        config.computeThreads = threads
    }
}
