// The bench's CPU attribution by thread: /proc stat lines parsed, threads grouped by name.
import Foundation
import Synchronization
import Testing
import UserRepTesting

@Suite struct ThreadCPUTests {
    @Test func statLinesAreParsedPastANameWithSpacesAndParentheses() throws {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
        let line = "4242 (rdk:broker (1) x) S 1 4242 4242 0 -1 4194560 120 0 0 0 250 50 0 0 20 0 9 0 100 0 0"
        let parsed = try #require(ThreadCPU.parse(stat: line, ticksPerSecond: 100))
        #expect(parsed.name == "rdk:broker (1) x" && parsed.seconds == 3.0)
        #expect(ThreadCPU.parse(stat: "4242 (broken", ticksPerSecond: 100) == nil)
        #expect(ThreadCPU.parse(stat: "4242 (short) S 1 2", ticksPerSecond: 100) == nil)
    }

    @Test func threadsAreGroupedByName() {
        #expect(ThreadCPU.Group.of("rdk:mock") == .cluster)
        #expect(ThreadCPU.Group.of("rdk:broker1") == .kafkaClients && ThreadCPU.Group.of("rdk:main") == .kafkaClients)
        #expect(ThreadCPU.Group.of("rocksdb:low") == .rocksDB)
        #expect(ThreadCPU.Group.of("userrep") == .worker)
        #expect(ThreadCPU.Group.of(ThreadCPU.Group.loadThreadName) == .load && ThreadCPU.Group.of("bench") == .worker)
    }

    /// Work done by this thread between two snapshots is counted, in its group, on Linux.
    @Test func aBusyThreadsCPUIsCountedBetweenSnapshots() {
        #if os(Linux)
            let before = ThreadCPU.now()
            #expect(!before.threads.isEmpty)
            var x = 0.0
            var spent = 0.0
            // At least one clock tick of CPU on this thread (1/100 s), however long that takes.
            while spent < 0.02 {
                for i in 0..<1_000_000 { x += sin(Double(i)) }
                spent = ThreadCPU.now().since(before).values.reduce(0, +)
            }
            #expect(x.isFinite && spent >= 0.02)
            #expect(ThreadCPU.now().since(before)[.worker] ?? 0 >= 0.01)
        #endif
    }

    /// A thread that names itself the bench's load thread has its CPU counted in that group.
    @Test func aThreadNamedAsTheLoadIsCountedAsTheLoad() {
        #if os(Linux)
            let before = ThreadCPU.now()
            let spent = Mutex(false), release = Mutex(false)
            let thread = Thread {
                ThreadCPU.nameCurrentThread(ThreadCPU.Group.loadThreadName)
                spent.withLock { $0 = burnOwnCPU(seconds: 0.05) }
                while !release.withLock({ $0 }) { usleep(1_000) }
            }
            thread.start()
            while !spent.withLock({ $0 }) { usleep(1_000) }
            #expect(ThreadCPU.now().since(before)[.load] ?? 0 >= 0.02)
            release.withLock { $0 = true }
        #endif
    }

    /// Threads named to `since` as the load's (the load producer's client threads) count as the
    /// load, whatever their name.
    @Test func threadsToldToBeTheLoadsAreCountedAsTheLoad() throws {
        #if os(Linux)
            // "/proc/thread-self" links to "<pid>/task/<tid>".
            let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")
            let tid = try #require(link.split(separator: "/").last.flatMap { Int($0) })
            let before = ThreadCPU.now()
            #expect(before.threads[tid] != nil)
            let burnt = burnOwnCPU(seconds: 0.05)
            let after = ThreadCPU.now()
            let mine = try #require(after.threads[tid]).seconds - (before.threads[tid]?.seconds ?? 0)
            #expect(burnt && mine >= 0.02)
            #expect(after.since(before, load: [tid])[.load] ?? 0 >= mine)
            let unmarked = after.since(before)
            #expect(unmarked[.load] ?? 0 < mine, "without the set, this thread is the worker's")
        #endif
    }
}

/// Keeps the calling thread busy until its own CPU clock has run `seconds` more (so the loop ends
/// whatever the thread is called or however the machine is loaded); true when the sums stayed finite.
private func burnOwnCPU(seconds: Double) -> Bool {
    func ownSeconds() -> Double {
        var own = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &own)
        return Double(own.tv_sec) + Double(own.tv_nsec) / 1e9
    }
    let start = ownSeconds()
    var x = 0.0
    repeat {
        for i in 0..<100_000 { x += sin(Double(i)) }
    } while ownSeconds() - start < seconds
    return x.isFinite
}
