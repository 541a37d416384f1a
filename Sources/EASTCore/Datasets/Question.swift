/// One training or test question with its reference (gold) final answer.
public struct Question: Codable, Equatable, Sendable {
    /// Stable identifier: the row's `id`/`idx` field, or `line-N` from its line.
    public var id: String
    /// The problem statement shown to the model.
    public var text: String
    /// The reference final answer (e.g. `18`, `\frac{1}{2}`), not a solution.
    public var gold: String
    /// The worked reference solution when the dataset has one.
    public var solution: String?

    /// A short content address of the question (its text and gold answer):
    /// two results with the same id are about the same question only when
    /// this agrees too (datasets without ids number their lines).
    public var contentHash: String {
        String(SHA256.hex(text + "\u{0}" + gold).prefix(16))
    }

    public init(id: String, text: String, gold: String, solution: String? = nil) {
        self.id = id
        self.text = text
        self.gold = gold
        self.solution = solution
    }
}
