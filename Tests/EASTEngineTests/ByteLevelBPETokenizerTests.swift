import EASTCore
@testable import EASTEngine
import Foundation
import Testing

@Suite struct ByteLevelBPETokenizerTests {
    static let smollm = ByteLevelPreTokenizer(splitDigits: true)
    static let gpt2 = ByteLevelPreTokenizer(splitDigits: false)

    @Test func gpt2Split() {
        #expect(Self.gpt2.split("Hello world") == ["Hello", " world"])
        #expect(Self.gpt2.split("x  a") == ["x", " ", " a"])
        #expect(Self.gpt2.split("a  1") == ["a", " ", " 1"])
        #expect(Self.gpt2.split("x\n\n2") == ["x", "\n", "\n", "2"])
        #expect(Self.gpt2.split("end  ") == ["end", "  "])
        #expect(Self.gpt2.split(" \na") == [" ", "\n", "a"])
        #expect(Self.gpt2.split("don't we'll SHE'S") == ["don", "'t", " we", "'ll", " SHE", "'", "S"])
        #expect(Self.gpt2.split("f(x)=-1!") == ["f", "(", "x", ")=-", "1", "!"])
        #expect(Self.gpt2.split("Café 🙂👍") == ["Café", " 🙂👍"])
        #expect(Self.gpt2.split("12345 ab") == ["12345", " ab"])
    }

    @Test func smollmSplitsDigitsFirst() {
        #expect(Self.smollm.split("a  1") == ["a", "  ", "1"])
        #expect(Self.smollm.split("x\n\n2") == ["x", "\n\n", "2"])
        #expect(Self.smollm.split("12 + 3") == ["1", "2", " +", " ", "3"])
        #expect(Self.smollm.split("3.14") == ["3", ".", "1", "4"])
        for text in ["", " ", "a  1", "tabs\tand\r\n\n", "日本語 ½ x²", "  lead and trail  "] {
            #expect(Self.smollm.split(text).joined() == text)
        }
    }

    /// A vocabulary of all 256 byte characters plus "Ġa", "Ġab", "ab", specials at 256...
    static func tiny() -> ByteLevelBPETokenizer {
        var tokens: [String] = []
        for b in 0..<256 {
            tokens.append(ByteLevelBPETokenizer.tokenFor(byte: UInt8(b)))
        }
        tokens += ["<|im_start|>", "<|im_end|>", "Ġa", "ab", "Ġab"]
        var types = [Int](repeating: 1, count: tokens.count)
        types[256] = 3
        types[257] = 3
        return ByteLevelBPETokenizer(tokens: tokens, tokenTypes: types, merges: ["Ġ a", "a b", "Ġa b"],
                                     bosId: 256, eosId: 257, padId: 257, preName: "smollm")
    }

    @Test func encodesAndDecodes() throws {
        let t = Self.tiny()
        #expect(t.encode(" ab") == [260])
        #expect(t.encode("ab ab") == [259, 260])
        #expect(t.encode(" a") == [258])
        #expect(t.encode("<|im_start|>ab<|im_end|>") == [256, 259, 257])
        #expect(t.encode("<|im_start") == Array("<|im_start".utf8).map(Int.init))
        #expect(t.decode([256, 259, 257]) == "ab")  // control tokens left out
        #expect(t.tokenText(256) == "<|im_start|>")
        #expect(t.tokenText(260) == " ab")
        for text in ["é ab 🙂 x\n\n2", "a  1\t", "日本"] {
            #expect(t.decode(t.encode(text)) == text)
        }
    }

    @Test func savesAndLoadsTokenizerJSON() throws {
        let t = Self.tiny()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bpe-\(UUID().uuidString).json")
        try t.save(to: url)
        let back = try TokenizerFile.load(from: url)
        #expect(back as? ByteLevelBPETokenizer == t)
        #expect(back.encode("ab ab") == [259, 260])
    }

