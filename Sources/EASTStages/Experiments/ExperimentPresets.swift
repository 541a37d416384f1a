import EASTCore

/// The EAST paper's experiments on the embedded default, under its protocol:
/// n = 128 samples a question, 3 epochs at batch 16 with warmup over 10% of
/// the steps and linear decay, and learning rate (and beta) chosen per loss on
/// a validation split held out of the train questions, the same values then
/// used for vanilla, the baselines and EAST. One test set of its own seed,
/// the same for every run, so every comparison is paired. Table 1 names the
/// primary comparisons (EAST against vanilla at a = 1 for each loss, fixed in
/// advance); the a-sweep, the ablation and T = 3 are exploratory as a whole
/// (no primary: their comparisons are corrected by Holm among themselves).
extension ExperimentSpec {
    public static let presetNames = ["table1", "a-sweep", "ablation", "iterations"]

    /// The paper's run settings on the embedded default.
    public static let paperBase = Base(
        task: .easy, trainCount: 2048,
        settings: {
            var s = RunSpec.paperRecipe(.defaults)
            s.sampling.n = 128
            return s
        }())

    /// The learning rates tried: the paper's 1B values and around them. On the
    /// embedded default a first, coarser grid put SFT's best at its largest
    /// value (3e-4) and DPO's at its smallest (the paper's 2e-7), so the grid
    /// reaches 1e-3 for SFT and holds 5e-7 and 1e-6 for DPO and KTO.
    public static let paperSelection = Selection(
        validation: TestSet(task: .easy, count: 1000, seed: 11), seeds: [1, 2],
        grid: [
            .sft: .init(learningRate: [2e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3]),
            .dpo: .init(learningRate: [2e-7, 5e-7, 1e-6, 2e-6, 1e-5, 3e-5, 1e-4], beta: [0.01, 0.05, 0.1]),
            .kto: .init(learningRate: [2e-7, 5e-7, 1e-6, 2e-6, 1e-5, 3e-5, 1e-4], beta: [0.05, 0.1, 0.3]),
        ])

    /// Table 1's size was chosen from the SFT pilot on validation questions
    /// (7.9% of answers differ, seed sd 0.45 points; results/pilot-sft): at 8
    /// seeds x 3,000 questions its primary comparisons detect 0.8 points (1.0
    /// if the seed sd is 0.7). The exploratory presets keep 5 seeds and share
    /// Table 1's first five.
    static func preset(_ name: String, axes: Axes, primary: [Settings.Partial] = [], seeds: [UInt64] = [1, 2, 3, 4, 5]) -> ExperimentSpec {
        ExperimentSpec(
            name: name, base: paperBase, test: TestSet(task: .easy, count: 3000, seed: 7), seeds: seeds, axes: axes,
            baseline: .init(weighting: .uniform), primary: primary, selection: paperSelection)
    }

    public static func preset(_ name: String) -> ExperimentSpec? {
        switch name {
        // Table 1: for each loss, vanilla, +LW(W), +LW(P), +EAST.
        case "table1":
            return preset(name, axes: Axes(loss: [.sft, .dpo, .kto], weighting: [.uniform, .lww, .lwp, .entropy], a: [1]),
                          primary: LossKind.allCases.map { Settings.Partial(loss: $0, weighting: .entropy, a: 1) }, seeds: Array(1...8))
        // Fig. 3: the paper's values of a, EAST SFT against vanilla.
        case "a-sweep":
            return preset(name, axes: Axes(loss: [.sft], weighting: [.entropy], a: [-3, -2.5, -2, -1.5, -1.25, -1, -0.5, 0.1, 0.2, 0.5, 0.7, 1, 1.5, 2, 2.5, 3]))
        // Fig. 5: entropy against accuracy- and rejection-based weights, averaged over a in {0.5, 1, 1.5}.
        case "ablation":
            return preset(name, axes: Axes(loss: [.sft], weighting: [.entropy, .accuracy, .rejection], a: [0.5, 1, 1.5]))
        // Fig. 4: vanilla and EAST SFT over three iterations, every version evaluated.
        case "iterations":
            return preset(name, axes: Axes(loss: [.sft], weighting: [.uniform, .entropy], iterations: [3]))
        default: return nil
        }
    }
}
