// The worker's /metrics, /healthz and /readyz, scraped during and after an end-to-end run.
import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import Prometheus
import Synchronization
import Testing
import UserRepKafka
import UserRepModel
@testable import UserRepPipeline
import UserRepServer
import UserRepTesting

/// A GET's status and body, nil if the server did not answer.
func httpGet(_ url: String) -> (status: Int, body: String)? {
    guard let target = URL(string: url) else { return nil }
    let result = Mutex<(Int, String)?>(nil)
    let done = DispatchSemaphore(value: 0)
    URLSession.shared.dataTask(with: target) { data, response, _ in
        if let http = response as? HTTPURLResponse {
            result.withLock { $0 = (http.statusCode, String(decoding: data ?? Data(), as: UTF8.self)) }
        }
        done.signal()
    }.resume()
    done.wait()
    return result.withLock { $0 }.map { (status: $0.0, body: $0.1) }
}

/// The samples of a Prometheus text exposition: `name{labels}` → value.
func samples(_ text: String) -> [String: Double] {
    var out: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        out[String(line[..<space])] = value
    }
    return out
}

@Suite(.serialized) struct MetricsEndpointTests {
    @Test func scrapedCountersMatchTheRunsSummary() throws {
        var w = try Workload(users: 200, tracks: 150, partitions: 3, seed: 61)
        defer { w.env.cleanUp() }
        try w.produceListens(3_000)
        let producer = try KafkaProducer(configuration: w.env.kafka)
        for i in 0..<7 { try producer.produce(topic: w.env.topics.listens, key: Array("bad\(i)".utf8), value: Array("{not json".utf8)) }
        try producer.flush(timeoutMs: 10_000)

        var config = try w.env.workerConfiguration()
        config.maxPollRecords = 250
        let worker = try StreamWorker(configuration: config, model: w.env.model)
        let registry = PrometheusCollectorRegistry()
        worker.metricsFactory = PrometheusMetricsFactory(registry: registry)
        let server = try MetricsServer(host: "127.0.0.1", port: 0, registry: registry, status: worker.status)
        defer { server.close() }
        let base = "http://127.0.0.1:\(server.port)"
        #expect(httpGet("\(base)/healthz")?.status == 200, "live before the loop starts")
        #expect(httpGet("\(base)/readyz")?.status == 503, "not ready before the loop starts")

        // Scrape while the worker runs, until it has read at least half of the listens.
        let during = Mutex<[(ready: Int, read: Double)]>([])
        let running = Mutex(true)
        let scraper = Thread {
            while running.withLock({ $0 }) {
                guard let metrics = httpGet("\(base)/metrics"), let ready = httpGet("\(base)/readyz") else { continue }
                let read = samples(metrics.body)["userrep_records_read_total{topic=\"listens\"}"] ?? 0
                during.withLock { $0.append((ready.status, read)) }
            }
        }
        scraper.start()
        let m = try worker.run(until: .whenCaughtUp(gate: { during.withLock { $0.contains { $0.read >= 1_500 } } }))
        running.withLock { $0 = false }

        let seen = during.withLock { $0 }
        #expect(seen.contains { $0.ready == 200 && $0.read > 0 }, "scraped ready with records read during the run")
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.read <= $1.read }, "counters only grow")
        guard let final = httpGet("\(base)/metrics") else {
            Issue.record("no answer from /metrics")
            return
        }
        let s = samples(final.body)
        #expect(s["userrep_records_read_total{topic=\"listens\"}"] == Double(m.recordsReadByLane[0]) && m.recordsReadByLane[0] == 3_007)
        #expect(s["userrep_events_applied_total{topic=\"listens\"}"] == Double(m.listensApplied))
        let outputs = s.filter { $0.key.hasPrefix("userrep_outputs_total{batch=\"\(w.env.model.batchID)\"") }.values.reduce(0, +)
        #expect(outputs == Double(m.outputsPublished) && m.outputsPublished > 0)
        #expect(s["userrep_outputs_total{batch=\"\(w.env.model.batchID)\",trigger=\"window_expiry\"}"] ?? 0 == Double(m.timersFired))
        #expect(s["userrep_dead_letters_total{reason=\"malformed-json\"}"] == Double(m.deadLetters["malformed-json"] ?? -1))
        #expect(m.deadLetterTotal == 7)
        #expect(s["userrep_rebalances_total"] == Double(m.assignments))
        // Counted by the state store, outside the worker's metrics, and brought in every loop.
        #expect(s["userrep_state_bytes_written_total"] == Double(m.stateBytesWritten) && m.stateBytesWritten > 0)
        #expect(s["userrep_changelog_bytes_total"] == Double(m.changelogBytes) && m.changelogBytes > 0)
        #expect(s["userrep_cycle_seconds_count"] == Double(m.cycles))
        #expect(s.keys.contains { $0.hasPrefix("userrep_cycle_stage_seconds_bucket{stage=\"encode\"") })
        for p in 0..<w.env.partitions {
            #expect(s["userrep_consumer_lag{topic=\"listens\",partition=\"\(p)\"}"] == 0, "caught up: no lag on \(p)")
        }
        #expect(httpGet("\(base)/readyz")?.status == 503, "not ready once stopped")
        #expect(httpGet("\(base)/healthz")?.status == 200)
        #expect(httpGet("\(base)/nope")?.status == 404)
    }
}
