import EASTCore
@testable import EASTEngine
import Foundation
import Testing

@Suite struct WordTokenizerTests {
    static let corpus = ArithmeticTask.easy.problems(split: .pretrain, count: 300, seed: 1).flatMap { [$0.question, $0.solution] }
    static let tokenizer = WordTokenizer(corpus: corpus)

    @Test func splitsWordsDigitsAndPunctuation() {
        #expect(WordTokenizer.split("Mia has 12 apples.\n#### 7") == ["Mia", " has", " 1", "2", " apples", ".", "\n", "#", "#", "#", "#", " 7"])
        #expect(WordTokenizer.split("a  b") == ["a", " ", " b"])
    }

    @Test func roundTripsEveryTaskTextExactly() {
        let t = Self.tokenizer
        for problem in ArithmeticTask.hard.problems(split: .test, count: 200, seed: 2) {
            for text in [problem.question, problem.solution] {
                #expect(t.decode(t.encode(text)) == text)
            }
        }
        // A question is far shorter in tokens than in characters.
        let q = ArithmeticTask.easy.problems(split: .test, count: 1, seed: 3)[0].question
        #expect(t.encode(q).count * 3 < q.count)
    }

    @Test func unknownPiecesBecomeUnk() {
        let t = Self.tokenizer
        #expect(t.encode("zebra") == [t.unkId])
        #expect(t.decode(t.encode("Mia owns zebra")) == "Mia owns?")
    }

    @Test func savesAndLoadsThroughTokenizerFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("word-\(UUID().uuidString).json")
        try Self.tokenizer.save(to: url)
        let loaded = try TokenizerFile.load(from: url)
        #expect(loaded as? WordTokenizer == Self.tokenizer)
        try Data(#"{"type": "sentencepiece"}"#.utf8).write(to: url)
        #expect { try TokenizerFile.load(from: url) } throws: { String(describing: $0).contains("unknown tokenizer type \"sentencepiece\"") }
        try Data(#"{"type": "word", "pieces": ["a", "a"]}"#.utf8).write(to: url)
        #expect { try TokenizerFile.load(from: url) } throws: { String(describing: $0).contains("distinct") }
    }
}
