// Delivery outcomes that librdkafka reports on its callback thread.
import CRdKafka

/// Counts delivery outcomes reported by librdkafka's callback thread.
final class DeliveryReports: @unchecked Sendable {
    /// Marks records whose delivered offsets are tracked (`takeTracked`).
    nonisolated(unsafe) static let trackedTag = UnsafeMutableRawPointer(bitPattern: 0x7472_6B64)
    /// Marks records whose value librdkafka reads in place (`pin`).
    nonisolated(unsafe) static let inPlaceTag = UnsafeMutableRawPointer(bitPattern: 0x696E_706C)
    /// Both: tracked, and read in place.
    nonisolated(unsafe) static let trackedInPlaceTag = UnsafeMutableRawPointer(bitPattern: 0x7469_706C)

    /// The opaque of a record: which of the marks above it carries (nil: none).
    static func tag(tracked: Bool, inPlace: Bool) -> UnsafeMutableRawPointer? {
        switch (tracked, inPlace) {
        case (false, false): return nil
        case (true, false): return trackedTag
        case (false, true): return inPlaceTag
        case (true, true): return trackedInPlaceTag
        }
    }

    private let lock = Mutex()
    private var failures = 0
    private var firstFailure = RD_KAFKA_RESP_ERR_NO_ERROR
    private var delivered_ = 0
    private var tracked: [Tracked: Int64] = [:]
    private var lastClientError_: String?
    /// Owners of the memory that queued in-place values point into, by identity, and how many
    /// in-place records have no delivery report yet: the owners are let go when it reaches zero.
    /// A destroyed client's records get no report, so owners left here are released with this
    /// object, which the client keeps until after `rd_kafka_destroy`.
    private var pinned: [ObjectIdentifier: AnyObject] = [:]
    private var inPlaceOutstanding = 0

    /// Keeps `owner` alive for one in-place record about to be queued (`unpin` if it was not).
    func pin(_ owner: AnyObject) {
        lock.withLock {
            inPlaceOutstanding += 1
            let id = ObjectIdentifier(owner)
            if pinned[id] == nil { pinned[id] = owner }
        }
    }

    /// One in-place record is done with (reported, or never queued); the owners are let go of
    /// when none is outstanding, outside the lock (freeing a cycle's block may take a while).
    func unpin() {
        let released: [AnyObject] = lock.withLock {
            inPlaceOutstanding -= 1
            guard inPlaceOutstanding == 0, !pinned.isEmpty else { return [] }
            defer { pinned.removeAll() }
            return Array(pinned.values)
        }
        withExtendedLifetime(released) {}
    }

    /// Owners of in-place values kept now.
    var pinnedCount: Int { lock.withLock { pinned.count } }

    func clientError(_ text: String) { lock.withLock { lastClientError_ = text } }
    var lastClientError: String? { lock.withLock { lastClientError_ } }

    /// A partition of a topic handle. Handles live as long as their client, so the callback
    /// keys by handle and names the topic only when the offsets are taken.
    struct Tracked: Hashable, @unchecked Sendable {
        let topic: OpaquePointer
        let partition: Int32
    }

    func delivered(_ tp: Tracked, offset: Int64) {
        lock.withLock { tracked[tp] = max(tracked[tp] ?? 0, offset + 1) }
    }

    func takeTracked() -> [KafkaTopicPartition: Int64] {
        let taken = lock.withLock {
            defer { tracked.removeAll(keepingCapacity: true) }
            return tracked
        }
        var result: [KafkaTopicPartition: Int64] = [:]
        for (tp, next) in taken {
            let key = KafkaTopicPartition(topic: String(cString: rd_kafka_topic_name(tp.topic)), partition: tp.partition)
            result[key] = max(result[key] ?? 0, next)
        }
        return result
    }

    func record(_ err: rd_kafka_resp_err_t) {
        lock.withLock {
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                delivered_ += 1
            } else {
                if failures == 0 { firstFailure = err }
                failures += 1
            }
        }
    }

    var delivered: Int { lock.withLock { delivered_ } }

    /// The failures since the last call as one error ("N record(s) <what>", with the first
    /// failure's code), nil when every record was delivered.
    func takeFailure(_ what: String) -> KafkaError? {
        let taken: (rd_kafka_resp_err_t, Int)? = lock.withLock {
            guard failures > 0 else { return nil }
            defer { failures = 0 }
            return (firstFailure, failures)
        }
        guard let (code, count) = taken else { return nil }
        return KafkaError(code: code, context: "\(count) record(s) \(what)")
    }

    /// Drops the failures counted so far (their records were purged or aborted on purpose).
    func forgetFailures() { lock.withLock { failures = 0 } }

    /// Installs the delivery-report and error callbacks on `config`, with these reports as their
    /// opaque. Records produced with `trackedTag` (or `trackedInPlaceTag`) as their opaque have
    /// their offsets tracked; those with `inPlaceTag` (or `trackedInPlaceTag`) are unpinned.
    func install(on config: RDKafkaConfig) {
        config.setCallbackContext(self)
        rd_kafka_conf_set_dr_msg_cb(config.pointer) { _, message, opaque in
            guard let opaque, let message else { return }
            let reports = Unmanaged<DeliveryReports>.fromOpaque(opaque).takeUnretainedValue()
            let m = message.pointee
            reports.record(m.err)
            let tag = m._private
            let tracked = tag == DeliveryReports.trackedTag || tag == DeliveryReports.trackedInPlaceTag
            if m.err == RD_KAFKA_RESP_ERR_NO_ERROR, tracked, let rkt = m.rkt {
                reports.delivered(DeliveryReports.Tracked(topic: rkt, partition: m.partition), offset: m.offset)
            }
            // librdkafka reads the value no more once its report is served.
            if tag == DeliveryReports.inPlaceTag || tag == DeliveryReports.trackedInPlaceTag { reports.unpin() }
        }
        rd_kafka_conf_set_error_cb(config.pointer) { _, _, reason, opaque in
            guard let opaque, let reason else { return }
            Unmanaged<DeliveryReports>.fromOpaque(opaque).takeUnretainedValue().clientError(String(cString: reason))
        }
    }
}
