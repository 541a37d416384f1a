import EASTCore

/// The paper's grid on the embedded default. One test set of 2,000
/// questions (its own seed) and three seeds for every preset: with the
/// 3-5% of questions on which two settings of this model disagree, that
/// resolves differences of well under a point (`east experiment` prints the
/// detectable difference before running).
extension ExperimentSpec {
    public static let presetNames = ["table1", "a-sweep", "iterations", "ablation"]

    static func preset(_ name: String, axes: Axes) -> ExperimentSpec {
        ExperimentSpec(
            name: name, base: Base(checkpoint: "models/arith-easy", task: .easy, trainCount: 2048, n: 8, temperature: 0.8, epochs: 2),
            test: TestSet(task: .easy, count: 2000, seed: 7), seeds: [1, 2, 3], axes: axes, baseline: .init(weighting: .uniform))
    }

    public static func preset(_ name: String) -> ExperimentSpec? {
        switch name {
        // Table 1: for each loss, vanilla, +LW(W), +LW(P), +EAST.
        case "table1": return preset(name, axes: Axes(loss: [.sft, .dpo, .kto], weighting: [.uniform, .lww, .lwp, .entropy], a: [1]))
        // Fig. 3: the paper's a values, EAST SFT against vanilla.
        case "a-sweep":
            return preset(name, axes: Axes(weighting: [.entropy], a: [-3, -2.5, -2, -1.5, -1.25, -1, -0.5, 0.1, 0.2, 0.5, 0.7, 1, 1.5, 2, 2.5, 3]))
        // Fig. 4: vanilla and EAST SFT over three iterations, every version evaluated.
        case "iterations": return preset(name, axes: Axes(weighting: [.uniform, .entropy], iterations: [3]))
        // Fig. 5: entropy against accuracy- and rejection-based weights.
        case "ablation": return preset(name, axes: Axes(weighting: [.entropy, .accuracy, .rejection], a: [0.5, 1, 1.5]))
        default: return nil
        }
    }
}
