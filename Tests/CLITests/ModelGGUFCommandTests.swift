import EASTCore
import Foundation
import Testing

/// `east model ... --model FILE.gguf` on SmolLM2-135M-Instruct, through the
/// built binary. Skipped when models/smollm2 is absent (scripts/fetch-smollm2.sh).
@Suite struct ModelGGUFCommandTests {
    static let gguf = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf").path
    static var haveGGUF: Bool { FileManager.default.fileExists(atPath: gguf) }

    /// A greedy chat answer through the chat template, decoded on the
    /// integer path (8-bit activations): a prompt whose first ten tokens the
    /// Float32 path, the integer path on AVX2 and on AVX-512 VNNI agree on.
    /// ("What is the capital of France?" is not one: Float32 starts "The"
    /// at -1.88 over "L" at -1.96; the integer path, like llama.cpp on the
    /// same file, "L" at -1.89 over "The" at -2.08.)
    @Test(.enabled(if: haveGGUF, "models/smollm2 is absent"))
    func greedyChatAnswer() throws {
        let result = try EastProcess.run([
            "model", "generate", "--model", Self.gguf, "--chat", "--prompt", "What color is the sky on a clear day?",
            "--temperature", "0", "--max-tokens", "10", "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSON.parse(result.stdout)
        let sample = json["samples"]?.arrayValue?.first
        #expect(sample?["text"] == .string("The sky on a clear day is often described as"))
        #expect(sample?["stopped"] == .bool(false))
    }

    @Test(.enabled(if: haveGGUF, "models/smollm2 is absent"))
    func tokenizeAndInfo() throws {
        let tokens = try EastProcess.run(["model", "tokenize", "--model", Self.gguf, "--text", "a  1"])
        #expect(tokens.status == 0, "\(tokens.stderr)")
        #expect(tokens.stdout == "81,256,33\n")
        let info = try EastProcess.run(["model", "info", "--model", Self.gguf, "--json"])
        #expect(info.status == 0, "\(info.stderr)")
        #expect(try JSON.parse(info.stdout)["parameters"] == .number(134_515_008))
    }

    @Test func needsExactlyOneSource() throws {
        let neither = try EastProcess.run(["model", "info"])
        #expect(neither.status != 0)
        #expect(neither.stderr.contains("exactly one of --checkpoint DIR and --model FILE.gguf"))
        let missing = try EastProcess.run(["model", "info", "--model", "/nonexistent/m.gguf"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("/nonexistent/m.gguf: cannot read file"))
    }
}
