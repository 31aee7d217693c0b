// librdkafka's producer calls: transactions, producing one record, purging and flushing.
import CRdKafka

/// One record to produce, in the form `rd_kafka_produceva` takes it. Key and headers are copied;
/// the value too unless `copyValue` is false (its owner then keeps it alive: `KafkaProducer.produce`).
struct RDKafkaOutgoingRecord {
    let topic: OpaquePointer
    let partition: Int32?
    let key: UnsafeRawBufferPointer?
    let value: UnsafeRawBufferPointer?
    let headers: [KafkaHeader]
    let timestampMs: Int64?
    /// Handed back in the record's delivery report.
    let opaque: UnsafeMutableRawPointer?
    /// False: librdkafka reads the value in place until the record's delivery report.
    var copyValue = true
}

/// What `RDKafkaClient.produce` did with a record.
enum RDKafkaProduceResult {
    /// Queued for delivery.
    case queued
    /// librdkafka's queue is full: serve delivery reports and try again.
    case queueFull
    /// Refused, for the reason librdkafka gave.
    case failed(KafkaError)
}

extension RDKafkaClient {
    /// Registers the transactional id, fencing older producers with it.
    func initTransactions(timeoutMs: Int32) throws {
        if let error = rd_kafka_init_transactions(handle, timeoutMs) {
            throw KafkaError(consuming: error, context: "cannot initialize transactions")
        }
    }

    /// Starts a transaction.
    func beginTransaction() throws {
        if let error = rd_kafka_begin_transaction(handle) { throw KafkaError(consuming: error, context: "cannot begin a transaction") }
    }

    /// Adds group offsets to the current transaction, as of `metadata` (the consuming member).
    /// Blocks, at times past `timeoutMs` (see `BoundedCall`).
    func sendOffsetsToTransaction(_ offsets: [KafkaTopicPartition: Int64], as metadata: GroupMetadata, timeoutMs: Int32) -> KafkaError? {
        let list = RDKafkaTopicPartitionList(offsets: offsets)
        guard let error = rd_kafka_send_offsets_to_transaction(handle, list.pointer, metadata.pointer, timeoutMs) else { return nil }
        return KafkaError(consuming: error, context: "cannot add offsets to the transaction")
    }

    /// Flushes and commits the current transaction.
    func commitTransaction(timeoutMs: Int32) throws {
        if let error = rd_kafka_commit_transaction(handle, timeoutMs) {
            throw KafkaError(consuming: error, context: "cannot commit the transaction")
        }
    }

    /// Aborts the current transaction.
    func abortTransaction(timeoutMs: Int32) throws {
        if let error = rd_kafka_abort_transaction(handle, timeoutMs) {
            throw KafkaError(consuming: error, context: "cannot abort the transaction")
        }
    }

    /// Queues one record (key and headers are copied; the value too unless `copyValue` is false).
    func produce(_ record: RDKafkaOutgoingRecord) -> RDKafkaProduceResult {
        let error: OpaquePointer? = withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 8) { vus in
            var count = 0
            func add(_ type: rd_kafka_vtype_t, _ set: (inout rd_kafka_vu_t) -> Void) {
                var vu = rd_kafka_vu_t()
                vu.vtype = type
                set(&vu)
                vus.initializeElement(at: count, to: vu)
                count += 1
            }
            add(RD_KAFKA_VTYPE_RKT) { $0.u.rkt = record.topic }
            add(RD_KAFKA_VTYPE_PARTITION) { $0.u.i32 = record.partition ?? RD_KAFKA_PARTITION_UA }
            add(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = record.copyValue ? RD_KAFKA_MSG_F_COPY : 0 }
            add(RD_KAFKA_VTYPE_KEY) {
                $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: record.key?.baseAddress)
                $0.u.mem.size = record.key?.count ?? 0
            }
            add(RD_KAFKA_VTYPE_VALUE) {
                $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: record.value?.baseAddress)
                $0.u.mem.size = record.value?.count ?? 0
            }
            if let timestampMs = record.timestampMs { add(RD_KAFKA_VTYPE_TIMESTAMP) { $0.u.i64 = timestampMs } }
            if let opaque = record.opaque { add(RD_KAFKA_VTYPE_OPAQUE) { $0.u.ptr = opaque } }
            var list: OpaquePointer?
            if !record.headers.isEmpty {
                list = rd_kafka_headers_new(record.headers.count)
                for h in record.headers {
                    _ = h.value.withUnsafeBytes { rd_kafka_header_add(list, h.name, -1, $0.baseAddress, $0.count) }
                }
                add(RD_KAFKA_VTYPE_HEADERS) { $0.u.headers = list }
            }
            let error = rd_kafka_produceva(handle, vus.baseAddress, count)
            // On failure the headers were not taken over by librdkafka.
            if error != nil, let list { rd_kafka_headers_destroy(list) }
            return error
        }
        guard let error else { return .queued }
        if rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL {
            rd_kafka_error_destroy(error)
            return .queueFull
        }
        return .failed(KafkaError(consuming: error, context: nil))
    }

    /// Drops every queued and in-flight record; their delivery reports say purged.
    func purgeQueuedAndInFlight() {
        _ = rd_kafka_purge(handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
    }

    /// Waits up to `timeoutMs` for every queued record's delivery; returns the number still
    /// pending when the wait ran out, nil when everything was delivered (or failed).
    func flush(timeoutMs: Int32) -> Int? {
        let err = rd_kafka_flush(handle, timeoutMs)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : Int(rd_kafka_outq_len(handle))
    }
}
