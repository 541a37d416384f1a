import ArgumentParser
import EASTCluster
import EASTCommandLine
import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
import Foundation

extension BenchCommand {
    /// `east bench cluster`: the price and the gain of distributing. One
    /// iteration through the cluster against the same work in one process
    /// (same seed, so the same samples, weights and batches), and the cluster
    /// with one sampler against two, each worker on one BLAS thread; the
    /// sampling phase alone as tokens per second (the iteration's sampled
    /// tokens over the time from its first job to its last record). Needs the
    /// servers (scripts/servers.sh start).
    struct Cluster: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cluster vs one process, and 1 vs 2 samplers, on one iteration.")

        @OptionGroup var workers: WorkerOptions
        @Option(help: "Train questions.") var trainCount = 512
        @Option(help: "Test questions.") var testCount = 100
        @Option(help: "Folder for the workers' logs.") var logs = ".east-logs/bench"
        @Option(help: "Questions per sampling job (default: the coordinator's).") var questionsPerJob: Int?
        @Option(help: "Jobs a sampler holds at once (default: the sampler's).") var jobsInHand: Int?
        @Flag(help: "Print the figures as JSON.") var json = false

        struct Figures: Encodable {
            var inprocessSeconds: Double
            var cluster1SamplerSeconds: Double
            var cluster2SamplersSeconds: Double
            var samplingTokensPerSInprocess: Double
            var samplingTokensPerS2Decoders: Double
            var sampling2DecodersOver1: Double
            var samplingTokensPerS1Sampler: Double
            var samplingTokensPerS2Samplers: Double
            var cluster1SamplerOverInprocess: Double
            var sampling1SamplerOverInprocess: Double
            var samplingSpeedup2Over1: Double
            var accuracyInprocess: Double?
            var accuracy1Sampler: Double?
            var accuracy2Samplers: Double?
            var sampledTokens: Int

            enum CodingKeys: String, CodingKey {
                case inprocessSeconds = "inprocess_seconds", cluster1SamplerSeconds = "cluster_1_sampler_seconds"
                case cluster2SamplersSeconds = "cluster_2_samplers_seconds"
                case samplingTokensPerS1Sampler = "sampling_tokens_per_s_1_sampler", samplingTokensPerS2Samplers = "sampling_tokens_per_s_2_samplers"
                case cluster1SamplerOverInprocess = "cluster_1_sampler_over_inprocess", samplingSpeedup2Over1 = "sampling_2_over_1_sampler"
                case accuracyInprocess = "accuracy_inprocess", accuracy1Sampler = "accuracy_1_sampler", accuracy2Samplers = "accuracy_2_samplers"
                case sampledTokens = "sampled_tokens"
                case samplingTokensPerSInprocess = "sampling_tokens_per_s_inprocess"
                case samplingTokensPerS2Decoders = "sampling_tokens_per_s_2_decoders_inprocess"
                case sampling2DecodersOver1 = "sampling_2_over_1_decoders_inprocess"
                case sampling1SamplerOverInprocess = "sampling_1_sampler_over_inprocess"
            }
        }

