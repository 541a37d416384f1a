import Foundation

/// Responses of one question that share a final answer.
public struct AnswerCluster: Equatable, Sendable {
    /// The normalised answer of the cluster's first response; nil for the
    /// "no answer" cluster.
    public var answer: String?
    /// Indices into the question's responses, in order.
    public var members: [Int]
    /// Whether the answer is equivalent to the gold answer. The "no answer"
    /// cluster is never correct.
    public var correct: Bool

    public var count: Int { members.count }
}

/// What EAST knows about one question after sampling `n` responses.
public struct QuestionStatistics: Equatable, Sendable {
    public var n: Int
    /// Answer clusters in order of first appearance, then the "no answer"
    /// cluster (if any responses had none).
    public var clusters: [AnswerCluster]
    /// `h = -sum_k p_k ln p_k` over the cluster distribution (natural log).
    public var entropy: Double
    /// Share of correct responses, `A`.
    public var accuracy: Double
    /// `R`: size of the largest wrong cluster that has an answer, over n.
    public var dominantIncorrect: Double

    /// True when there is at least one correct and one incorrect response.
    /// All-right and all-wrong questions carry no learning signal for EAST and
    /// are dropped, as in the paper.
    public var kept: Bool { accuracy > 0 && accuracy < 1 }
    public var allCorrect: Bool { n > 0 && accuracy == 1 }
    public var allWrong: Bool { accuracy == 0 }

    /// The cluster index of each response.
    public var clusterOfResponse: [Int] {
        var out = [Int](repeating: 0, count: n)
        for (k, cluster) in clusters.enumerated() {
            for i in cluster.members { out[i] = k }
        }
        return out
    }

    /// The largest wrong cluster that has an answer (first on ties), if any.
    public var dominantIncorrectCluster: AnswerCluster? {
        var best: AnswerCluster?
        for cluster in clusters where !cluster.correct && cluster.answer != nil {
            if cluster.count > (best?.count ?? 0) { best = cluster }
        }
        return best
    }
}

/// Groups a question's responses by equivalent final answer.
///
/// An answer joins the first cluster (in order of appearance) whose first
/// answer is equivalent to it (`AnswerEquivalence`), else starts a cluster.
/// Comparing every answer with every cluster would be quadratic in the
/// distinct answers (a hostile file of 8,000 distinct answers took over a
/// minute), so an answer is compared only with the clusters it could join:
/// the same normal form (a hash lookup); for a number, the clusters whose
/// first answer is a number within a small window of its value, a hundred
/// times it or a hundredth of it (`28%` meets `0.28` and `28`); for text,
/// the same text ignoring case; and the structured answers (relations,
/// sets, tuples, expressions with variables), which may equal anything and
/// are compared with every answer. Past `maxStructured` distinct structured
/// answers a question's further ones cluster by their normal form only.
public enum AnswerClustering {
    static let maxStructured = 256

    /// Clusters responses given their extracted answers (nil: no answer).
    public static func statistics(answers: [String?], gold: String) -> QuestionStatistics {
        let goldStructure = AnswerStructure.parse(TextScanning.bytes(AnswerNormalizer.normalize(gold)))
        var clusters: [AnswerCluster] = []
        var noAnswer: AnswerCluster?
        var index = Index()
        for (i, answer) in answers.enumerated() {
            guard let answer else {
                if noAnswer == nil { noAnswer = AnswerCluster(answer: nil, members: [], correct: false) }
                noAnswer!.members.append(i)
                continue
            }
            let normalized = AnswerNormalizer.normalize(answer)
            // (An empty normal form equals nothing, not even another empty one.)
            if !normalized.isEmpty, let k = index.exact[normalized] {
                clusters[k].members.append(i)
                continue
            }
            let bytes = TextScanning.bytes(normalized)
            let structure = AnswerStructure.parse(bytes)
            let key = Index.Key(structure, bytes)
            if let k = index.candidates(for: key).first(where: { k in
                !bytes.isEmpty && AnswerEquivalence.equivalent(structure, index.structures[k])
            }) {
                clusters[k].members.append(i)
                if !normalized.isEmpty { index.exact[normalized] = k }
                continue
            }
            let correct = !bytes.isEmpty && (TextScanning.bytes(AnswerNormalizer.normalize(gold)) == bytes
                                             || AnswerEquivalence.equivalent(structure, goldStructure))
            index.add(key, structure, normalized, cluster: clusters.count)
            clusters.append(AnswerCluster(answer: normalized, members: [i], correct: correct))
        }
        if let noAnswer { clusters.append(noAnswer) }

        let n = answers.count
        var entropy = 0.0
        for cluster in clusters {
            let p = Double(cluster.count) / Double(n)
            entropy -= p * log(p)
        }
        let correctCount = clusters.filter(\.correct).reduce(0) { $0 + $1.count }
        let stats = QuestionStatistics(
            n: n, clusters: clusters, entropy: max(0, entropy),
            accuracy: n == 0 ? 0 : Double(correctCount) / Double(n),
            dominantIncorrect: 0)
        var result = stats
        result.dominantIncorrect = n == 0 ? 0 : Double(stats.dominantIncorrectCluster?.count ?? 0) / Double(n)
        return result
    }

