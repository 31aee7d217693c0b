// Key partitioners against independent implementations, and the guard that tells input topics partitioned apart.
import Testing
import UserRepKafka
import UserRepModel
@testable import UserRepPipeline

@Suite struct CoPartitioningGuardTests {
    /// Kafka's murmur2 (the Java client's `Utils.murmur2`), written out from its definition.
    static func murmur2(_ key: [UInt8]) -> UInt32 {
        let m: UInt32 = 0x5bd1_e995
        var h: UInt32 = 0x9747_b28c ^ UInt32(key.count)
        var i = 0
        while i + 4 <= key.count {
            var k = UInt32(key[i]) | UInt32(key[i + 1]) << 8 | UInt32(key[i + 2]) << 16 | UInt32(key[i + 3]) << 24
            k = k &* m
            k ^= k >> 24
            k = k &* m
            h = h &* m
            h ^= k
            i += 4
        }
        let rest = key.count - i
        if rest >= 3 { h ^= UInt32(key[i + 2]) << 16 }
        if rest >= 2 { h ^= UInt32(key[i + 1]) << 8 }
        if rest >= 1 {
            h ^= UInt32(key[i])
            h = h &* m
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return h
    }

    /// CRC-32 (IEEE, reflected, as zlib's), bit by bit.
    static func crc32(_ key: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in key {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// 32-bit FNV-1a.
    static func fnv1a(_ key: [UInt8]) -> UInt32 {
        var h: UInt32 = 0x811C_9DC5
        for byte in key { h = (h ^ UInt32(byte)) &* 0x0100_0193 }
        return h
    }

    /// The partition each partitioner gives, by the independent hashes: Java's sign-masked
    /// murmur2, CRC32 modulo the count, and Sarama's FNV-1a (its absolute value as a signed
    /// 32-bit number, modulo the count).
    static func expected(_ p: KafkaPartitioner, _ key: [UInt8], _ count: Int32) -> Int32 {
        switch p {
        case .murmur2: return Int32((murmur2(key) & 0x7fff_ffff) % UInt32(count))
        case .consistent: return Int32(crc32(key) % UInt32(count))
        case .fnv1a: return Int32(Int32(bitPattern: fnv1a(key)).magnitude % UInt32(count))
        }
    }

    static func keys(_ n: Int) -> [[UInt8]] {
        var rng = SplitMix64(seed: 7)
        return (0..<n).map { i in
            let length = Int(rng.next() % 40) + 1
            return i < 5 ? Array("user-\(i)".utf8) : (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }
    }

    @Test(arguments: KafkaPartitioner.allCases)
    func partitionersMatchIndependentHashes(_ partitioner: KafkaPartitioner) {
        for key in Self.keys(2_000) {
            for count: Int32 in [2, 3, 7, 32, 100] {
                let got = key.withUnsafeBytes { partitioner.partition(of: $0, count: count) }
                #expect(got == Self.expected(partitioner, key, count), "\(partitioner) \(key) of \(count)")
            }
        }
    }

    /// Feeds `keys` of topic `topic`, each in the partition `place` gives it.
    static func feed(_ g: inout CoPartitioningGuard, topic: Int, _ keys: [[UInt8]], place: ([UInt8]) -> Int32) {
        for key in keys { key.withUnsafeBytes { g.observe(topic: topic, key: $0, partition: place(key)) } }
    }

    @Test func topicsOfOnePartitionerAgreeAndOfTwoConflict() {
        let keys = Self.keys(300)
        for (a, b) in [(KafkaPartitioner.murmur2, KafkaPartitioner.consistent), (.consistent, .fnv1a), (.fnv1a, .murmur2)] {
            var same = CoPartitioningGuard(topics: 2, partitions: 8)
            Self.feed(&same, topic: 0, keys, place: { Self.expected(a, $0, 8) })
            Self.feed(&same, topic: 1, Array(keys.prefix(20)), place: { Self.expected(a, $0, 8) })
            #expect(same.conflict == nil)
            #expect(same.candidates[0] == [a], "\(same.candidates[0])")

            var apart = CoPartitioningGuard(topics: 2, partitions: 8)
            Self.feed(&apart, topic: 0, keys, place: { Self.expected(a, $0, 8) })
            Self.feed(&apart, topic: 1, Array(keys.suffix(20)), place: { Self.expected(b, $0, 8) })
            #expect(apart.conflict.map { [$0.0, $0.1] } == [0, 1], "\(a) against \(b)")
            #expect(apart.describe(0).contains(a.rawValue) && apart.describe(1).contains(b.rawValue))
        }
    }

    @Test func aTopicOfAnUnknownPartitionerOrOnePartitionGivesNoVerdict() {
        let keys = Self.keys(300)
        var custom = CoPartitioningGuard(topics: 2, partitions: 8)
        Self.feed(&custom, topic: 0, keys, place: { Self.expected(.murmur2, $0, 8) })
        Self.feed(&custom, topic: 1, keys, place: { Int32($0.count % 8) })
        #expect(custom.candidates[1].isEmpty)
        #expect(custom.conflict == nil, "nothing can be said of an unknown partitioner")
        #expect(custom.describe(1) == "by no partitioner userrep knows")

        var single = CoPartitioningGuard(topics: 2, partitions: 1)
        Self.feed(&single, topic: 0, keys, place: { _ in 0 })
        Self.feed(&single, topic: 1, keys, place: { _ in 0 })
        #expect(single.conflict == nil && single.records == [0, 0])
    }
}
