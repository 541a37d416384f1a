/// What is wrong with the inputs of an experiment's statistics. Thrown, never
/// a crash, so `east experiment` can say which run or parameter is at fault.
public enum StatisticsError: Error, CustomStringConvertible, Equatable, Sendable {
    /// `role` ("setting", "baseline", "runs") has no runs at all.
    case noRuns(role: String)
    /// The runs of `role` hold no question results.
    case noQuestions(role: String)
    /// A run answered a different number of questions than the first run:
    /// pairing needs one fixed test set, aligned by question index.
    case questionCountMismatch(role: String, seedIndex: Int, expected: Int, found: Int)
    /// Setting and baseline must have one run per seed each (seed s against seed s).
    case seedCountMismatch(setting: Int, baseline: Int)
    case invalidParameter(String)

    public var description: String {
        switch self {
        case let .noRuns(role):
            return "the \(role) has no runs: need at least one seed"
        case let .noQuestions(role):
            return "the \(role) runs have no questions: the test set is empty"
        case let .questionCountMismatch(role, seedIndex, expected, found):
            return "the \(role) run for seed index \(seedIndex) has \(found) question results, expected \(expected): every run must be on the same test set, aligned by question"
        case let .seedCountMismatch(setting, baseline):
            return "the setting has \(setting) seeds but the baseline has \(baseline): runs pair by seed (setting seed s against baseline seed s), so both need the same seeds"
        case let .invalidParameter(reason):
            return reason
        }
    }
}