    @Test func chatTemplate() {
        let jinja = "{% if x %}{{ '<|im_start|>system\nBe brief.<|im_end|>\n' }}{% endif %}"
        let template = ChatTemplate(ggufTemplate: jinja)
        #expect(template.defaultSystem == "Be brief.")
        #expect(template.prompt(user: "hi") ==
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
        #expect(template.prompt(user: "hi", system: "S").hasPrefix("<|im_start|>system\nS<|im_end|>\n"))
        #expect(ChatTemplate(ggufTemplate: nil).defaultSystem == ChatTemplate.smolLM2System)
        let fromVariable = "{{ '<|im_start|>system\n' + message['content'] + '<|im_end|>\n' }}"
        #expect(ChatTemplate(ggufTemplate: fromVariable).defaultSystem == ChatTemplate.smolLM2System)
        #expect(ChatTemplate(ggufTemplate: "'<|im_start|>system\nYou're kind.<|im_end|>'").defaultSystem == "You're kind.")
    }

    /// The merge rule written plainly (rescan for the lowest-ranked pair,
    /// merge its every occurrence left to right): the reference the heap must equal.
    static func rescanning(_ start: [String], ranks: [String: Int]) -> [String] {
        var symbols = start
        while symbols.count > 1 {
            var best: (rank: Int, pair: (String, String))?
            for k in 0..<symbols.count - 1 {
                if let r = ranks[symbols[k] + " " + symbols[k + 1]], r < (best?.rank ?? .max) { best = (r, (symbols[k], symbols[k + 1])) }
            }
            guard let (_, pair) = best else { break }
            var merged: [String] = []
            var k = 0
            while k < symbols.count {
                if k + 1 < symbols.count, symbols[k] == pair.0, symbols[k + 1] == pair.1 {
                    merged.append(pair.0 + pair.1)
                    k += 2
                } else {
                    merged.append(symbols[k])
                    k += 1
                }
            }
            symbols = merged
        }
        return symbols
    }

    @Test func mergesAsTheRescanningRuleDoes() {
        // Merges over a three-letter alphabet, including overlapping ones (a a -> aa, aa a -> aaa).
        let merges = ["a a", "aa a", "b a", "a b", "ab a", "c c", "ba a", "aa b", "b b", "aaa b", "c a"]
        let ranks = Dictionary(uniqueKeysWithValues: merges.enumerated().map { ($1, $0) })
        var tokens = (0..<256).map { ByteLevelBPETokenizer.tokenFor(byte: UInt8($0)) }
        tokens += ["aa", "aaa", "ba", "ab", "aba", "cc", "baa", "aab", "bb", "aaab", "ca"]
        let t = ByteLevelBPETokenizer(tokens: tokens, tokenTypes: [Int](repeating: 1, count: tokens.count), merges: merges,
                                      bosId: 0, eosId: 0, padId: 0, preName: "smollm")
        var g = SeededGenerator(seed: 3)
        for _ in 0..<500 {
            let word = (0..<Int(g.next() % 40 + 1)).map { _ in ["a", "b", "c"][Int(g.next() % 3)] }
            #expect(t.mergePairs(word) == Self.rescanning(word, ranks: ranks), "\(word.joined())")
        }
    }

    /// A long word of random letters is one piece for Qwen2's pre-tokenizer:
    /// merging it by rescanning costs a pass over the piece per merge that
    /// applies (hundreds), so four times the letters took about sixteen times
    /// as long; with the heap it takes about four times (n log n). The check
    /// is the growth, best of three at each size, not a time. The result is
    /// still the rescanning rule's.
    @Test func longUnbrokenWordsEncodeInNearLinearTime() throws {
        let t = try Llama3Qwen2TokenizerTests.tokenizer("qwen2", "json")
        var g = SeededGenerator(seed: 11)
        let letters = Array("etaoinshrdlucmfwypvbgkjqxz")
        let word = String((0..<80_000).map { _ in letters[Int(g.next() % 7)] })
        func seconds(_ text: String) -> Double {
            (0..<3).map { _ in
                let start = DispatchTime.now().uptimeNanoseconds
                #expect(t.decode(t.encode(text)) == text)
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }.min()!
        }
        let (small, large) = (seconds(String(word.prefix(20_000))), seconds(word))
        #expect(large / small < 10, "20,000 letters in \(small) s, 80,000 in \(large) s")
        let short = String(word.prefix(2_000))
        let symbols = short.utf8.map { ByteLevelBPETokenizer.tokenFor(byte: $0) }
        #expect(t.mergePairs(symbols) == Self.rescanning(symbols, ranks: Dictionary(t.merges.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })))
    }
}