    /// Extracts each response's final answer, then clusters.
    public static func statistics(responses: [String], gold: String) -> QuestionStatistics {
        statistics(answers: responses.map(AnswerExtractor.extract(from:)), gold: gold)
    }
}

/// The clusters' first answers, looked up by what could make an answer equal
/// to them (see `AnswerClustering`).
private struct Index {
    /// Every normal form seen -> its cluster.
    var exact: [String: Int] = [:]
    /// Each cluster's first answer, parsed once.
    var structures: [AnswerStructure] = []
    /// Numbers: (value, cluster), sorted by value.
    var numbers: [(value: Double, cluster: Int)] = []
    /// Text, lowercased -> its cluster.
    var texts: [[UInt8]: Int] = [:]
    /// Clusters whose first answer is structured, in order (at most `maxStructured`).
    var structured: [Int] = []

    enum Key {
        case number(Double)
        case text([UInt8])
        /// A number that does not evaluate (or not to a finite Double): it can
        /// equal only its own normal form and structured answers (`x = <it>`).
        case none
        case structured

        init(_ structure: AnswerStructure, _ bytes: [UInt8]) {
            switch structure {
            case .expression(let e, _) where e.variables.isEmpty:
                guard let value = e.evaluate([:])?.double, value.isFinite else { self = .none; return }
                self = .number(value)
            case .text(let t):
                self = .text(t.map(TextScanning.lower))
            default:
                self = .structured
            }
        }
    }

    /// The clusters `key`'s answer could be equivalent to, in order of appearance.
    func candidates(for key: Key) -> [Int] {
        var out = structured
        switch key {
        case .number(let value):
            for center in [value, value * 100, value / 100] {
                let tolerance = 1e-5 + 1e-8 * abs(center)
                var low = lowerBound(center - tolerance)
                while low < numbers.count, numbers[low].value <= center + tolerance {
                    out.append(numbers[low].cluster)
                    low += 1
                }
            }
        case .text(let lowered):
            if let k = texts[lowered] { out.append(k) }
        case .none:
            break
        case .structured:
            // Compared with every cluster, while structured answers are few.
            return structured.count < AnswerClustering.maxStructured ? Array(structures.indices) : []
        }
        return Array(Set(out)).sorted()
    }

    private func lowerBound(_ value: Double) -> Int {
        var (low, high) = (0, numbers.count)
        while low < high {
            let mid = (low + high) / 2
            if numbers[mid].value < value { low = mid + 1 } else { high = mid }
        }
        return low
    }

    mutating func add(_ key: Key, _ structure: AnswerStructure, _ normalized: String, cluster: Int) {
        if !normalized.isEmpty { exact[normalized] = cluster }
        structures.append(structure)
        switch key {
        case .number(let value): numbers.insert((value, cluster), at: lowerBound(value))
        case .text(let lowered): if texts[lowered] == nil { texts[lowered] = cluster }
        case .none: break
        case .structured: if structured.count < AnswerClustering.maxStructured { structured.append(cluster) }
        }
    }
}
