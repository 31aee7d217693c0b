// The exported-features file: safetensors with `features` F32 [N, d], the user ids, and metadata.
import Foundation

/// A features file as `userrep features export` writes it and `userrep train` reads it. It is a
/// plain safetensors file, so `safetensors.numpy.load_file` and PyTorch read it directly:
/// - `features` F32 `[N, d]`: the encoder input of each user, row major;
/// - `user_id_offsets` I64 `[N + 1]` and `user_id_bytes` U8 `[total]`: user `i`'s id is
///   `user_id_bytes[offsets[i] ..< offsets[i + 1]]` (UTF-8);
/// - `__metadata__`: `format` (`userrep-features-1`), `input_size`, `rows`, `embedding_batch_id`,
///   `model_batch_id`, `as_of_ms` (or `newest-event`), and `manifest`: the JSON manifest of the
///   model the features were exported with (its layout, vocabularies and imputation values).
public enum FeatureFile {
    /// The format tag in the metadata.
    public static let format = "userrep-features-1"

    /// The header of a file with `rows` rows of `inputSize` floats and `idBytes` bytes of ids.
    static func header(rows: Int, inputSize: Int, idBytes: Int, metadata: [String: String]) throws -> [UInt8] {
        let featureBytes = rows * inputSize * 4
        let offsetBytes = (rows + 1) * 8
        var object: [String: Any] = [
            "features": ["dtype": "F32", "shape": [rows, inputSize], "data_offsets": [0, featureBytes]],
            "user_id_offsets": ["dtype": "I64", "shape": [rows + 1], "data_offsets": [featureBytes, featureBytes + offsetBytes]],
            "user_id_bytes": [
                "dtype": "U8", "shape": [idBytes], "data_offsets": [featureBytes + offsetBytes, featureBytes + offsetBytes + idBytes],
            ],
        ]
        object["__metadata__"] = metadata
        var json = Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
        // Tensor data 8-byte aligned, so the mapped features are read in place.
        while (json.count + 8) % 8 != 0 { json.append(0x20) }
        var out: [UInt8] = []
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        return out + json
    }

    /// Streams a features file to a temporary path beside `url` and renames it into place on `finish`,
    /// so a failed export leaves nothing half-written.
    public final class Writer {
        private let handle: FileHandle
        private let temporary: URL
        private let url: URL
        private let inputSize: Int
        private let rows: Int
        private var written = 0
        private var ids: [UInt8] = []
        private var offsets: [Int64] = [0]
        private var buffer: [UInt8] = []

        /// Opens a writer for exactly `rows` rows whose ids take `idBytes` bytes in total.
        public init(url: URL, rows: Int, inputSize: Int, idBytes: Int, metadata: [String: String]) throws {
            self.url = url
            self.rows = rows
            self.inputSize = inputSize
            temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
                throw ModelError("cannot create \(temporary.path)")
            }
            handle = try FileHandle(forWritingTo: temporary)
            var meta = metadata
            meta["format"] = FeatureFile.format
            meta["rows"] = String(rows)
            meta["input_size"] = String(inputSize)
            try handle.write(contentsOf: try FeatureFile.header(rows: rows, inputSize: inputSize, idBytes: idBytes, metadata: meta))
            ids.reserveCapacity(idBytes)
            buffer.reserveCapacity(1 << 20)
        }

        /// Appends one user's row.
        public func append(userID: [UInt8], row: UnsafeBufferPointer<Float>) throws {
            precondition(row.count == inputSize)
            guard written < rows else { throw ModelError("features file: more rows than the \(rows) announced") }
            for v in row { LittleEndian.append(v, to: &buffer) }
            if buffer.count >= 1 << 20 { try flushBuffer() }
            ids += userID
            offsets.append(Int64(ids.count))
            written += 1
        }

        private func flushBuffer() throws {
            try handle.write(contentsOf: buffer)
            buffer.removeAll(keepingCapacity: true)
        }

