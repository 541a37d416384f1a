/// One setting's per-question results (or a setting's differences to its
/// baseline) as integers, checked and laid out for fast resampling.
///
/// `values[question * seeds + seed]` is 0/1 (correct) or -1/0/+1 (setting
/// minus baseline). Question-major, so a question's seeds sit together:
/// the bootstrap draws questions, each with all of its seeds.
struct RunMatrix: Sendable {
    let seeds: Int
    let questions: Int
    let values: [Int]

    /// `runs[seed][question]`: whether that run got that question right.
    init(runs: [[Bool]], role: String) throws(StatisticsError) {
        let n = try RunMatrix.checkedQuestionCount(runs, role: role, expected: nil)
        seeds = runs.count
        questions = n
        var values = [Int](repeating: 0, count: n * runs.count)
        for (s, run) in runs.enumerated() {
            for (q, correct) in run.enumerated() where correct {
                values[q * runs.count + s] = 1
            }
        }
        self.values = values
    }

    /// The paired differences `setting - baseline`, seed by seed and question
    /// by question.
    init(setting: [[Bool]], minus baseline: [[Bool]]) throws(StatisticsError) {
        let n = try RunMatrix.checkedQuestionCount(setting, role: "setting", expected: nil)
        _ = try RunMatrix.checkedQuestionCount(baseline, role: "baseline", expected: n)
        guard setting.count == baseline.count else {
            throw .seedCountMismatch(setting: setting.count, baseline: baseline.count)
        }
        let s = setting.count
        seeds = s
        questions = n
        var values = [Int](repeating: 0, count: n * s)
        for seed in 0..<s {
            for q in 0..<n {
                let a = setting[seed][q] ? 1 : 0
                let b = baseline[seed][q] ? 1 : 0
                values[q * s + seed] = a - b
            }
        }
        self.values = values
    }

    /// The mean of all values: accuracy, or the mean paired difference.
    var mean: Double {
        Double(values.reduce(0, +)) / Double(values.count)
    }

    /// Each question's values summed over its seeds.
    var questionSums: [Int] {
        var sums = [Int](repeating: 0, count: questions)
        for q in 0..<questions {
            for s in 0..<seeds { sums[q] += values[q * seeds + s] }
        }
        return sums
    }

    /// The mean of each seed's values.
    var seedMeans: [Double] {
        var sums = [Int](repeating: 0, count: seeds)
        for q in 0..<questions {
            for s in 0..<seeds { sums[s] += values[q * seeds + s] }
        }
        return sums.map { Double($0) / Double(questions) }
    }

    /// The question count shared by all runs; `expected` is the count the
    /// runs must match (the setting's, when checking the baseline).
    private static func checkedQuestionCount(_ runs: [[Bool]], role: String, expected: Int?) throws(StatisticsError) -> Int {
        guard let first = runs.first else { throw .noRuns(role: role) }
        let n = expected ?? first.count
        for (s, run) in runs.enumerated() where run.count != n {
            throw .questionCountMismatch(role: role, seedIndex: s, expected: n, found: run.count)
        }
        guard n > 0 else { throw .noQuestions(role: role) }
        return n
    }
}
