/// The prompt format an instruct model was trained on, read off its Jinja
/// chat template (we recognise the format rather than run Jinja):
///
/// ChatML (SmolLM2, Qwen2/Qwen2.5):
///   <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n
/// Llama 3 (3.1, 3.2, 3.3):
///   <|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>
///   <|start_header_id|>user<|end_header_id|>\n\n{question}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n
///
/// The answer follows and ends with the turn's end (`endOfTurn`: <|im_end|>
/// or <|eot_id|>); `stopTokens` lists every token that ends generation. The
/// default system message is the one the template inserts when a
/// conversation has none.
public struct ChatTemplate: Sendable, Equatable {
    public enum Format: String, Sendable {
        case chatML, llama3
    }

    /// ChatML's end of turn (kept for callers that predate the Llama 3 format).
    public static let stopToken = "<|im_end|>"
    /// SmolLM2-Instruct's, used when a file carries no chat template.
    public static let smolLM2System = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    /// What Qwen2.5-Instruct's template puts when there is no system turn.
    public static let qwenSystem = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    /// What Llama 3.1/3.2's template writes at the top of every system turn
    /// (with its default date, as transformers renders it without one).
    public static let llama3SystemHeader = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"

    public var format: Format
    public var defaultSystem: String
    /// Written before the system message (Llama 3.1/3.2's knowledge-date lines), or "".
    public var systemHeader: String

    public init(format: Format = .chatML, defaultSystem: String = ChatTemplate.smolLM2System, systemHeader: String = "") {
        self.format = format
        self.defaultSystem = defaultSystem
        self.systemHeader = systemHeader
    }

    /// From a GGUF's `tokenizer.chat_template` (or tokenizer_config.json's
    /// `chat_template`). ChatML's default system message is the text between
    /// "<|im_start|>system\n" and the next "<|im_end|>" when the template has
    /// one, else Qwen's when the template quotes it.
    public init(ggufTemplate: String?) {
        self.init()
        guard let template = ggufTemplate else { return }
        if template.contains("<|start_header_id|>") {
            self.init(format: .llama3, defaultSystem: "",
                      systemHeader: template.contains("Cutting Knowledge Date") ? Self.llama3SystemHeader : "")
            return
        }
        if template.contains(Self.qwenSystem) { defaultSystem = Self.qwenSystem }
        guard let start = template.range(of: "<|im_start|>system\n"),
              let end = template.range(of: "<|im_end|>", range: start.upperBound..<template.endIndex)
        else { return }
        let system = String(template[start.upperBound..<end.lowerBound])
        // A template that fills the system slot from a variable ('...' + message['content'] + '...')
        // has no default of its own.
        let jinja = ["{{", "{%", "message[", "' +", "+ '"]
        if !jinja.contains(where: system.contains) { defaultSystem = system }
    }

    /// The token that ends the assistant's turn.
    public var endOfTurn: String { format == .llama3 ? "<|eot_id|>" : "<|im_end|>" }

    /// Every token that ends generation: the end of turn, then the end-of-text tokens.
    public var stopTokens: [String] {
        format == .llama3 ? ["<|eot_id|>", "<|end_of_text|>", "<|eom_id|>"] : ["<|im_end|>", "<|endoftext|>"]
    }

    /// The prompt for one user turn, ending where the assistant's answer begins.
    public func prompt(user: String, system: String? = nil) -> String {
        let system = system ?? defaultSystem
        switch format {
        case .chatML:
            return "<|im_start|>system\n\(system)<|im_end|>\n<|im_start|>user\n\(user)<|im_end|>\n<|im_start|>assistant\n"
        case .llama3:
            func turn(_ role: String, _ text: String) -> String { "<|start_header_id|>\(role)<|end_header_id|>\n\n\(text)<|eot_id|>" }
            return "<|begin_of_text|>" + turn("system", systemHeader + system) + turn("user", user)
                + "<|start_header_id|>assistant<|end_header_id|>\n\n"
        }
    }
}
