import EASTCore
import EASTEngine
import EASTStages
import Foundation

/// The checkpoint directory all workers share (a volume in compose):
///
///   <root>/<run>/policy-v<k>/   policy version k (v0 is a copy of the start)
///   <root>/<run>/trainer/       the trainer's resume point: model, optimizer,
///                               and position.json (iteration, batch, step)
///
/// Every file is written atomically, and a policy directory is complete
/// before its path is published (written under a temporary name, then renamed).
public struct CheckpointStore: Sendable {
    public let root: URL

    public init(root: String) {
        self.root = URL(fileURLWithPath: root)
    }

    public func policyDirectory(run: String, version: Int) -> URL {
        root.appendingPathComponent(run).appendingPathComponent("policy-v\(version)")
    }

    public func trainerDirectory(run: String) -> URL {
        root.appendingPathComponent(run).appendingPathComponent("trainer")
    }

    /// Saves a policy version; readers never see a half-written directory.
    public func savePolicy(_ policy: Policy, run: String, version: Int) throws -> URL {
        let target = policyDirectory(run: run, version: version)
        if FileManager.default.fileExists(atPath: target.appendingPathComponent(Checkpoint.modelFile).path) { return target }
        let staging = target.deletingLastPathComponent().appendingPathComponent(".staging-v\(version)-\(UUID().uuidString)")
        try policy.save(to: staging)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        if rename(staging.path, target.path) != 0 {
            try? FileManager.default.removeItem(at: staging)
            // Another trainer (a standby that took over) published it first: fine.
            guard FileManager.default.fileExists(atPath: target.path) else {
                throw AtomicFile.WriteError(path: target.path, reason: "cannot publish the checkpoint (errno \(errno))")
            }
        }
        return target
    }

    public func loadPolicy(run: String, version: Int) throws -> Policy {
        try Policy.load(from: policyDirectory(run: run, version: version), version: version)
    }

    /// Where the trainer stands: the last batch whose update is in the saved model.
    public struct TrainerPosition: Equatable, Sendable {
        public var iteration: Int
        public var batch: Int
        public var step: Int

        public init(iteration: Int, batch: Int, step: Int) {
            (self.iteration, self.batch, self.step) = (iteration, batch, step)
        }
    }

    /// Model, optimizer and position together, atomically: they are written
    /// into a fresh folder `trainer-<step>`, then the link `trainer` is
    /// switched to it with one rename. A crash at any moment leaves `trainer`
    /// pointing at a complete, consistent save (never a new model with an old
    /// position), which matches what the broker redelivers: the batches after
    /// it were not acked.
    public func saveTrainer(_ session: TrainingSession, position: TrainerPosition, run: String) throws {
        let link = trainerDirectory(run: run)
        let parent = link.deletingLastPathComponent()
        let folderName = "trainer-\(position.iteration)-\(position.batch)-\(UUID().uuidString.prefix(8))"
        let folder = parent.appendingPathComponent(folderName)
        try session.policy.save(to: folder)
        try Checkpoint.saveOptimizer(session.trainer.optimizer, to: folder)
        let json = JSON.object([("iteration", .number(Double(position.iteration))), ("batch", .number(Double(position.batch))),
                                ("step", .number(Double(position.step)))])
        try AtomicFile.write(Data(json.text.utf8), to: folder.appendingPathComponent("position.json"))
        let previous = try? FileManager.default.destinationOfSymbolicLink(atPath: link.path)
        let temporaryLink = parent.appendingPathComponent(".trainer-link-\(UUID().uuidString)")
        try FileManager.default.createSymbolicLink(atPath: temporaryLink.path, withDestinationPath: folderName)
        guard rename(temporaryLink.path, link.path) == 0 else {
            try? FileManager.default.removeItem(at: temporaryLink)
            throw AtomicFile.WriteError(path: link.path, reason: "cannot switch the trainer link (errno \(errno))")
        }
        if let previous, previous != folderName {
            try? FileManager.default.removeItem(at: parent.appendingPathComponent(previous))
        }
    }

    public func trainerPosition(run: String) throws -> TrainerPosition? {
        let url = trainerDirectory(run: run).appendingPathComponent("position.json")
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        let json = try JSON.parse(String(decoding: data, as: UTF8.self))
        guard let it = json["iteration"]?.intValue, let b = json["batch"]?.intValue, let s = json["step"]?.intValue else {
            throw CheckpointError(file: url, message: "position.json needs iteration, batch and step")
        }
        return TrainerPosition(iteration: it, batch: b, step: s)
    }
}
