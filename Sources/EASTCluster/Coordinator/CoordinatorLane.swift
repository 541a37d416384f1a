import EASTCore
import EASTStages
import EASTTransport
import Foundation

/// One experiment run on the cluster: a `Coordinator` on a thread of its
/// own (the runs in flight share the workers), writing the run's report into
/// the experiment's folder when it is done. The run's state is in Redis
/// under `<experiment>.<run>`, so after a kill the next lane resumes it.
public final class CoordinatorLane: ExperimentLane, @unchecked Sendable {
    private let lock = NSLock()
    private var latest = "starting"
    private var result: Result<Void, Error>?

    private var thread: JoinableThread?

    public var phase: String { lock.withLock { latest } }
    /// Once there is one, the run's thread has ended (joined), so the
    /// coordinator and its connections are gone before anyone acts on it.
    public var outcome: Result<Void, Error>? {
        guard let outcome = lock.withLock({ result }) else { return nil }
        lock.withLock { thread }?.join()
        return outcome
    }

    /// Starts the run's coordinator; its progress lines also go to `folder/log.txt`.
    public init(run: String, spec: RunSpec, environment: WorkerEnvironment, folder: URL, maxRequeues: Int, stop: StopFlag) throws {
        let logFile = folder.appendingPathComponent("log.txt")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)
        let thread = JoinableThread(name: run) { [self] in
            let coordinator = Coordinator(environment: environment, spec: spec, run: run, progress: { [self] line in
                lock.withLock { latest = line }
                log.write(Data((line + "\n").utf8))
            })
            coordinator.maxRequeues = maxRequeues
            let outcome = Result<Void, Error> {
                let outcome = try coordinator.run(stop: stop)
                try RunReport.write(outcome, to: folder)
            }
            try? log.close()
            lock.withLock { result = outcome }
        }
        lock.withLock { self.thread = thread }
    }
}
