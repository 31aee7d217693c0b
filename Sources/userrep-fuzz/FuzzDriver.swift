// The fuzz driver: libFuzzer's entry point when built by Tests/fuzz/run.sh (-D FUZZING), else a seed writer and replayer.
import Foundation
import UserRepTesting

#if FUZZING
    /// The target libFuzzer runs, from `USERREP_FUZZ_TARGET`.
    let fuzzTarget = FuzzTarget(rawValue: ProcessInfo.processInfo.environment["USERREP_FUZZ_TARGET"] ?? "") ?? .listen

    /// libFuzzer's entry point: one input through the chosen target.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        fuzzTarget.run(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }

    /// libFuzzer's driver, which its own `main` would call.
    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    /// SwiftPM links an executable's `main` to this symbol, so it hands over to libFuzzer's driver.
    @_cdecl("userrep_fuzz_main")
    public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var count = argc
        var vector = argv
        return runFuzzerDriver(&count, &vector, fuzzOneInput)
    }
#else
    /// `userrep-fuzz --write-seeds DIR` writes each target's seeds to DIR/TARGET/ (the fuzz corpus's
    /// start); `userrep-fuzz TARGET FILE...` runs each file through TARGET (to reproduce a crash).
    @main
    struct FuzzDriver {
        static func main() throws {
            let args = Array(CommandLine.arguments.dropFirst())
            if args.first == "--write-seeds", args.count == 2 {
                for target in FuzzTarget.allCases {
                    let folder = URL(fileURLWithPath: args[1]).appendingPathComponent(target.rawValue)
                    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                    for (i, seed) in try target.seeds().enumerated() {
                        try Data(seed).write(to: folder.appendingPathComponent("seed-\(i)"))
                    }
                }
                return
            }
            guard let name = args.first, let target = FuzzTarget(rawValue: name) else {
                FileHandle.standardError.write(
                    Data(
                        "usage: userrep-fuzz --write-seeds DIR | userrep-fuzz TARGET FILE...  (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))\n"
                            .utf8))
                exit(64)
            }
            for path in args.dropFirst() {
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                _ = data.withUnsafeBytes { target.run($0) }
                print("\(path): ok")
            }
        }
    }
#endif
