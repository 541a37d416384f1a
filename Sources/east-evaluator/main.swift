import EASTCluster
import EASTCommandLine

// The evaluator worker: see `EvaluatorWorker` in EASTCluster.
await WorkerCommand.start(.evaluator)
