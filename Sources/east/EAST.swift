import ArgumentParser
import EASTCommandLine

/// The `east` command-line tool: every subcommand is a thin layer over the
/// libraries (EASTCore, EASTEngine, EASTStages, EASTCluster); no logic lives here that a worker would
/// also need.
@main
struct EAST: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "east",
        abstract: "Entropy-based adaptive weighting for self-training (EAST).",
        subcommands: [
            GradeCommand.self,
            WeightsCommand.self,
            DataCommand.self,
            TopologyCommand.self,
            PretrainCommand.self,
            EvalCommand.self,
            SelfTrainCommand.self,
            SettingsCommand.self,
            CompareCommand.self,
            PowerCommand.self,
            ExperimentCommand.self,
            ClusterCommand.self,
            StatusCommand.self,
            ModelCommand.self,
            BenchCommand.self,
        ])
}
