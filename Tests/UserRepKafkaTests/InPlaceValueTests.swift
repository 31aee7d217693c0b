// Values produced in place (no copy): delivered intact, and their memory kept alive exactly as long
// as librdkafka may read it.
import Foundation
import Testing
import UserRepKafka

/// A block of `records` values of `size` bytes, value i filled with byte i % 251; `freed` is set
/// when it is deallocated.
private final class ValueBlock: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let records: Int
    let size: Int
    let freed: FreedFlag

    init(records: Int, size: Int, freed: FreedFlag) {
        self.records = records
        self.size = size
        self.freed = freed
        base = UnsafeMutableRawPointer.allocate(byteCount: records * size, alignment: 16)
        for i in 0..<records { (base + i * size).initializeMemory(as: UInt8.self, repeating: UInt8(i % 251), count: size) }
    }

    func value(_ i: Int) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base + i * size, count: size) }

    deinit {
        // Scribbled before it is freed, so a record read after this would not match.
        base.initializeMemory(as: UInt8.self, repeating: 0xEE, count: records * size)
        base.deallocate()
        freed.set()
    }
}

/// Set once, read from the test.
private final class FreedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

@Suite struct InPlaceValueTests {
    /// Produces every value of a new block in place on `topic` and lets go of the block.
    private func produceBlock(_ producer: KafkaProducer, topic: KafkaOutputTopic, records: Int, freed: FreedFlag) throws {
        let block = ValueBlock(records: records, size: 700, freed: freed)
        for i in 0..<records {
            let key = Array("k\(i)".utf8)
            try key.withUnsafeBytes { k in
                try producer.produce(to: topic, partition: Int32(i % 2), key: k, value: block.value(i), valueOwner: block)
            }
        }
    }

    @Test func valuesProducedInPlaceArriveIntactAndTheirOwnerLivesUntilDelivered() throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1)
        try cluster.createTopic("t", partitions: 2)
        let config = KafkaConfiguration(["bootstrap.servers": cluster.bootstrapServers])
        let producer = try KafkaProducer(configuration: config)
        let freed = FreedFlag()
        try produceBlock(producer, topic: try producer.openTopic("t"), records: 2_000, freed: freed)
        // The caller has let go; the producer keeps the block until its records are delivered.
        #expect(!freed.isSet)
        #expect(producer.pinnedValueOwners == 1)
        try producer.flush(timeoutMs: 10_000)
        #expect(producer.deliveredCount == 2_000)
        #expect(producer.pinnedValueOwners == 0)
        #expect(freed.isSet, "a delivered block is freed")

        let consumer = try KafkaConsumer(configuration: config.overriding(["group.id": "g", "auto.offset.reset": "earliest"]))
        try consumer.subscribe(["t"])
        var seen = Set<Int>()
        var intact = 0
        try pollUntil(consumer, topics: ["t"], { seen.count >= 2_000 }) { record in
            guard let key = record.key, let i = Int(String(decoding: key.dropFirst(), as: UTF8.self)) else { return }
            seen.insert(i)
            if let value = record.value, value.count == 700, value.allSatisfy({ $0 == UInt8(i % 251) }) { intact += 1 }
        }
        #expect(seen.count == 2_000)
        #expect(intact == 2_000, "every value as it was in the block when produced")
        consumer.close()
    }

    @Test func aPurgeReleasesTheOwnerOfRecordsThatNeverLeft() throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1)
        try cluster.createTopic("t", partitions: 2)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": cluster.bootstrapServers]))
        let topic = try producer.openTopic("t")
        cluster.setBrokerDown(1)
        let freed = FreedFlag()
        try produceBlock(producer, topic: topic, records: 100, freed: freed)
        #expect(throws: KafkaError.self) { try producer.flush(timeoutMs: 200) }
        #expect(!freed.isSet, "records still queued keep their block")
        producer.purge()
        #expect(producer.pinnedValueOwners == 0)
        #expect(freed.isSet)
    }

    @Test func aDestroyedProducerReleasesTheOwnerOnlyAfterLibrdkafkaIsGone() throws {
        let cluster = try EmbeddedKafkaCluster(brokers: 1)
        try cluster.createTopic("t", partitions: 2)
        let freed = FreedFlag()
        do {
            let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": cluster.bootstrapServers]))
            cluster.setBrokerDown(1)
            try produceBlock(producer, topic: try producer.openTopic("t"), records: 100, freed: freed)
            #expect(!freed.isSet)
        }
        #expect(freed.isSet, "destroying the producer frees what it kept")
    }
}