        /// Writes the ids, syncs and renames the file into place.
        public func finish() throws {
            guard written == rows else { throw ModelError("features file: \(written) rows written of the \(rows) announced") }
            try flushBuffer()
            for o in offsets {
                let bits = UInt64(bitPattern: o).littleEndian
                for k in 0..<8 { buffer.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(k)))) }
            }
            buffer += ids
            try flushBuffer()
            try handle.synchronize()
            try handle.close()
            if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
            try FileManager.default.moveItem(at: temporary, to: url)
        }

        /// Removes the temporary file (after a failure).
        public func abandon() {
            try? handle.close()
            try? FileManager.default.removeItem(at: temporary)
        }
    }

    /// A features file mapped into memory: rows are read in place, never copied whole.
    public final class Mapped: @unchecked Sendable {
        // Immutable after init; the mapped bytes are read only.
        private let data: Data
        private let featureStart: Int
        /// Rows (users).
        public let rows: Int
        /// Floats per row.
        public let inputSize: Int
        /// The file's metadata.
        public let metadata: [String: String]
        private let offsets: [Int64]
        private let idStart: Int

        /// Maps `url` and checks its header; throws a clear error for anything but a features file.
        public init(url: URL) throws {
            let name = url.lastPathComponent
            let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? nil
            guard let size else { throw ModelError("cannot read features file \(url.path)") }
            guard size > 0 else { throw ModelError("\(name) is empty; export features with `userrep features export`") }
            guard let data = try? Data(contentsOf: url, options: [.alwaysMapped]) else {
                throw ModelError("cannot read features file \(url.path)")
            }
            guard data.count >= 8 else { throw ModelError("\(name): empty or too short to be a features file") }
            var headerLength = 0
            for i in 0..<8 { headerLength |= Int(data[data.startIndex + i]) << (8 * i) }
            guard headerLength > 0, headerLength <= data.count - 8 else {
                throw ModelError("\(name): header length \(headerLength) exceeds the file size \(data.count)")
            }
            guard let object = try? JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as? [String: Any] else {
                throw ModelError("\(name): header is not a JSON object")
            }
            let metadata = object["__metadata__"] as? [String: String] ?? [:]
            guard metadata["format"] == FeatureFile.format else {
                throw ModelError(
                    "\(name): not a userrep features file (metadata format is \(metadata["format"] ?? "missing"); write one with `userrep features export`)"
                )
            }
            func entry(_ tensor: String, dtype: String) throws -> (shape: [Int], begin: Int, end: Int) {
                guard let e = object[tensor] as? [String: Any], e["dtype"] as? String == dtype, let shape = e["shape"] as? [Int],
                    let o = e["data_offsets"] as? [Int], o.count == 2, o[0] >= 0, o[0] <= o[1], 8 + headerLength + o[1] <= data.count
                else { throw ModelError("\(name): tensor '\(tensor)' is missing or is not \(dtype) within the file") }
                return (shape, 8 + headerLength + o[0], 8 + headerLength + o[1])
            }
            let features = try entry("features", dtype: "F32")
            guard features.shape.count == 2, features.end - features.begin == features.shape[0] * features.shape[1] * 4 else {
                throw ModelError("\(name): features tensor shape \(features.shape) does not match its data")
            }
            let rows = features.shape[0]
            self.rows = rows
            inputSize = features.shape[1]
            guard features.begin % 4 == 0 else { throw ModelError("\(name): features are not 4-byte aligned") }
            let idOffsets = try entry("user_id_offsets", dtype: "I64")
            let idBytes = try entry("user_id_bytes", dtype: "U8")
            guard idOffsets.shape == [rows + 1], idOffsets.end - idOffsets.begin == (rows + 1) * 8 else {
                throw ModelError("\(name): user_id_offsets has shape \(idOffsets.shape), expected [\(rows + 1)]")
            }
            var offsets = [Int64](repeating: 0, count: rows + 1)
            data.withUnsafeBytes { raw in
                for i in 0...rows {
                    offsets[i] = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: idOffsets.begin + i * 8, as: Int64.self))
                }
            }
            let total = idBytes.end - idBytes.begin
            guard offsets.first == 0, offsets.last == Int64(total), zip(offsets, offsets.dropFirst()).allSatisfy({ $0 <= $1 }) else {
                throw ModelError("\(name): user id offsets are not increasing from 0 to \(total)")
            }
            self.data = data
            self.metadata = metadata
            self.offsets = offsets
            featureStart = features.begin
            idStart = idBytes.begin
        }

        /// Calls `body` with every row, row major (`rows × inputSize`), in place.
        public func withFeatures<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
            try data.withUnsafeBytes { raw in
                let base = raw.baseAddress.map { ($0 + featureStart).assumingMemoryBound(to: Float.self) }
                return try body(UnsafeBufferPointer(start: base, count: rows * inputSize))
            }
        }

        /// The id of user `row`.
        public func userID(_ row: Int) -> String {
            let begin = idStart + Int(offsets[row]), end = idStart + Int(offsets[row + 1])
            return String(decoding: data[(data.startIndex + begin)..<(data.startIndex + end)], as: UTF8.self)
        }

        /// The manifest the features were exported with.
        public func exportManifest() throws -> ModelManifest {
            guard let json = metadata["manifest"] else { throw ModelError("features file has no manifest in its metadata") }
            return try ModelManifest.decode(Data(json.utf8))
        }
    }
}
