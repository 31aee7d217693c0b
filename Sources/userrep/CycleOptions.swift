// Options shared by the commands that run a worker: how large a cycle is and how many threads it uses.
import ArgumentParser
import UserRepPipeline

/// `--max-poll-records` and `--threads`, checked and applied to a worker configuration.
struct CycleOptions: ParsableArguments {
    @Option(
        name: [.customLong("max-poll-records"), .customLong("max-batch", withSingleDash: false)],
        help: "Most records per poll cycle (--max-batch is the old name).") var maxPollRecords = WorkerConfiguration.defaultMaxPollRecords
    @Option(help: "Threads for parsing, state updates, features + encoder and state serialization (defaults to the core count).")
    var threads = WorkerConfiguration.defaultComputeThreads

    func validate() throws {
        guard maxPollRecords >= 1 else { throw ValidationError("--max-poll-records must be at least 1, got \(maxPollRecords)") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    /// Sets the cycle size and thread count of `config`.
    func apply(to config: inout WorkerConfiguration) {
        config.maxPollRecords = maxPollRecords
        config.computeThreads = threads
    }
}
