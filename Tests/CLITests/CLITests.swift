import EASTCore
import Foundation
import Testing

/// `east grade` and `east weights` end to end, through the built binary.
@Suite struct CoreCommandTests {
    func write(_ lines: [String], in dir: URL, name: String = "in.jsonl") throws -> String {
        let path = dir.appendingPathComponent(name).path
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func gradeWritesOneLinePerResponse() throws {
        let dir = try EastProcess.temporaryDirectory()
        let input = try write([
            #####"{"response": "so $\\boxed{\\dfrac{1}{2}}$", "gold": "0.5"}"#####,
            #####"{"response": "#### 1,000", "gold": "1000"}"#####,
            #####"{"response": "I give up", "gold": "3"}"#####,
            #####"{"response": "the answer is 4", "gold": "5"}"#####,
        ], in: dir)
        let result = try EastProcess.run(["grade", "--input", input])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = try result.stdout.split(separator: "\n").map { try JSON.parse(String($0)) }
        #expect(lines.count == 4)
        #expect(lines.map { $0["correct"] } == [.bool(true), .bool(true), .bool(false), .bool(false)])
        #expect(lines[0]["extracted"] == .string("\\dfrac{1}{2}"))
        #expect(lines[0]["normalized"] == .string("\\frac{1}{2}"))
        #expect(lines[2]["extracted"] == .null)
    }

    @Test func weightsMatchesTheLibraryAndSummarises() throws {
        let dir = try EastProcess.temporaryDirectory()
        let input = try write([
            #####"{"id": "a", "gold": "5", "responses": ["\\boxed{5}", "#### 5", "the answer is 6", "no idea"]}"#####,
            #####"{"id": "b", "gold": "2", "responses": ["#### 2", "#### 2"]}"#####,
            #####"{"id": 3, "gold": "7", "responses": ["#### 7", "#### 8"]}"#####,
        ], in: dir)
        let output = dir.appendingPathComponent("out.jsonl").path
        let examples = dir.appendingPathComponent("ex.jsonl").path
        let result = try EastProcess.run([
            "weights", "--input", input, "--output", output, "--strategy", "entropy", "--a", "2",
            "--examples", examples, "--loss", "dpo", "--seed", "3",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("kept 2, dropped all-right 1, dropped all-wrong 0"))
        let rows = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map { try JSON.parse(String($0)) }
        #expect(rows.map { $0["id"] } == [.string("a"), .string("b"), .string("3")])
        #expect(rows[1]["weight"] == .null && rows[1]["kept"] == .bool(false))
        let ha = -(0.5 * log(0.5) + 0.5 * log(0.25)), hc = log(2.0)
        let wa = 2 * ha * ha / (ha * ha + hc * hc)
        #expect(abs((rows[0]["weight"]?.numberValue ?? 0) - wa) < 1e-12)
        #expect(rows[0]["clusters"]?.arrayValue?.count == 3)
        let pairs = try String(contentsOfFile: examples, encoding: .utf8).split(separator: "\n").map { try JSON.parse(String($0)) }
        #expect(pairs.map { $0["id"] } == [.string("a"), .string("3")])
        #expect(pairs[0]["rejected"] == .string("the answer is 6"))
    }

    @Test(arguments: [
        (["grade"], #####"{"response": "x"}"#####, "in.jsonl:2: field \"gold\""),
        (["weights"], #####"{"id": "z", "gold": "1", "responses": []}"#####, "in.jsonl:2: field \"responses\""),
        (["weights"], #####"{"id": "z", "gold": "1", "responses": ["1"]"#####, "in.jsonl:2: not valid JSON"),
    ])
    func badLineExitsOneAndWritesNothing(command: [String], bad: String, message: String) throws {
        let dir = try EastProcess.temporaryDirectory()
        let good = command == ["grade"]
            ? #####"{"response": "#### 1", "gold": "1"}"##### : #####"{"id": "y", "gold": "1", "responses": ["1", "2"]}"#####
        let input = try write([good, bad], in: dir)
        let output = dir.appendingPathComponent("out.jsonl").path
        let result = try EastProcess.run(command + ["--input", input, "--output", output])
        #expect(result.status == 1)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test func impossibleSettingsAreClearErrors() throws {
        let dir = try EastProcess.temporaryDirectory()
        let allRight = try write([#####"{"id": "a", "gold": "1", "responses": ["1", "1"]}"#####], in: dir, name: "right.jsonl")
        var result = try EastProcess.run(["weights", "--input", allRight])
        #expect(result.status == 1)
        #expect(result.stderr.contains("no question had both right and wrong answers"))
        let mixed = try write([
            #####"{"id": "a", "gold": "1", "responses": ["1", "2"]}"#####,
            #####"{"id": "b", "gold": "1", "responses": ["1", "2", "3", "4"]}"#####,
            #####"{"id": "c", "gold": "1", "responses": ["1", "2", "2", "2"]}"#####,
        ], in: dir, name: "mixed.jsonl")
        result = try EastProcess.run(["weights", "--input", mixed, "--mapping", "linear", "--range", "50"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("range must be at most"))
        result = try EastProcess.run(["weights", "--input", dir.appendingPathComponent("missing.jsonl").path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("missing.jsonl:0: cannot read the file"))
    }
}

@Suite struct DataCommandTests {
    @Test func generateWritesReadableJSONL() throws {
        let dir = try EastProcess.temporaryDirectory()
        let path = dir.appendingPathComponent("train.jsonl").path
        let result = try EastProcess.run(["data", "generate", "--task", "arith-hard", "--split", "test", "--count", "25", "--seed", "2", "--output", path])
        #expect(result.status == 0, "\(result.stderr)")
        let questions = try DatasetReader().read(file: path).questions
        #expect(questions.count == 25)
        let again = try EastProcess.run(["data", "generate", "--task", "arith-hard", "--split", "test", "--count", "25", "--seed", "2"])
        #expect(again.stdout == (try String(contentsOfFile: path, encoding: .utf8)))
    }

    @Test func badSettingsAreRefused() throws {
        let bad = try EastProcess.run(["data", "generate", "--task", "arith-medium"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("arith-medium"))
        let zero = try EastProcess.run(["data", "generate", "--count", "0"])
        #expect(zero.status != 0)
        #expect(zero.stderr.contains("--count must be between"))
    }
}
