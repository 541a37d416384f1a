import EASTCluster
import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
import Foundation
import Yams

/// Every reader of outside input, as one function of bytes each: what the
/// fuzzer (`scripts/fuzz.sh`) drives and what the regression tests replay.
/// A reader may refuse its input with an error; it must not crash, hang or
/// allocate beyond its bounds.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case gguf, safetensors, config, tokenizer, dataset
    case specYAML = "spec-yaml", specJSON = "spec-json"
    case envelope, grader

    public func run(_ data: Data) {
        switch self {
        case .gguf:
            withFile(data, "model.gguf") { url in
                guard let file = try? GGUFFile(url: url) else { return }
                _ = try? GGUFModel.load(from: url)
                _ = try? ByteLevelBPETokenizer(gguf: file)
            }
        case .safetensors:
            withFile(data, "model.safetensors") { url in
                guard let file = try? SafeTensorsFile(url: url) else { return }
                var one: Float = 0
                for name in file.tensors.keys.sorted().prefix(8) { _ = try? file.read(name, shape: [1], into: &one) }
            }
        case .config:
            withFile(data, "config.json") { url in _ = try? LlamaConfigFile.read(from: url) }
        case .tokenizer:
            withFile(data, "tokenizer.json") { url in
                guard let tokenizer = try? Checkpoint.loadTokenizer(url, specials: .init(bos: 0, eos: 0, pad: 0)) else { return }
                _ = tokenizer.decode(tokenizer.encode("Hello 12, world: \\boxed{3}"))
            }
        case .dataset:
            _ = try? DatasetReader().read(content: String(decoding: data, as: UTF8.self), file: "fuzz.jsonl")
        case .specYAML:
            let text = String(decoding: data, as: UTF8.self)
            guard (try? ExperimentSpec.checkText(text, what: "fuzz")) != nil else { return }
            if let spec = try? YAMLDecoder().decode(ExperimentSpec.self, from: text) { _ = try? spec.validate() }
        case .specJSON:
            if let spec = try? JSONCoding.decode(ExperimentSpec.self, from: data, what: "fuzz") { _ = try? spec.validate() }
            if let spec = try? JSONCoding.decode(RunSpec.self, from: data, what: "fuzz") { _ = try? spec.validate() }
        case .envelope:
            let bytes = [UInt8](data)
            _ = try? Envelope<SampleJob>.header(bytes)
            if let m = try? Envelope<SampleJob>(bytes: bytes, expecting: SampleJob.type) { _ = try? m.body.validate() }
            if let m = try? Envelope<SampleResult>(bytes: bytes, expecting: SampleResult.type) { _ = try? m.body.validate() }
            if let m = try? Envelope<TrainBatch>(bytes: bytes, expecting: TrainBatch.type) { _ = try? m.body.validate() }
            if let m = try? Envelope<EvalShard>(bytes: bytes, expecting: EvalShard.type) { _ = try? m.body.validate() }
            if let m = try? Envelope<CheckpointReady>(bytes: bytes, expecting: CheckpointReady.type) { _ = try? m.body.validate() }
        case .grader:
            // Lines: the gold answer, then responses; graded and clustered as a sampler's question.
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            guard let gold = lines.first else { return }
            let responses = Array(lines.dropFirst().prefix(256))
            for r in responses { _ = Grader.grade(response: r, gold: gold) }
            _ = AnswerClustering.statistics(responses: responses, gold: gold)
        }
    }

    /// Whether every input is read without an error (for the readers whose
    /// seeds are made here: they must reach past the first check).
    public func acceptsAll(_ inputs: [Data]) -> Bool {
        inputs.allSatisfy { data in
            switch self {
            case .dataset: return (try? DatasetReader().read(content: String(decoding: data, as: UTF8.self), file: "seed")) != nil
            case .specYAML: return (try? YAMLDecoder().decode(ExperimentSpec.self, from: String(decoding: data, as: UTF8.self))) != nil
            case .specJSON:
                return (try? JSONCoding.decode(ExperimentSpec.self, from: data, what: "seed")) != nil
                    || (try? JSONCoding.decode(RunSpec.self, from: data, what: "seed")) != nil
            case .envelope:
                let bytes = [UInt8](data)
                return (try? Envelope<SampleJob>(bytes: bytes, expecting: SampleJob.type)) != nil
                    || (try? Envelope<SampleResult>(bytes: bytes, expecting: SampleResult.type)) != nil
                    || (try? Envelope<TrainBatch>(bytes: bytes, expecting: TrainBatch.type)) != nil
                    || (try? Envelope<EvalShard>(bytes: bytes, expecting: EvalShard.type)) != nil
                    || (try? Envelope<CheckpointReady>(bytes: bytes, expecting: CheckpointReady.type)) != nil
            default: return true
            }
        }
    }

    /// Inputs to start from, made from the code's own values (the file
    /// readers' seeds are the test fixtures, which scripts/fuzz.sh copies).
    public var generatedSeeds: [Data] {
        switch self {
        case .gguf, .safetensors, .config, .tokenizer: return []
        case .dataset:
            let task = ArithmeticTask.easy.problems(split: .test, count: 4, seed: 1)
            let rows = task.compactMap { try? JSONCoding.string($0.row(for: .test)) }
            return [rows.joined(separator: "\n"),
                    ##"{"question": "What is 1/2 + 1/4?", "answer": "We add: $\\frac{3}{4}$. The answer is: \\boxed{\\frac{3}{4}}"}"##,
                    "{\"idx\": 7, \"question\": \"Q\", \"answer\": \"#### 1,000\"}"].map { Data($0.utf8) }
        case .specYAML:
            return [Data("""
                name: tiny
                base: {checkpoint: models/arith-easy, task: arith-easy, train_count: 16, n: 4, epochs: 1}
                test: {task: arith-easy, count: 16, seed: 7}
                seeds: [1, 2]
                axes: {weighting: [entropy, lwp], a: [0.5, 1]}
                baseline: {weighting: uniform}
                primary: [{weighting: entropy, a: 1}]
                selection: {validation: {task: arith-easy, count: 12, seed: 11}, seeds: [1], grid: {sft: {learning_rate: [0.00001, 0.001]}}}
                """.utf8)]
        case .specJSON:
            return ExperimentSpec.presetNames.compactMap { ExperimentSpec.preset($0).flatMap { try? JSONCoding.encode($0) } }
                + [(try? JSONCoding.encode(RunSpec.defaults)) ?? Data()]
        case .envelope:
            let question = #"{"id":"q1","text":"Mia has 3 apples.","gold":"3"}"#
            let job = #"{"iteration":1,"version":0,"questions":[\#(question)]}"#
            let samples = #"{"question_id":"q1","responses":["The answer is 3","The answer is 4"],"mean_log_probs":[-0.5,-1],"token_counts":[3,3]}"#
            let item = #"{"question":"Mia has 3 apples.","example":{"kind":"dpo","id":"q1","chosen":"The answer is 3","rejected":"The answer is 4","weight":1.2}}"#
            let digest = SHA256.hex("fuzz")
            let bodies = [("sample_job", job), ("sample_result", #"{"job":\#(job),"samples":[\#(samples)],"sampler":"s"}"#),
                          ("train_batch", #"{"iteration":1,"version":0,"index":0,"count":1,"items":[\#(item)]}"#),
                          ("eval_shard", #"{"version":1,"manifest":"\#(digest)","shard":0,"shards":1,"start":0,"count":4}"#),
                          ("checkpoint_ready", #"{"version":1,"manifest":"\#(digest)"}"#)]
            return bodies.map { type, body in Data(#"{"schema":1,"type":"\#(type)","run":"r","body":\#(body)}"#.utf8) }
        case .grader:
            return ["5\nso \\boxed{5}\n#### 5\nthe answer is 6\nno idea", "\\frac{1}{2}\n0.5\n50%\n\\{1, 2\\}\nx = 1/2",
                    "(-\\infty, 1) \\cup (2, \\infty)\n[1, 2)\n1 < x \\le 2\n2x+4y-3=0\ny=-x/2+3/4"].map { Data($0.utf8) }
        }
    }

    /// The readers of files take a path: the bytes go to a file of their own
    /// (in /dev/shm where there is one, so as not to wear a disk).
    private func withFile(_ data: Data, _ name: String, _ body: (URL) -> Void) {
        let root = FileManager.default.fileExists(atPath: "/dev/shm") ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory
        let dir = root.appendingPathComponent("east-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: url.path, contents: data) else { return }
        body(url)
        try? FileManager.default.removeItem(at: url)
    }
}
