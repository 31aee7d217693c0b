// SHA-256 against the FIPS 180-4 examples and against the system's sha256sum.
import Foundation
import Testing
import UserRepModel

struct SHA256Tests {
    @Test func knownDigests() {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    /// Pieces of any size give the digest of the whole; and a file's digest equals sha256sum's.
    @Test func piecesAndFilesAgreeWithSha256sum() throws {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<200_003).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var pieces = SHA256()
        var start = 0
        for size in [0, 1, 63, 64, 65, 127, 1000, 4096] + Array(repeating: 7919, count: 30) where start < bytes.count {
            let end = min(bytes.count, start + size)
            pieces.update(Array(bytes[start..<end]))
            start = end
        }
        pieces.update(Array(bytes[start...]))
        #expect(pieces.hexDigest() == SHA256.hex(bytes))

        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(bytes).write(to: url)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [url.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(try SHA256.hex(fileAt: url) == String(output.prefix(64)))
    }
}
