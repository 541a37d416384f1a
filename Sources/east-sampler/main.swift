import EASTCluster
import EASTCommandLine

// The sampler worker: see `SamplerWorker` in EASTCluster.
await WorkerCommand.start(.sampler)
