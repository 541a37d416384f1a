@testable import EASTCluster
import EASTCore
import EASTEngine
import EASTStages
import EASTTransport
import Foundation
import Testing

/// The policy store on the real Redis (and a shared folder): blobs in
/// chunks, verification of every byte, caches of their own, retention.
@Suite(.serialized) struct PolicyStoreTests {
    let redis = try! RedisConnection(address: ClusterHarness.redis)
    static func uniqueRun(_ tag: String) -> String { "test-store-\(tag)-\(UUID().uuidString.prefix(6))" }
    static func backbone() throws -> Policy { try Policy.load(from: URL(fileURLWithPath: ClusterHarness.backbone)) }

    static func randomData(_ count: Int) -> Data {
        var generator = SystemRandomNumberGenerator()
        let words = (0..<(count + 7) / 8).map { _ in generator.next() }
        return words.withUnsafeBytes { Data($0.prefix(count)) }
    }

    @Test func blobRoundTripAcrossChunks() throws {
        let blobs = RedisBlobStore(redis: redis)
        let data = Self.randomData(2 * RedisBlobStore.chunkSize + RedisBlobStore.chunkSize / 2 + 17)
        let digest = try blobs.put(data)
        #expect(digest == SHA256.hex(data))
        #expect(try redis.command(["HGET", RedisBlobStore.key(digest), "chunks"]).integer == 3)
        for i in 0..<3 {  // every command stays bounded: no chunk above the chunk size
            #expect(try redis.command(["STRLEN", "\(RedisBlobStore.key(digest)):\(i)"]).integer ?? 0 <= RedisBlobStore.chunkSize)
        }
        #expect(try blobs.get(digest) == data)
        for i in 0..<3 { #expect(try redis.command(["PTTL", "\(RedisBlobStore.key(digest)):\(i)"]).integer == -1) }  // kept for good
        #expect(try blobs.put(data) == digest)  // a second put stores nothing new
        #expect(try blobs.get(SHA256.hex("never stored")) == nil)
        #expect(try blobs.delete(digest, grace: 0))
        #expect(try !blobs.exists(digest))
        #expect(try redis.command(["EXISTS", "\(RedisBlobStore.key(digest)):0"]).integer == 0)
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")  // FIPS 180-2's example
    }

    /// A writer that dies between its chunks and its blob's hash leaves
    /// chunks that expire (an hour), and no blob: nothing is left for good.
    @Test func aWriterDyingMidBlobLeavesOnlyExpiringChunks() throws {
        let blobs = RedisBlobStore(redis: redis)
        let data = Self.randomData(RedisBlobStore.chunkSize + 5)
        let digest = SHA256.hex(data), key = RedisBlobStore.key(digest)
        #expect(try blobs.writeChunks(data, key: key, digest: digest) == 2)  // ... and the writer dies here
        #expect(try !blobs.exists(digest))
        #expect(try blobs.get(digest) == nil)
        for i in 0..<2 {
            let left = try #require(try redis.command(["PTTL", "\(key):\(i)"]).integer)
            #expect(left > 0 && left <= RedisBlobStore.unfinishedChunkMilliseconds)
        }
        #expect(try blobs.put(data) == digest)  // a later writer finishes it
        #expect(try blobs.get(digest) == data)
        #expect(try redis.command(["PTTL", "\(key):1"]).integer == -1)
        #expect(try blobs.delete(digest, grace: 0))
    }

    /// A policy version published by one worker and loaded by another with
    /// an empty cache of its own: the same parameters, through Redis and
    /// through a shared folder. Prints the time to publish and fetch the
    /// embedded default model.
    @Test(arguments: ["redis", "shared"]) func policyTravelsBetweenPrivateCaches(_ kind: String) throws {
        let location: PolicyStore.Location = kind == "redis" ? .redis : .shared(ClusterHarness.temporaryFolder("shared").path)
        let run = Self.uniqueRun("travel")
        let policy = try Self.backbone()
        let publisher = ClusterHarness.policyStore(location)
        var clock = Date()
        let manifest = try publisher.publish(policy, run: run, version: 0)
        let published = Date().timeIntervalSince(clock)
        #expect(try RunState(redis: redis, run: run).checkpoint(version: 0) == manifest)
        let reader = ClusterHarness.policyStore(location)
        clock = Date()
        let loaded = try reader.loadPolicy(run: run, version: 0, manifest: manifest)
        let fetched = Date().timeIntervalSince(clock)
        clock = Date()
        _ = try reader.loadPolicy(run: run, version: 0)
        let cached = Date().timeIntervalSince(clock)
        print(String(format: "policy store (%@): publish %.3f s, fetch into an empty cache and load %.3f s, load from the cache %.3f s (%d bytes)",
                     kind, published, fetched, cached, policy.model.parameters.count * 4))
        #expect(loaded.model.parameters.array == policy.model.parameters.array)
        #expect(FileManager.default.fileExists(atPath: reader.cache.folder(manifest).appendingPathComponent(Checkpoint.modelFile).path))
        // The same content published again is the same manifest.
        #expect(try ClusterHarness.policyStore(location).publish(policy, run: Self.uniqueRun("again"), version: 0) == manifest)
        // A manifest that is not the version's is refused.
        #expect(throws: MessageError.self) { try reader.loadPolicy(run: run, version: 0, manifest: SHA256.hex("another")) }
    }

    /// A corrupted chunk in Redis is refused (never used, never cached); a
    /// corrupted cache file is detected and fetched again.
    @Test func corruptionIsDetected() throws {
        let blobs = RedisBlobStore(redis: redis)
        let data = Self.randomData(RedisBlobStore.chunkSize + 1000)
        let digest = try blobs.put(data)
        try redis.command(["SETRANGE", "\(RedisBlobStore.key(digest)):1", "10", "x"])
        #expect { try blobs.get(digest) } throws: { "\($0)".contains("blob \(digest) in Redis") && "\($0)".contains("does not verify") }
        try redis.command(["DEL", "\(RedisBlobStore.key(digest)):1"])
        #expect { try blobs.get(digest) } throws: { "\($0)".contains("chunk 1 of 2 is missing") }

        let run = Self.uniqueRun("corrupt")
        let manifest = try ClusterHarness.policyStore().publish(try Self.backbone(), run: run, version: 0)
        var lines: [String] = []
        let cache = ClusterHarness.temporaryFolder("corrupt-cache")
        let reader = ClusterHarness.policyStore(cache: cache, log: { lines.append($0) })
        let original = try reader.loadPolicy(run: run, version: 0).model.parameters.array
        let model = reader.cache.folder(manifest).appendingPathComponent(Checkpoint.modelFile)
        let handle = try FileHandle(forWritingTo: model)
        try handle.seek(toOffset: 4096)
        try handle.write(contentsOf: Data([0xff, 0xfe, 0xfd, 0xfc]))
        try handle.close()
        #expect(try reader.loadPolicy(run: run, version: 0).model.parameters.array == original)
        #expect(lines.contains { $0.contains("cache copy of \(manifest) does not verify (model.safetensors does not hash to") }, "\(lines)")
        #expect(reader.cache.verify(reader.cache.folder(manifest), manifest) == nil)

        // The model's blob corrupted in Redis: a worker with an empty cache refuses the policy.
        let decoded = try PolicyManifest.decode(try #require(try blobs.get(manifest)), digest: manifest)
        let file = try #require(decoded.files.first { $0.name == Checkpoint.modelFile })
        let key = "\(RedisBlobStore.key(file.sha256)):0"
        let saved = try redis.command(["GET", key])
        try redis.command(["SETRANGE", key, "100", "corrupt"])
        defer { if case let .bulk(bytes) = saved { _ = try? redis.command(bytes: [Array("SET".utf8), Array(key.utf8), bytes]) } }
        #expect { try ClusterHarness.policyStore().loadPolicy(run: run, version: 0) } throws: { error in
            (error as? MessageError)?.reason.contains("blob \(file.sha256) in Redis") == true && "\(error)".contains("does not verify")
        }
    }

    /// Keep the newest K versions and those not yet evaluated; delete the
    /// rest from Redis and from caches, sparing blobs a kept version shares
    /// and blobs used within the grace.
    @Test func retentionDeletesVersionsNoRunNeeds() throws {
        let run = Self.uniqueRun("retention")
        let state = RunState(redis: redis, run: run)
        let policy = try Self.backbone()
        // A short grace (not 0: suites running beside this one may be writing blobs this sweep could take).
        let writer = ClusterHarness.policyStore(retention: .init(keepVersions: 1, grace: 2))
        var manifests: [String] = []
        for version in 0...2 {
            policy.model.parameters.pointer[0] += 1  // a different model each version; tokenizer and config shared
            manifests.append(try writer.publish(policy, run: run, version: version))
        }
        // Nothing evaluated yet: every version is still needed.
        #expect(try state.checkpoints() == [0: manifests[0], 1: manifests[1], 2: manifests[2]])
        let reader = ClusterHarness.policyStore()
        _ = try reader.loadPolicy(run: run, version: 0)
        for version in 0...2 { try redis.command(["HSET", "east:run:\(run):accuracy", String(version), "0.5"]) }

        // With a long grace the blobs just written stay (retired, for a later sweep).
        let patient = ClusterHarness.policyStore(retention: .init(keepVersions: 1, grace: 3600))
        patient.applyRetention(run: run)
        #expect(try state.checkpoints() == [2: manifests[2]])
        let blobs = RedisBlobStore(redis: redis)
        #expect(try blobs.exists(manifests[0]) && blobs.exists(manifests[1]))
        #expect(try redis.command(["ZSCORE", PolicyStore.retiredKey, manifests[0]]).string != nil)

        Thread.sleep(forTimeInterval: 2.2)
        writer.applyRetention(run: run)
        #expect(try !blobs.exists(manifests[0]) && !blobs.exists(manifests[1]))
        #expect(try redis.command(["ZSCORE", PolicyStore.retiredKey, manifests[0]]).string == nil)
        let kept = try PolicyManifest.decode(try #require(try blobs.get(manifests[2])), digest: manifests[2])
        for file in kept.files { #expect(try blobs.exists(file.sha256), "\(file.name)") }
        // Caches drop what the store deleted; the kept version loads into an empty cache.
        reader.pruneCache()
        #expect(!FileManager.default.fileExists(atPath: reader.cache.folder(manifests[0]).path))
        writer.pruneCache()
        #expect(!FileManager.default.fileExists(atPath: writer.cache.folder(manifests[1]).path))
        #expect(FileManager.default.fileExists(atPath: writer.cache.folder(manifests[2]).path))
        #expect(try ClusterHarness.policyStore().loadPolicy(run: run, version: 2).model.parameters.array == policy.model.parameters.array)
        // A deleted version is refused by name.
        #expect { try reader.loadPolicy(run: run, version: 0) } throws: { "\($0)".contains("has no policy v0 recorded") }
    }

    /// An adapter's base is stored once for all its versions, stays while a
    /// kept save names it, and goes with the last one.
    @Test func anAdaptersBaseGoesWithTheLastSaveNamingIt() throws {
        let run = Self.uniqueRun("adapterbase")
        let state = RunState(redis: redis, run: run)
        // A base folder of its own (a note file makes its manifest unlike any other test's base).
        let base = ClusterHarness.temporaryFolder("adapter-base")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: ClusterHarness.backbone), to: base)
        try Data(UUID().uuidString.utf8).write(to: base.appendingPathComponent("note.txt"))
        defer { try? FileManager.default.removeItem(at: base) }
        let policy = try Policy.load(from: base, lora: LoRAConfig(rank: 2, alpha: 4), seed: 5)
        // A short grace, as above (not 0: other suites' sweeps and writes run beside this one).
        let writer = ClusterHarness.policyStore(retention: .init(keepVersions: 1, grace: 1))
        var manifests: [String] = []
        for version in 0...1 {
            policy.model.adapter!.parameters.pointer[0] += 1
            manifests.append(try writer.publish(policy, run: run, version: version))
        }
        let bases = try manifests.map { try #require(try writer.manifest($0)?.base) }
        #expect(bases[0] == bases[1])
        let baseFiles = try #require(try writer.manifest(bases[0])).files
        #expect(baseFiles.contains { $0.name == "note.txt" })
        #expect(!(try #require(try writer.manifest(manifests[0]))).files.contains { $0.name == "note.txt" })  // not copied per version
        let loaded = try ClusterHarness.policyStore().loadPolicy(run: run, version: 1)
        #expect(loaded.model.adapter!.parameters.array == policy.model.adapter!.parameters.array)
        #expect(loaded.model.parameters.array == policy.model.parameters.array)

        let blobs = RedisBlobStore(redis: redis)
        for version in 0...1 { try redis.command(["HSET", "east:run:\(run):accuracy", String(version), "0.5"]) }
        Thread.sleep(forTimeInterval: 1.1)
        writer.applyRetention(run: run)  // v0 goes; v1 names the base
        #expect(try !blobs.exists(manifests[0]))
        #expect(try blobs.exists(bases[0]))
        try state.forgetCheckpoints(versions: [1])
        try writer.retire([manifests[1]])
        writer.sweep()  // v1 goes, and its base is retired
        #expect(try !blobs.exists(manifests[1]))
        Thread.sleep(forTimeInterval: 1.1)
        writer.sweep()
        #expect(try !blobs.exists(bases[0]))
        let note = try #require(baseFiles.first { $0.name == "note.txt" })
        #expect(try !blobs.exists(note.sha256))
    }
}
