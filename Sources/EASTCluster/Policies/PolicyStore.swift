import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
import Foundation

/// Policy versions and the trainer's resume point, shared through the
/// network: hosts share nothing but the broker and Redis.
///
/// A save (a policy folder, or model + optimizer for the trainer) becomes
/// content-addressed blobs (`BlobStore`: chunked in Redis by default, or a
/// shared folder) and a `PolicyManifest` listing them, whose digest names
/// it. Redis records which manifest each version is (`RunState.checkpoints`)
/// and which is the trainer's resume point (`RunState.trainerState`); the
/// blobs are written and confirmed before that record, so a reader never
/// sees half a policy. Every worker fetches into its own cache folder
/// (`PolicyCache`), verifying each file against its digest before use.
///
/// Retention (`Retention`): after the trainer publishes a version and when
/// a run ends, the run keeps its newest `keepVersions` versions and every
/// version still waiting for its accuracy (an evaluation job names it);
/// the others are un-recorded and their blobs deleted, except blobs a kept
/// save shares and blobs used within the grace. Caches drop the folders
/// whose manifests the store no longer holds.
///
/// One per worker loop (it holds its own Redis connection): not thread-safe.
public final class PolicyStore {
    public struct Settings: Sendable {
        public var location: Location
        /// This worker's own cache folder.
        public var cache: URL
        public var retention: Retention

        public init(location: Location = .redis, cache: URL, retention: Retention = Retention()) {
            (self.location, self.cache, self.retention) = (location, cache, retention)
        }
    }

    /// Where the blobs live: `redis` (the default) or `shared:/path`.
    public enum Location: Sendable, Equatable, CustomStringConvertible {
        case redis
        case shared(String)

        public init(parsing text: String) throws {
            if text == "redis" {
                self = .redis
            } else if text.hasPrefix("shared:"), text.count > "shared:".count {
                self = .shared(String(text.dropFirst("shared:".count)))
            } else {
                throw PolicyStoreError("--policy-store must be redis or shared:/path, not \(text)")
            }
        }

        public var description: String {
            switch self {
            case .redis: "redis"
            case let .shared(path): "shared:\(path)"
            }
        }
    }

    /// Which saves the store keeps (see the type's documentation).
    public struct Retention: Sendable {
        /// The newest policy versions each run keeps; 0 keeps every version.
        public var keepVersions: Int
        /// Seconds a blob stays safe after a writer last used it: longer
        /// than a writer takes from confirming its blobs to recording them.
        public var grace: Double

        public init(keepVersions: Int = 2, grace: Double = 10) {
            (self.keepVersions, self.grace) = (keepVersions, grace)
        }
    }

    public let settings: Settings
    public let cache: PolicyCache
    let address: RedisAddress
    let log: (String) -> Void
    private var connection: RedisConnection?
    /// Manifests never change: each is fetched once.
    private var manifests: [String: PolicyManifest] = [:]
    /// The manifest of each adapter base this store has saved (path -> digest).
    private var bases: [URL: String] = [:]
    /// Saves whose blobs wait for deletion (retired, not yet past the grace or still shared).
    static let retiredKey = "east:blobs:retired"

    public init(settings: Settings, redis: RedisAddress, log: @escaping (String) -> Void) {
        self.settings = settings
        cache = PolicyCache(root: settings.cache)
        address = redis
        self.log = log
    }

    /// Connects on first use, so that making a worker needs no server.
    public var redis: RedisConnection {
        get throws {
            if let connection { return connection }
            let opened = try RedisConnection(address: address)
            connection = opened
            return opened
        }
    }

    public var blobs: any BlobStore {
        get throws {
            switch settings.location {
            case .redis: RedisBlobStore(redis: try redis)
            case let .shared(path): SharedFolderBlobStore(root: URL(fileURLWithPath: path))
            }
        }
    }

    // MARK: Policy versions

    /// Saves policy `version` of `run` and records it; its manifest digest.
    /// A version already recorded (a standby trainer republishing) keeps its first manifest.
    @discardableResult
    public func publish(_ policy: Policy, run: String, version: Int) throws -> String {
        let state = RunState(redis: try redis, run: run)
        if let recorded = try state.checkpoint(version: version), try blobs.exists(recorded) { return recorded }
        let clock = Date()
        let digest = try save(base: try storeBase(of: policy)) { try policy.save(to: $0) }
        let recorded = try state.recordCheckpoint(version: version, manifest: digest)
        log(String(format: "stored policy v%d of run %@ as manifest %@ in %@ (%.3f s)", version, run, recorded, try blobs.name, Date().timeIntervalSince(clock)))
        applyRetention(run: run)
        return recorded
    }

