import EASTFuzzTargets
import Foundation
import Testing

/// Every input the fuzzer kept (its minimized corpus) and every input that
/// once crashed, hung or over-allocated (Tests/Fixtures/fuzz/crashes, kept
/// with its fix) goes through its reader again: none may crash. The seeds
/// made from the code's own values must also be accepted, so the fuzzer
/// starts from inputs that reach deep into each reader.
@Suite struct FuzzReplayTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/fuzz")

    static func inputs(_ kind: String, _ target: FuzzTarget) -> [URL] {
        let dir = fixtures.appendingPathComponent(kind).appendingPathComponent(target.rawValue)
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted().map { dir.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func keptInputsGoThroughTheirReader(target: FuzzTarget) throws {
        for url in Self.inputs("crashes", target) + Self.inputs("corpus", target) {
            target.run(try Data(contentsOf: url))
        }
    }

    @Test func generatedSeedsAreAccepted() throws {
        #expect(FuzzTarget.specJSON.generatedSeeds.count == 5 && FuzzTarget.envelope.generatedSeeds.count == 5)
        for target in FuzzTarget.allCases { for seed in target.generatedSeeds { target.run(seed) } }
        #expect(FuzzTarget.envelope.acceptsAll(FuzzTarget.envelope.generatedSeeds))
        #expect(FuzzTarget.specJSON.acceptsAll(FuzzTarget.specJSON.generatedSeeds))
        #expect(FuzzTarget.specYAML.acceptsAll(FuzzTarget.specYAML.generatedSeeds))
        #expect(FuzzTarget.dataset.acceptsAll(FuzzTarget.dataset.generatedSeeds))
    }
}
