// Process-wide settings applied before any command runs.
import Foundation
import UserRepModel
#if canImport(Glibc)
    import CMalloc
#endif

/// Tunes the C allocator and OpenBLAS for a worker that runs one batch after another.
enum ProcessTuning {
    /// Applies every setting below.
    static func apply() {
        useTheCPUsBLASKernels()
        recycleLargeAllocations()
        singleThreadedBLAS()
    }

    /// Restarts the process once with `OPENBLAS_CORETYPE` set when OpenBLAS fell back to its
    /// SSE3 (`Prescott`) kernels on a CPU with AVX2 or AVX-512.
    ///
    /// OpenBLAS picks its kernels when the library loads, before `main`, from the CPU model; on a
    /// model it does not know (this VM's) it falls back to Prescott, although the CPU flags list
    /// AVX-512. Measured on that VM, one training epoch of 50k × 702 features: Prescott 16.2 s,
    /// Haswell 8.1 s, SkylakeX 7.4 s. An `OPENBLAS_CORETYPE` already set is respected.
    static func useTheCPUsBLASKernels() {
        #if os(Linux)
            let env = ProcessInfo.processInfo.environment
            guard env["OPENBLAS_CORETYPE"] == nil, BLASMatrix.coreName.lowercased() == "prescott",
                let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
                let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
            else { return }
            let flags = Set(flagsLine.split(separator: " ").map(String.init))
            let core: String
            if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]) {
                core = "SkylakeX"
            } else if flags.isSuperset(of: ["avx2", "fma"]) {
                core = "Haswell"
            } else {
                return
            }
            setenv("OPENBLAS_CORETYPE", core, 1)
            // Same image, arguments and (amended) environment; on failure just carry on.
            let args = CommandLine.arguments.map { strdup($0) } + [nil]
            execv("/proc/self/exe", args)
        #endif
    }

    /// Runs GEMMs on one thread unless `OPENBLAS_NUM_THREADS` says otherwise.
    ///
    /// Between two GEMMs OpenBLAS's helper threads spin on `sched_yield`, taking a core from the
    /// Kafka client threads (and, in `demo` and `bench`, the embedded brokers). Measured on two
    /// cores, three interleaved runs each: p99 at 5k events/s 197–387 → 142–197 ms, backlog
    /// 31–47k → 32–43k events/s (within noise) with 10–15% less CPU, although the encoder alone
    /// drops from about 70k to 50k users/s. With spare cores, set `OPENBLAS_NUM_THREADS`.
    static func singleThreadedBLAS() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] == nil else { return }
        BLASMatrix.setThreads(1)
    }

    /// Keeps large allocations in the heap, and freed memory in the process, instead of
    /// returning it to the kernel after every cycle.
    ///
    /// By default glibc serves allocations above a (moving) threshold with fresh `mmap`s and
    /// returns them on free, and gives the free top of each heap back once it exceeds 128 KiB. So
    /// every cycle's feature matrices, and every compression context librdkafka's broker threads
    /// create per produce request, were page-faulted in anew. With both thresholds at 256 MiB the
    /// memory is recycled. Measured on the 500k-listen benchmark: the mmap threshold took the
    /// changelog stage from 2.8–9.2 s to 1.7–1.9 s; the trim threshold then took page faults from
    /// 2.05M to 0.43M and CPU from 27.3 to 20.9 s, 49k → 64k events/s.
    static func recycleLargeAllocations() {
        #if canImport(Glibc)
            _ = mallopt(M_MMAP_THRESHOLD, 256 << 20)
            _ = mallopt(M_TRIM_THRESHOLD, 256 << 20)
            // Two arenas, not glibc's eight per core: each arena keeps its own freed memory (up to
            // the trim threshold above), so the worker's, RocksDB's and librdkafka's threads held
            // several copies of a cycle's peak. Measured on the 2M-listen/100k-user/200k-track
            // backlog (`run --stop-when-caught-up`, 128 partitions): peak RSS 2.14–2.25 GB in three
            // runs with glibc's default, 1.74–2.04 GB in five with two arenas, at the same CPU
            // (37–41 s); the spread between runs is wide, so the gain is about 0.3 GB.
            if ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil { _ = mallopt(M_ARENA_MAX, 2) }
        #endif
    }

    /// Returns the free memory of every heap arena to the kernel: `run` and `backfill` call it
    /// after each cycle.
    ///
    /// The trim threshold above keeps up to 256 MiB of freed memory per arena, so a cycle's
    /// buffers (feature matrices, serialized states, RocksDB's write batch, librdkafka's produce
    /// queue) stayed resident after the cycle, on top of the next cycle's. Measured on the
    /// 2M-listen/100k-user/200k-track backlog (`run --stop-when-caught-up`, 128 partitions,
    /// release, runs interleaved): peak RSS 1.70–2.24 GB in three runs without, 1.65–1.70 GB in
    /// three with; CPU 67–81 s without, 75–82 s with (within the noise); minor page faults
    /// 0.4–0.55M without, 1.0–1.1M with. Within a cycle memory is still recycled.
    @Sendable static func returnFreedMemory() {
        #if canImport(Glibc)
            _ = malloc_trim(0)
        #endif
    }
}