    /// Policy `version` of `run`, from this worker's cache or the store. A
    /// message naming another manifest than the version's is refused.
    public func loadPolicy(run: String, version: Int, manifest named: String? = nil) throws -> Policy {
        guard let recorded = try RunState(redis: try redis, run: run).checkpoint(version: version) else {
            throw MessageError("run \(run) has no policy v\(version) recorded in Redis (never published, or deleted by retention)", run: run)
        }
        if let named, named != recorded {
            throw MessageError("the message names manifest \(named) for policy v\(version) of run \(run), whose manifest is \(recorded): refused", run: run)
        }
        let policy = try refusing(run) { try load(recorded, version: version).policy }
        pruneCache()
        return policy
    }

    /// A saved folder from the cache (fetched when missing) loaded as a
    /// policy; an adapter's base comes from the store too, not from the path
    /// in its `base.json`, which only the saving host may have.
    private func load(_ digest: String, version: Int) throws -> (policy: Policy, folder: URL) {
        let folder = try cache.materialize(digest, from: try blobs, log: log)
        var base: URL?
        if let baseDigest = try manifest(digest)?.base {
            let baseFolder = try cache.materialize(baseDigest, from: try blobs, log: log)
            let files = try manifest(baseDigest)?.files ?? []
            // A GGUF base is one file; a checkpoint base is the folder.
            base = files.count == 1 && files[0].name.hasSuffix(".gguf") ? baseFolder.appendingPathComponent(files[0].name) : baseFolder
        }
        return (try Policy.load(from: folder, version: version, base: base), folder)
    }

