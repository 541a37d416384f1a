import EASTCluster
import EASTCommandLine

// The trainer worker: see `TrainerWorker` in EASTCluster.
await WorkerCommand.start(.trainer)
