// Reader and writer for the safetensors weight format (8-byte header length, JSON header, raw data).
import Foundation

/// A set of named float tensors in the safetensors format.
public struct SafeTensors: Sendable {
    /// One tensor: its shape and its values as 32-bit floats, row major.
    public struct Tensor: Sendable, Equatable {
        /// Dimensions, outermost first.
        public let shape: [Int]
        /// Values in row-major order.
        public let values: [Float]

        /// Creates a tensor; `values.count` must equal the product of `shape`.
        public init(shape: [Int], values: [Float]) {
            self.shape = shape
            self.values = values
        }
    }

    /// The tensors by name.
    public var tensors: [String: Tensor]

    /// Creates a tensor set.
    public init(tensors: [String: Tensor] = [:]) { self.tensors = tensors }

    /// Reads a safetensors file; F32, F64, F16 and BF16 tensors are converted to F32.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError("cannot read weights file \(url.path): \(error.localizedDescription)")
        }
        try self.init(data: data, source: url.lastPathComponent)
    }

    /// Parses safetensors bytes; `source` names them in errors.
    public init(data: Data, source: String = "weights") throws {
        let bytes = [UInt8](data)
        guard bytes.count >= 8 else { throw ModelError("\(source): too short for a safetensors header") }
        var headerLength = 0
        for i in 0..<8 { headerLength |= Int(bytes[i]) << (8 * i) }
        guard headerLength > 0, headerLength <= bytes.count - 8 else {
            throw ModelError("\(source): header length \(headerLength) exceeds file size \(bytes.count)")
        }
        let header = Data(bytes[8..<(8 + headerLength)])
        guard let object = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw ModelError("\(source): header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        var tensors: [String: Tensor] = [:]
        for (name, value) in object where name != "__metadata__" {
            guard let entry = value as? [String: Any],
                let dtype = entry["dtype"] as? String,
                let shape = entry["shape"] as? [Int],
                let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else {
                throw ModelError("\(source): tensor '\(name)' has a malformed header entry")
            }
            let elementSize: Int
            switch dtype {
            case "F32": elementSize = 4
            case "F64": elementSize = 8
            case "F16", "BF16": elementSize = 2
            default: throw ModelError("\(source): tensor '\(name)' has unsupported dtype \(dtype)")
            }
            let count = shape.reduce(1, *)
            let begin = dataStart + offsets[0], end = dataStart + offsets[1]
            guard offsets[0] >= 0, begin <= end, end <= bytes.count, end - begin == count * elementSize else {
                throw ModelError("\(source): tensor '\(name)' data offsets \(offsets) do not match shape \(shape) of \(dtype)")
            }
            var values = [Float](repeating: 0, count: count)
            bytes.withUnsafeBytes { raw in
                for i in 0..<count {
                    let at = begin + i * elementSize
                    switch dtype {
                    case "F32": values[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian)
                    case "F64": values[i] = Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self).littleEndian))
                    case "BF16":
                        values[i] = Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: at, as: UInt16.self).littleEndian) << 16)
                    default: values[i] = Float(Self.halfToFloat(raw.loadUnaligned(fromByteOffset: at, as: UInt16.self).littleEndian))
                    }
                }
            }
            tensors[name] = Tensor(shape: shape, values: values)
        }
        self.tensors = tensors
    }

    /// Serializes all tensors as F32, sorted by name.
    public func serialized() -> Data {
        var header = "{"
        var offset = 0
        let names = tensors.keys.sorted()
        for (i, name) in names.enumerated() {
            guard let t = tensors[name] else { continue }
            let size = t.values.count * 4
            header +=
                "\(i == 0 ? "" : ",")\"\(name)\":{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + size)]}"
            offset += size
        }
        header += "}"
        // Pad the header with spaces so tensor data starts 8-byte aligned, as the format recommends.
        while (header.utf8.count % 8) != 0 { header += " " }
        var out = Data()
        var length = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(contentsOf: Array(header.utf8))
        for name in names {
            guard let t = tensors[name] else { continue }
            for v in t.values {
                var bits = v.bitPattern.littleEndian
                withUnsafeBytes(of: &bits) { out.append(contentsOf: $0) }
            }
        }
        return out
    }

    private static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exponent = Int((h >> 10) & 0x1f)
        let mantissa = UInt32(h & 0x3ff)
        if exponent == 0 {
            let magnitude = Float(mantissa) * Float(sign == 0 ? 1 : -1) / Float(1 << 24)
            return magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }
}
