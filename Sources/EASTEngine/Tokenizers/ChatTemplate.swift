/// The ChatML prompt format SmolLM2-Instruct was trained on:
///
///   <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n
///
/// The model's answer follows and ends with <|im_end|> (`stopToken`). The
/// default system message is the one the model's Jinja chat template inserts
/// when a conversation has none; we read it out of the template text rather
/// than run Jinja.
public struct ChatTemplate: Sendable, Equatable {
    public static let stopToken = "<|im_end|>"
    /// SmolLM2-Instruct's, used when a file carries no chat template.
    public static let smolLM2System = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

    public var defaultSystem: String

    public init(defaultSystem: String = ChatTemplate.smolLM2System) {
        self.defaultSystem = defaultSystem
    }

    /// From a GGUF's `tokenizer.chat_template`: the text between
    /// "<|im_start|>system\n" and the next "<|im_end|>", when the template has one.
    public init(ggufTemplate: String?) {
        self.init()
        guard let template = ggufTemplate,
              let start = template.range(of: "<|im_start|>system\n"),
              let end = template.range(of: "<|im_end|>", range: start.upperBound..<template.endIndex)
        else { return }
        let system = String(template[start.upperBound..<end.lowerBound])
        // A template that fills the system slot from a variable ('...' + message['content'] + '...')
        // has no default of its own.
        let jinja = ["{{", "{%", "message[", "' +", "+ '"]
        if !jinja.contains(where: system.contains) { defaultSystem = system }
    }

    /// The prompt for one user turn, ending where the assistant's answer begins.
    public func prompt(user: String, system: String? = nil) -> String {
        "<|im_start|>system\n\(system ?? defaultSystem)<|im_end|>\n<|im_start|>user\n\(user)<|im_end|>\n<|im_start|>assistant\n"
    }
}