    /// Stores the frozen base of an adapter policy once, as a folder of its
    /// own (the GGUF file, or the checkpoint folder's files); its manifest
    /// digest, or nil for a policy without an adapter.
    func storeBase(of policy: Policy) throws -> String? {
        guard policy.model.adapter != nil, let path = policy.basePath?.standardizedFileURL else { return nil }
        // Known: marked used now (against a concurrent sweep) and still there.
        if let known = bases[path], try blobs.confirm([known]).isEmpty { return known }
        let digest = try save { staging in
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isFolder) else {
                throw PolicyStoreError("the adapter's base \(path.path) does not exist")
            }
            let files = isFolder.boolValue
                ? try FileManager.default.contentsOfDirectory(at: path, includingPropertiesForKeys: nil).filter { !$0.lastPathComponent.hasPrefix(".") }
                : [path]
            for file in files {
                let target = staging.appendingPathComponent(file.lastPathComponent)
                // A hard link costs no copy of a large GGUF; another file system needs one.
                do { try FileManager.default.linkItem(at: file, to: target) } catch { try FileManager.default.copyItem(at: file, to: target) }
            }
        }
        bases[path] = digest
        return digest
    }

    /// What the store cannot give (missing, not verifying) is a bad message:
    /// the message naming it is dead-lettered, not retried.
    private func refusing<T>(_ run: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as PolicyStoreError { throw MessageError(error.reason, run: run) }
    }

    // MARK: The trainer's resume point

    /// Saves model, optimizer and position, then switches the run's resume
    /// point to them in one Redis command; the previous save is retired.
    public func saveTrainer(_ session: TrainingSession, position: RunState.TrainerPosition, run: String) throws {
        let state = RunState(redis: try redis, run: run)
        let previous = try state.trainerState()?.manifest
        let digest = try save(base: try storeBase(of: session.policy)) { folder in
            try session.policy.save(to: folder)
            try Checkpoint.saveOptimizer(session.trainer.optimizer, to: folder)
        }
        try state.setTrainerState(manifest: digest, position: position)
        if let previous, previous != digest { try retire([previous]) }
        sweep()
        pruneCache()
    }

    public func trainerState(run: String) throws -> (manifest: String, position: RunState.TrainerPosition)? {
        try RunState(redis: try redis, run: run).trainerState()
    }

    /// The run's resume point: its policy (as `version`) and the folder
    /// holding the optimizer, fetched when this cache lacks them.
    public func trainerPolicy(run: String, version: Int) throws -> (policy: Policy, folder: URL) {
        guard let saved = try trainerState(run: run) else { throw MessageError("run \(run) has no trainer state in Redis", run: run) }
        return try refusing(run) { try load(saved.manifest, version: version) }
    }

    /// A finished run needs no resume point, and only its kept versions.
    public func finishRun(_ run: String) {
        do {
            let state = RunState(redis: try redis, run: run)
            if let saved = try state.trainerState() {
                try retire([saved.manifest])
                try state.clearTrainerState()
            }
        } catch {
            log("retention: cannot drop the trainer state of run \(run): \(error)")
        }
        applyRetention(run: run)
    }

    // MARK: Saving

    /// Writes a folder (`write` saves into it), stores its files and
    /// manifest as blobs, confirms them all (storing again any that a
    /// concurrent deletion took), and moves the folder into the cache: the
    /// manifest digest, ready to be recorded.
    func save(base: String? = nil, _ write: (URL) throws -> Void) throws -> String {
        let staging = try cache.stagingFolder()
        do {
            try write(staging)
            let (manifest, contents) = try cache.describe(staging, base: base)
            let digest = manifest.digest
            let store = try blobs
            var pending = contents.map(\.data) + [manifest.bytes]
            let byDigest = Dictionary(zip(manifest.files.map(\.sha256) + [digest], pending), uniquingKeysWith: { a, _ in a })
            for attempt in 1... {
                for data in pending { try store.put(data) }
                let missing = try store.confirm(Array(byDigest.keys))
                if missing.isEmpty { break }
                guard attempt < 3 else { throw PolicyStoreError("blobs \(missing) vanish from \(store.name) as they are written") }
                pending = missing.compactMap { byDigest[$0] }
            }
            manifests[digest] = manifest
            cache.adopt(staging, as: digest)
            return digest
        } catch {
            try? FileManager.default.removeItem(at: staging)
            throw error
        }
    }

    // MARK: Retention

    /// Un-records the versions of `run` that the rule no longer keeps, and
    /// deletes what no kept save needs. Housekeeping: failures are logged.
    public func applyRetention(run: String) {
        do {
            let keep = settings.retention.keepVersions
            let state = RunState(redis: try redis, run: run)
            let recorded = try state.checkpoints()
            if keep > 0, recorded.count > keep {
                let newest = recorded.keys.sorted().suffix(keep)
                let measured = try state.accuracies()
                let dropped = recorded.filter { !newest.contains($0.key) && measured[$0.key] != nil }
                if !dropped.isEmpty {
                    try retire(Array(dropped.values))
                    try state.forgetCheckpoints(versions: Array(dropped.keys))
                    log("retention: run \(run) keeps v\(newest.map(String.init).joined(separator: ", v")); deleting v\(dropped.keys.sorted().map(String.init).joined(separator: ", v"))")
                }
            }
        } catch {
            log("retention: cannot apply the rule to run \(run): \(error)")
        }
        sweep()
    }

    func retire(_ digests: [String]) throws {
        guard !digests.isEmpty else { return }
        let redis = try redis
        try redis.retryingOnceIfLost { try redis.command(["ZADD", Self.retiredKey] + digests.flatMap { [String(Date().timeIntervalSince1970), $0] }) }
    }

    /// Deletes the retired saves' blobs that no recorded save of any run
    /// names and no writer used within the grace; those spared stay retired
    /// for the next sweep.
    public func sweep() {
        do {
            let redis = try redis
            let retired = try redis.command(["ZRANGE", Self.retiredKey, "0", "-1"]).array?.compactMap(\.string) ?? []
            guard !retired.isEmpty else { return }
            let live = try RunState.recordedManifests(redis)
            var needed = live
            for digest in live {
                guard let saved = try manifest(digest) else { continue }
                needed.formUnion(saved.files.map(\.sha256))
                if let base = saved.base {  // an adapter's base stays while any kept save names it
                    needed.insert(base)
                    needed.formUnion(try manifest(base)?.files.map(\.sha256) ?? [])
                }
            }
            let store = try blobs
            for digest in retired {
                var gone = true
                if live.contains(digest) {
                    // recorded again (another run's identical save): no longer retired
                } else if needed.contains(digest) {
                    gone = false  // a base a kept save still names: retired until none does
                } else if let manifest = try manifest(digest) {
                    // Its base goes with the last save naming it (a later sweep checks);
                    // retired first, so that no crash between can leave it behind.
                    if let base = manifest.base { try retire([base]) }
                    for file in manifest.files where !needed.contains(file.sha256) {
                        gone = try store.delete(file.sha256, grace: settings.retention.grace) && gone
                    }
                    if gone { gone = try store.delete(digest, grace: settings.retention.grace) }
                }
                if gone {
                    try redis.command(["ZREM", Self.retiredKey, digest])
                    manifests[digest] = nil
                }
            }
        } catch {
            log("retention: sweep failed (it runs again after the next save): \(error)")
        }
    }

    /// A manifest by digest (nil when the store no longer holds it).
    func manifest(_ digest: String) throws -> PolicyManifest? {
        if let known = manifests[digest] { return known }
        guard let data = try blobs.get(digest) else { return nil }
        let decoded = try PolicyManifest.decode(data, digest: digest)
        manifests[digest] = decoded
        return decoded
    }

    /// Drops the cached folders whose manifests the store no longer holds.
    public func pruneCache() {
        do {
            let store = try blobs
            try cache.prune { try store.exists($0) }
        } catch {
            log("retention: cannot prune the cache \(cache.root.path): \(error)")
        }
    }
}
