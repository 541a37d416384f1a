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
public enum AnswerClustering {
    /// Clusters responses given their extracted answers (nil: no answer).
    public static func statistics(answers: [String?], gold: String) -> QuestionStatistics {
        let goldNormalized = AnswerNormalizer.normalize(gold)
        var clusters: [AnswerCluster] = []
        var noAnswer: AnswerCluster?
        for (i, answer) in answers.enumerated() {
            guard let answer else {
                if noAnswer == nil { noAnswer = AnswerCluster(answer: nil, members: [], correct: false) }
                noAnswer!.members.append(i)
                continue
            }
            let normalized = AnswerNormalizer.normalize(answer)
            if let k = clusters.firstIndex(where: { AnswerEquivalence.equivalentNormalized($0.answer!, normalized) }) {
                clusters[k].members.append(i)
            } else {
                let correct = AnswerEquivalence.equivalentNormalized(normalized, goldNormalized)
                clusters.append(AnswerCluster(answer: normalized, members: [i], correct: correct))
            }
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
