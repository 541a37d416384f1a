@testable import EASTCore
import Testing

@Suite struct DatasetReaderTests {
    @Test func readsBothFormsAndIDs() throws {
        let content = """
            {"question": "2+2?", "answer": "2+2=<<2+2=4>>4\\n#### 4"}

            {"problem": "Half?", "solution": "It is $\\\\boxed{\\\\frac{1}{2}}$.", "id": "m-1"}
            {"question": "Q", "answer": "so \\\\boxed{\\\\{1,2\\\\}}", "idx": 17}
            {"question": "direct", "gold": "7"}
            """
        let result = try DatasetReader().read(content: content, file: "d.jsonl")
        #expect(result.questions.map(\.id) == ["line-1", "m-1", "17", "line-5"])
        #expect(result.questions.map(\.gold) == ["4", "\\frac{1}{2}", "\\{1,2\\}", "7"])
        #expect(result.questions[0].text == "2+2?")
    }

    @Test(arguments: [
        ("{\"question\": \"x\", \"answer\": \"no marker here\"}", "d.jsonl:2: no gold answer"),
        ("{\"question\": \"x\"", "d.jsonl:2: not valid JSON"),
        ("[1, 2]", "d.jsonl:2: expected a JSON object"),
        ("{\"answer\": \"#### 3\"}", "d.jsonl:2: missing field \"question\""),
        ("{\"question\": 5, \"answer\": \"#### 3\"}", "d.jsonl:2: field \"question\" must be a string"),
        ("{\"question\": \"x\", \"answer\": \"#### 3\", \"id\": 1.5}", "d.jsonl:2: field \"id\" must be"),
        ("{\"question\": \"x\", \"answer\": \"#### 3\", \"id\": \"a\"}", "d.jsonl:2: duplicate id \"a\" (first on line 1)"),
    ])
    func badLinesNameFileLineAndReason(bad: String, message: String) {
        let content = "{\"question\": \"ok\", \"answer\": \"#### 1\", \"id\": \"a\"}\n" + bad
        #expect {
            try DatasetReader().read(content: content, file: "d.jsonl")
        } throws: { error in
            String(describing: error).hasPrefix(message)
        }
    }

    @Test func skipBadCountsInsteadOfFailing() throws {
        let content = "{\"question\": \"a\", \"answer\": \"#### 1\"}\nnot json\n{\"question\": \"b\", \"answer\": \"#### 2\"}\n"
        let result = try DatasetReader(skipBad: true).read(content: content, file: "d.jsonl")
        #expect(result.questions.map(\.gold) == ["1", "2"])
        #expect(result.skipped.map(\.line) == [2])
    }
}

@Suite struct JSONTests {
    @Test func roundTripsWithKeyOrder() throws {
        let text = #"{"b":1,"a":[true,null,"x\"\n\u00e9\ud83d\ude00"],"c":{"d":-2.5}}"#
        let value = try JSON.parse(text)
        #expect(value["a"]?.arrayValue?[2] == .string("x\"\né😀"))
        #expect(value.text == #"{"b":1,"a":[true,null,"x\"\né😀"],"c":{"d":-2.5}}"#)
    }

    @Test(arguments: ["{", "[1,]", "{\"a\" 1}", "tru", "\"abc", "1 2", "{\"a\":\"\\ud800\"}", "-"])
    func rejectsMalformed(text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        #expect(throws: JSONParseError.self) { try JSON.parse(String(repeating: "[", count: 100_000)) }
    }
}
