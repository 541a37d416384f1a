import EASTCommandLine
import Foundation
import Testing

/// Bad input ends in a clear error naming the file, field or flag and exit
/// code 1 (2 for a flag ArgumentParser refuses), or in a correct result by a
/// stated rule: never a crash, a hang or a silent wrong answer. Each case was
/// a crash, a hang or a silent acceptance with the release build.
@Suite struct HostileInputTests {
    static let backbone = EastProcess.root.appendingPathComponent("models/arith-easy")
    static let math500 = EastProcess.root.deletingLastPathComponent().appendingPathComponent("shared/datasets/math500/test.jsonl")

    /// A copy of the embedded backbone whose config.json has `edit` applied.
    static func backboneWith(config edit: (String) -> String) throws -> URL {
        let dir = try EastProcess.temporaryDirectory().appendingPathComponent("model")
        try FileManager.default.copyItem(at: backbone, to: dir)
        let config = dir.appendingPathComponent("config.json")
        try edit(try String(contentsOf: config, encoding: .utf8)).write(to: config, atomically: true, encoding: .utf8)
        return dir
    }

    /// MATH500 questions are longer than the embedded model's window: they are
    /// answered empty (wrong) and the run says so, instead of a precondition failure.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: math500.path), "../shared/datasets/math500 is not beside the project"))
    func questionsLongerThanTheWindowAreAnsweredEmpty() throws {
        let result = try EastProcess.run(["eval", "--checkpoint", Self.backbone.path, "--file", Self.math500.path, "--count", "8",
                                          "--max-tokens", "1"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("greedy accuracy 0.0% (0/8)"), "\(result.stdout)")
    }

    @Test(arguments: [
        ("\"num_hidden_layers\" : 4", "\"num_hidden_layers\" : 1000000000", "config.json: invalid model config: layers 1000000000 is beyond"),
        ("\"hidden_size\" : 128", "\"hidden_size\" : 1000000000000", "config.json: invalid model config: dim 1000000000000 is beyond"),
        ("\"vocab_size\" : 176", "\"vocab_size\" : 1000000000000", "config.json: invalid model config: vocabSize 1000000000000 is beyond"),
        ("\"max_position_embeddings\" : 256", "\"max_position_embeddings\" : 4611686018427387904", "config.json: invalid model config: maxSeqLen 4611686018427387904"),
        // More layers than the weights hold: named before the model's size is allocated.
        ("\"num_hidden_layers\" : 4", "\"num_hidden_layers\" : 200", "model.safetensors: missing tensor model.layers.4"),
    ])
    func modelHeadersAreBoundedBeforeTheyAllocate(original: String, replacement: String, message: String) throws {
        let model = try Self.backboneWith { text in
            #expect(text.contains(original), "the backbone's config.json has no \(original)")
            return text.replacingOccurrences(of: original, with: replacement)
        }
        let result = try EastProcess.run(["model", "info", "--checkpoint", model.path])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test func nonFiniteWeightsAreRefusedAtLoad() throws {
        let model = try Self.backboneWith { $0 }
        // The first weight of the embedding (data starts after the 8-byte length and the header) becomes NaN.
        let file = model.appendingPathComponent("model.safetensors")
        var bytes = try Data(contentsOf: file)
        let headerLength = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let nan = Float.nan.bitPattern.littleEndian
        withUnsafeBytes(of: nan) { bytes.replaceSubrange((8 + headerLength)..<(12 + headerLength), with: $0) }
        try bytes.write(to: file)
        let result = try EastProcess.run(["eval", "--checkpoint", model.path, "--count", "2"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("non-finite value") && result.stderr.contains("model.embed_tokens.weight"), "\(result.stderr)")
    }

    @Test func aTokenizerThatCannotBeUsedIsAnError() throws {
        let model = try Self.backboneWith { $0 }
        let tokenizer = model.appendingPathComponent("tokenizer.json")
        try #"{"model": {"type": "Unigram", "vocab": []}}"#.write(to: tokenizer, atomically: true, encoding: .utf8)
        let unigram = try EastProcess.run(["model", "info", "--checkpoint", model.path])
        #expect(unigram.status == 1 && unigram.stderr.contains("tokenizer.json") && unigram.stderr.contains("Unigram"), "\(unigram.stderr)")
        try #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}, "added_tokens": [{"id": -1, "content": "x"}]}"#
            .write(to: tokenizer, atomically: true, encoding: .utf8)
        let negative = try EastProcess.run(["model", "info", "--checkpoint", model.path])
        #expect(negative.status == 1 && negative.stderr.contains("added_tokens[0] needs an id"), "\(negative.stderr)")
        try "{not json".write(to: tokenizer, atomically: true, encoding: .utf8)
        let broken = try EastProcess.run(["model", "info", "--checkpoint", model.path])
        #expect(broken.status == 1 && broken.stderr.contains("tokenizer.json: not JSON"), "\(broken.stderr)")
    }

    /// A spec nested 30,000 brackets deep overflowed the YAML parser's stack
    /// (a segmentation fault); one with an alias could expand without bound.
    /// Both are refused, naming the file and line, before the parser runs; a
    /// spec that is not YAML names where the parser stopped.
    @Test func specsAreBoundedBeforeTheParserSeesThem() throws {
        let dir = try EastProcess.temporaryDirectory()
        func refused(_ text: String, _ message: String) throws {
            let spec = dir.appendingPathComponent("spec.yaml")
            try text.write(to: spec, atomically: true, encoding: .utf8)
            let result = try EastProcess.run(["experiment", "--spec", spec.path, "--report-only", "--out", dir.appendingPathComponent("out").path])
            #expect(result.status == 1 && result.stderr.contains(spec.path + ": " + message), "\(result.stderr)")
        }
        try refused("name: deep\nseeds: " + String(repeating: "[", count: 30_000), "line 2: nested deeper than 64 brackets")
        try refused("name: x\nbase: &b {n: 4}\ntest: *b\n", "line 3: YAML aliases (*name) are not supported in a spec")
        try refused("name: x\nbase: {n: [4}\n", "not YAML or JSON: 2:")
        try refused("- 1\n- 2\n", "the top level must be an object (keys and values)")
        // A report rewrite of a folder that holds no experiment reads only: nothing is written there.
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out").path))
    }

    /// config.json that is not JSON says where, as tokenizer.json does.
    @Test func aConfigThatIsNotJSONNamesTheColumn() throws {
        let model = try Self.backboneWith { _ in #"{"vocab_size": 176,, }"# }
        let result = try EastProcess.run(["model", "info", "--checkpoint", model.path])
        #expect(result.status == 1 && result.stderr.contains("config.json: not JSON (column 20"), "\(result.stderr)")
    }

    /// A damaged file's bytes in an error message (a tensor name with NUL
    /// bytes in it) reach the terminal as escapes, not as control characters.
    @Test func errorMessagesEscapeControlCharacters() {
        #expect(printable("offset of blk\u{0}\u{1B}[2Jq.bias") == "offset of blk\\u{0}\\u{1b}[2Jq.bias")
        #expect(printable("two\nlines\tand a tab, é") == "two\nlines\tand a tab, é")
    }

    @Test func runIdsCannotLeaveTheReportFolder() throws {
        let dir = try EastProcess.temporaryDirectory()
        let result = try EastProcess.run(["selftrain", "--inprocess", "--run-id", "../../x", "--report", dir.path, "--train-count", "4"])
        #expect(result.status == 1 && result.stderr.contains("--run-id \"../../x\" must be"), "\(result.stderr)")
    }

    @Test(arguments: [
        (["model", "init", "--out", "/tmp/east-never", "--dim=-1"], "must be positive"),
        (["model", "init", "--out", "/tmp/east-never", "--layers", "1000000000"], "layers 1000000000 is beyond"),
        (["eval", "--checkpoint", "models/arith-easy", "--count", "1000000000"], "--count must be from 1 to 100000"),
        (["eval", "--checkpoint", "models/arith-easy", "--n", "100000"], "--n must be from 2 to 1024"),
        (["eval", "--checkpoint", "models/arith-easy", "--threads", "100000"], "--threads must be from 1 to 256"),
        (["selftrain", "--inprocess", "--n", "100000"], "n must be at most 1024"),
        (["selftrain", "--inprocess", "--train-count", "1000000000"], "train.count must be from 1 to 100000"),
        (["selftrain", "--inprocess", "--learning-rate", "5"], "learning_rate must be in (0, 1)"),
    ])
    func flagsAreRangeChecked(arguments: [String], message: String) throws {
        let result = try EastProcess.run(arguments)
        #expect(result.status != 0)
        #expect((result.stderr + result.stdout).contains(message), "\(result.stderr)")
    }
}
