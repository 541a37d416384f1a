import EASTCore
import EASTEngine
import Foundation

/// Samples kept by content address, so that runs sharing a policy sample
/// once. A question's samples are a function of the policy's content, the
/// question, its sampling seed, the sampling settings and the kernel path
/// (`SampleKey`): at an experiment's first iteration every weighting of a
/// seed samples the same start policy with the same seeds, so all but the
/// first find their samples here. Greedy answers (n = 1, temperature 0) are
/// kept the same way, so every run of an experiment evaluates its start
/// policy once. Responses are kept, not verdicts: grading runs again.
public protocol SampleStore: AnyObject {
    /// The samples stored under each key, nil where none are.
    func load(_ keys: [String]) throws -> [QuestionSamples?]
    func save(_ entries: [(key: String, samples: QuestionSamples)]) throws
}

/// The content address of one question's samples.
public enum SampleKey {
    /// Sampling: `seed` is the question's own (`SamplingStage.seed`).
    public static func sampled(policy: String, question: Question, seed: UInt64, settings: SamplingSettings) -> String {
        make(["sampled", policy, DecodeKernels.path, question.id, question.text, String(seed), String(settings.n),
              settings.temperature.description, settings.topP.description, String(settings.maxNewTokens)])
    }

    /// A greedy answer.
    public static func greedy(policy: String, question: Question, maxNewTokens: Int) -> String {
        make(["greedy", policy, DecodeKernels.path, question.id, question.text, String(maxNewTokens)])
    }

    private static func make(_ parts: [String]) -> String {
        // Each part's length first, so no two lists of parts hash alike.
        SHA256.hex(parts.map { "\($0.utf8.count):\($0)" }.joined())
    }
}

/// A folder of samples, one JSON file a key in a folder named by its first
/// two hex digits (`ab/abcd....json`), written atomically: several processes
/// (an experiment's in-process runs) can share one.
public final class FolderSampleStore: SampleStore {
    public let folder: URL

    public init(folder: URL) {
        self.folder = folder
    }

    func file(_ key: String) -> URL {
        folder.appendingPathComponent(String(key.prefix(2))).appendingPathComponent(key + ".json")
    }

    public func load(_ keys: [String]) throws -> [QuestionSamples?] {
        try keys.map { key in
            guard let data = FileManager.default.contents(atPath: file(key).path) else { return nil }
            return try JSONCoding.decode(QuestionSamples.self, from: data, what: file(key).path)
        }
    }

    public func save(_ entries: [(key: String, samples: QuestionSamples)]) throws {
        for (key, samples) in entries {
            let url = file(key)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try AtomicFile.write(try JSONCoding.encode(samples), to: url)
        }
    }
}