        func run() throws {
            relaunchWithFasterBLASKernelsIfNeeded()
            try failing {
                let env = try workers.environment(role: "bench")
                let spec = try RunOptions.parse(["--train-count", "\(trainCount)", "--test-count", "\(testCount)", "--iterations", "1"]).spec
                let report = { (line: String) in if !json { say(line) } }

                let start = Date()
                let outcome = try InProcessRun(spec: spec).run(id: "bench-inprocess") { _ in }
                let inProcessSeconds = Date().timeIntervalSince(start)
                report(String(format: "in one process: %.1f s (accuracy %.1f%% -> %.1f%%)", inProcessSeconds,
                              (outcome.accuracy[0] ?? .nan) * 100, (outcome.accuracy[1] ?? .nan) * 100))

                // The sampling phase alone in one process (the same questions,
                // seed and batch): the reference for a sampler's rate; and two
                // such decoders at once on two threads, the most two samplers
                // can reach on this machine (cores that share caches, memory
                // bandwidth or a physical core do not add up to 2x).
                let questions = try spec.train.load()
                func samplingRate(decoders: Int) throws -> Double {
                    nonisolated(unsafe) let policies = try (0..<decoders).map { _ in try Policy.load(from: URL(fileURLWithPath: spec.checkpoint), lora: spec.lora, seed: spec.seed) }
                    nonisolated(unsafe) let tokens = UnsafeMutableBufferPointer<Int>.allocate(capacity: decoders)
                    defer { tokens.deallocate() }
                    let start = Date()
                    DispatchQueue.concurrentPerform(iterations: decoders) { i in
                        let policy = policies[i]
                        let sampler = policy.sampler(rows: 64)
                        let samples = SamplingStage.sample(policy, questions: questions, settings: spec.sampling, runSeed: spec.seed, sampler: sampler)
                        tokens[i] = samples.reduce(0) { $0 + $1.tokenCounts.reduce(0, +) }
                    }
                    return Double(tokens.reduce(0, +)) / Date().timeIntervalSince(start)
                }
                let inProcessSampling = try samplingRate(decoders: 1)
                let twoDecoders = try samplingRate(decoders: 2)
                report(String(format: "sampling in one process: %.0f tokens/s; two decoders at once: %.0f tokens/s (%.2fx)",
                              inProcessSampling, twoDecoders, twoDecoders / inProcessSampling))

                func cluster(samplers: Int) throws -> (seconds: Double, accuracy: Double, tokensPerSecond: Double, tokens: Int) {
                    let cluster = try LocalCluster(binDirectory: LocalCluster.binDirectory(), amqp: env.amqp, redis: env.redis,
                                                   policies: env.policies.location, logs: URL(fileURLWithPath: logs))
                    try cluster.startWorkers(samplers: samplers, arguments: [.sampler: jobsInHand.map { ["--jobs-in-hand", "\($0)"] } ?? []])
                    defer { cluster.stop() }
                    let run = "bench-\(samplers)-\(UUID().uuidString.prefix(6))"
                    let t0 = Date()
                    let coordinator = Coordinator(environment: env, spec: spec, run: run, progress: { _ in })
                    if let questionsPerJob { coordinator.questionsPerJob = questionsPerJob }
                    let outcome = try coordinator.run(stop: StopFlag())
                    let seconds = Date().timeIntervalSince(t0)
                    let state = RunState(redis: try RedisConnection(address: env.redis), run: run)
                    let tokens = outcome.iterations.first?.sampledTokens ?? 0
                    let sampling = try state.timings()["1:sampling"] ?? .nan
                    report(String(format: "cluster, %d sampler(s): %.1f s (accuracy after %.1f%%); sampling %d tokens in %.1f s: %.0f tokens/s",
                                  samplers, seconds, (outcome.accuracy[1] ?? .nan) * 100, tokens, sampling, Double(tokens) / sampling))
                    return (seconds, outcome.accuracy[1] ?? .nan, Double(tokens) / sampling, tokens)
                }
                let one = try cluster(samplers: 1)
                let two = try cluster(samplers: 2)
                let figures = Figures(
                    inprocessSeconds: inProcessSeconds, cluster1SamplerSeconds: one.seconds, cluster2SamplersSeconds: two.seconds,
                    samplingTokensPerSInprocess: inProcessSampling,
                    samplingTokensPerS2Decoders: twoDecoders, sampling2DecodersOver1: twoDecoders / inProcessSampling, samplingTokensPerS1Sampler: one.tokensPerSecond, samplingTokensPerS2Samplers: two.tokensPerSecond,
                    cluster1SamplerOverInprocess: one.seconds / inProcessSeconds, sampling1SamplerOverInprocess: one.tokensPerSecond / inProcessSampling, samplingSpeedup2Over1: two.tokensPerSecond / one.tokensPerSecond,
                    accuracyInprocess: outcome.accuracy[1], accuracy1Sampler: one.accuracy, accuracy2Samplers: two.accuracy,
                    sampledTokens: one.tokens)
                if json {
                    say(try JSONCoding.string(figures, pretty: true))
                } else {
                    say(String(format: "cluster (1 sampler) / one process: %.2fx the time (target <= 1.05); sampling, 2 samplers / 1: %.2fx the tokens/s (target >= 1.8)",
                               figures.cluster1SamplerOverInprocess, figures.samplingSpeedup2Over1))
                }
            }
        }
    }
}
