import EASTCluster
import EASTCommandLine

// The clusterer worker: see `ClustererWorker` in EASTCluster.
await WorkerCommand.start(.clusterer)
