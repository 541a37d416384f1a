/// A batch of variable-length sequences, right-padded to a common length T.
///
/// Each sequence is a prompt followed by a completion. Position t predicts
/// token t+1, and `lossMask` is 1 only where that target is a completion
/// token: the prompt and the padding carry no loss.
public struct TokenBatch: Sendable {
    /// B sequences of T positions.
    public let batchSize: Int
    public let seqLen: Int
    /// inputs, targets: (B, T) token ids
    public var inputs: [Int32]
    public var targets: [Int32]
    /// (B, T): 1 where targets[b, t] is a completion token, else 0
    public var lossMask: [Float]
    /// Number of real (unpadded) positions of each sequence.
    public let lengths: [Int]

    /// sequences: (prompt, completion) token ids; the prompt must not be empty
    /// (it holds at least BOS). T is the longest sequence's length minus one,
    /// or `seqLen` when given (which must be at least that).
    public init(sequences: [(prompt: [Int], completion: [Int])], padId: Int, seqLen: Int? = nil) {
        precondition(!sequences.isEmpty, "TokenBatch needs at least one sequence")
        let longest = sequences.map { $0.prompt.count + $0.completion.count - 1 }.max()!
        let T = seqLen ?? longest
        precondition(T >= longest, "TokenBatch: a sequence of \(longest + 1) tokens does not fit seqLen \(T)")
        batchSize = sequences.count
        self.seqLen = T
        inputs = [Int32](repeating: Int32(padId), count: sequences.count * T)
        targets = inputs
        lossMask = [Float](repeating: 0, count: sequences.count * T)
        var lengths: [Int] = []
        for (b, s) in sequences.enumerated() {
            precondition(!s.prompt.isEmpty, "TokenBatch: empty prompt (it should hold at least BOS)")
            let full = s.prompt + s.completion
            for t in 0..<(full.count - 1) {
                inputs[b * T + t] = Int32(full[t])
                targets[b * T + t] = Int32(full[t + 1])
                lossMask[b * T + t] = t + 1 >= s.prompt.count ? 1 : 0
            }
            lengths.append(full.count - 1)
        }
        self.lengths = lengths
    }

    /// Number of completion tokens of sequence b.
    public func completionTokenCount(_ b: Int) -> Int {
        var count = 0
        for t in 0..<seqLen where lossMask[b * seqLen + t] != 0 { count += 1 }
        return count
    }
}
