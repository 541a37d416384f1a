import EASTFuzzTargets
import Foundation

// Built with `-sanitize=fuzzer,address -DFUZZING` (scripts/fuzz.sh), the entry
// point hands over to libFuzzer, which calls the target once per input; the
// target comes from EAST_FUZZ_TARGET. Built plainly, `east-fuzz TARGET FILE...` replays inputs
// (a corpus, a crash) through the same function.

#if FUZZING
private let target: FuzzTarget = {
    guard let name = ProcessInfo.processInfo.environment["EAST_FUZZ_TARGET"], let target = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data("set EAST_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
        exit(2)
    }
    return target
}()

/// libFuzzer's entry for a program that has its own `main` (SwiftPM names an
/// executable's entry point after its module).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@_cdecl("east_fuzz_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var (count, arguments) = (argc, argv)
    return runFuzzerDriver(&count, &arguments) { bytes, size in
        target.run(bytes.map { Data(bytes: $0, count: size) } ?? Data())
        return 0
    }
}
#else
@main
struct FuzzReplay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.first == "seeds", let folder = arguments.dropFirst().first {  // east-fuzz seeds DIR: the generated seeds
            for target in FuzzTarget.allCases {
                let dir = URL(fileURLWithPath: folder).appendingPathComponent(target.rawValue)
                try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                for (i, seed) in target.generatedSeeds.enumerated() {
                    FileManager.default.createFile(atPath: dir.appendingPathComponent("seed-\(i)").path, contents: seed)
                }
            }
            return
        }
        if arguments.first == "mutate" {  // east-fuzz mutate binary|text SEED COUNT DIR FILE...: COUNT mutants of the files
            mutate(Array(arguments.dropFirst()))
            return
        }
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
            print("usage: east-fuzz TARGET FILE... | east-fuzz seeds DIR | east-fuzz mutate binary|text SEED COUNT DIR FILE...   "
                  + "(TARGET: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
            exit(2)
        }
        for path in arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("east-fuzz: cannot read \(path)")
                exit(1)
            }
            target.run(data)
        }
        print("\(arguments.count - 1) input(s) through \(name): no crash")
    }

    /// COUNT mutants, mutant i of file i % files, as DIR/mutant-i (keeping the file's extension).
    static func mutate(_ arguments: [String]) {
        guard arguments.count >= 5, let kind = Mutator.Kind(rawValue: arguments[0]), let seed = UInt64(arguments[1]),
              let count = Int(arguments[2]), (1...100_000).contains(count) else {
            print("usage: east-fuzz mutate binary|text SEED COUNT(1-100000) DIR FILE...")
            exit(2)
        }
        let dir = URL(fileURLWithPath: arguments[3])
        let files = arguments.dropFirst(4).map { URL(fileURLWithPath: $0) }
        let originals = files.map { FileManager.default.contents(atPath: $0.path) }
        if let missing = zip(files, originals).first(where: { $0.1 == nil }) {
            print("east-fuzz: cannot read \(missing.0.path)")
            exit(1)
        }
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var mutator = Mutator(seed: seed)
        for i in 0..<count {
            let source = files[i % files.count]
            let name = "mutant-\(i)" + (source.pathExtension.isEmpty ? "" : "." + source.pathExtension)
            FileManager.default.createFile(atPath: dir.appendingPathComponent(name).path, contents: mutator.mutate(originals[i % files.count]!, as: kind))
        }
    }
}
#endif
