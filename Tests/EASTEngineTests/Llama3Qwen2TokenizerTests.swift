import EASTCore
import EASTEngine
import Foundation
import Testing

/// Llama 3's "llama-bpe" and Qwen2's "qwen2" byte-level BPE against the
/// `tokenizers` package: small vocabularies trained with each model's
/// settings, from tokenizer.json and from GGUF metadata, on hard strings
/// (.fixtures/, written by scripts/parity/bpe_tokenizer_reference.py).
@Suite struct Llama3Qwen2TokenizerTests {
    struct Case: Decodable { let text: String; let ids: [Int] }
    struct Family: Decodable { let vocab_size: Int; let specials: [String: Int]; let cases: [Case] }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(".fixtures")
    static let references: [String: Family] = try! JSONDecoder().decode(
        [String: Family].self, from: Data(contentsOf: fixtures.appendingPathComponent("bpe_tokenizer_parity.json")))

    static func tokenizer(_ family: String, _ format: String) throws -> ByteLevelBPETokenizer {
        let specials = try #require(references[family]).specials
        if format == "gguf" {
            return try #require(try ByteLevelBPETokenizer(gguf: GGUFFile(url: fixtures.appendingPathComponent("\(family)-tokenizer.gguf"))))
        }
        let url = fixtures.appendingPathComponent("\(family)-tokenizer.json")
        let json = try JSON.parse(String(decoding: Data(contentsOf: url), as: UTF8.self))
        let (bos, eos) = family == "llama3" ? (specials["<|begin_of_text|>"]!, specials["<|eot_id|>"]!)
            : (specials["<|endoftext|>"]!, specials["<|im_end|>"]!)
        return try ByteLevelBPETokenizer(huggingFace: json, file: url, specials: .init(bos: bos, eos: eos, pad: eos))
    }

    @Test(arguments: [("llama3", "json"), ("llama3", "gguf"), ("qwen2", "json"), ("qwen2", "gguf")])
    func idsMatchTokenizers(family: String, format: String) throws {
        let reference = try #require(Self.references[family])
        let tokenizer = try Self.tokenizer(family, format)
        #expect(tokenizer.preName == (family == "llama3" ? "llama-bpe" : "qwen2"))
        #expect(tokenizer.vocabSize == reference.vocab_size)
        #expect(reference.cases.count >= 20)
        for c in reference.cases {
            #expect(tokenizer.encode(c.text) == c.ids, "\(family) \(format): \(c.text.debugDescription)")
        }
        for (text, id) in reference.specials { #expect(tokenizer.id(of: text) == id) }
    }

    @Test func llama3KeepsUpToThreeDigitsQwen2One() {
        let llama = ByteLevelPreTokenizer(preName: "llama-bpe"), qwen = ByteLevelPreTokenizer(preName: "qwen2")
        #expect(llama.split("a 1234567") == ["a", " ", "123", "456", "7"])
        #expect(qwen.split("a 1234") == ["a", " ", "1", "2", "3", "4"])
        #expect(llama.split("$x don'T\n\n  y") == ["$x", " don", "'T", "\n\n", " ", " y"])
        #expect(llama.split("x...\n\nz") == ["x", "...\n\n", "z"])
        for text in ["", " ", "a  1", "tabs\tand\r\n\n", "日本語 ½ x²", "  lead and trail  "] {
            #expect(llama.split(text).joined() == text && qwen.split(text).joined() == text)
        }
    }

    @Test func unsupportedPreTokenizersAreNamed() throws {
        let url = URL(fileURLWithPath: "/tmp/tokenizer.json")
        let json = try JSON.parse(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Metaspace"}}"#)
        #expect { try ByteLevelBPETokenizer(huggingFace: json, file: url, specials: .init(bos: 0, eos: 0, pad: 0)) } throws: { e in
            "\(e)".contains("pre_tokenizer Metaspace is not supported")
        }
        let unigram = try JSON.parse(#"{"model": {"type": "Unigram"}}"#)
        #expect { try ByteLevelBPETokenizer(huggingFace: unigram, file: url, specials: .init(bos: 0, eos: 0, pad: 0)) } throws: { e in
            "\(e)".contains("model.type \"Unigram\" is not supported")
        }
    }

    /// Llama 3.2-Instruct's template (abridged: the parts the recogniser reads).
    static let llama3Jinja = """
        {{- bos_token }}{%- if not date_string is defined %}{%- set date_string = "26 Jul 2024" %}{%- endif %}
        {{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}{{- "Cutting Knowledge Date: December 2023\\n" }}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
        """
    /// Qwen2.5-Instruct's (abridged likewise): its default system message sits in a Jinja string.
    static let qwenJinja = """
        {%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
        {%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}
        """

    @Test func llama3ChatPromptAndStops() throws {
        let template = ChatTemplate(ggufTemplate: Self.llama3Jinja)
        #expect(template.format == .llama3 && template.endOfTurn == "<|eot_id|>")
        #expect(template.stopTokens.contains("<|end_of_text|>"))
        let text = template.prompt(user: "7*8=?", system: "Be brief.")
        #expect(text == "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
            + "Today Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n7*8=?<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\n")
        let tokenizer = try Self.tokenizer("llama3", "gguf")
        let ids = tokenizer.encode(text)
        let specials = try #require(Self.references["llama3"]).specials
        #expect(ids.first == specials["<|begin_of_text|>"])
        #expect(ids.filter { $0 == specials["<|start_header_id|>"] }.count == 3)
        #expect(ids.filter { $0 == specials["<|eot_id|>"] }.count == 2)
        #expect(tokenizer.decode(ids).hasSuffix("7*8=?assistant\n\n"))  // control tokens are left out
    }

    @Test func qwenChatMLWithItsDefaultSystem() throws {
        let template = ChatTemplate(ggufTemplate: Self.qwenJinja)
        #expect(template.format == .chatML && template.defaultSystem == ChatTemplate.qwenSystem)
        #expect(template.stopTokens == ["<|im_end|>", "<|endoftext|>"])
        let ids = try Self.tokenizer("qwen2", "json").encode(template.prompt(user: "2+2?"))
        let specials = try #require(Self.references["qwen2"]).specials
        #expect(ids.first == specials["<|im_start|>"] && ids.filter { $0 == specials["<|im_end|>"] }.count == 2)
    }
}
