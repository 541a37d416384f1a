import EASTCore
import EASTTransport
import Foundation

/// Immutable blobs named by their SHA-256, each written whole before it is
/// visible: the network store of policies (`RedisBlobStore`, the default) or
/// a folder every host mounts (`SharedFolderBlobStore`).
///
/// Deletion races with writers that find a blob already there (two runs
/// starting from one backbone share its blobs): every `put` and `confirm`
/// marks the blob as just used, and `delete` spares blobs used within the
/// retention grace, checking and deleting in one atomic step. A writer
/// `confirm`s its blobs right before it names them in Redis, so a blob is
/// named by a recorded manifest or was used within the grace.
public protocol BlobStore {
    /// Stores `data` under its digest (only marks it used when present); the digest.
    @discardableResult
    func put(_ data: Data) throws -> String
    /// Marks the blobs used now; the digests of those that are missing.
    func confirm(_ digests: [String]) throws -> [String]
    /// The blob, verified against its digest; nil when absent. Bytes that
    /// do not hash to the digest are a `PolicyStoreError`.
    func get(_ digest: String) throws -> Data?
    func exists(_ digest: String) throws -> Bool
    /// Deletes the blob unless it was used within `grace` seconds: whether it is gone.
    @discardableResult
    func delete(_ digest: String, grace: Double) throws -> Bool
    /// Where the blobs live, for logs and errors.
    var name: String { get }
}

extension BlobStore {
    /// Checks fetched bytes against the digest they were fetched under.
    func verified(_ data: Data, _ digest: String, size: Int? = nil) throws -> Data {
        let actual = SHA256.hex(data)
        guard actual == digest, size.map({ $0 == data.count }) ?? true else {
            throw PolicyStoreError("blob \(digest) in \(name) does not verify (\(data.count) bytes with sha256 \(actual)): refused")
        }
        return data
    }
}

/// Blobs in Redis, the store every cluster has already (and under its ACL
/// and TLS): no new server, port or credential.
///
///   east:blob:<sha256>        hash: size, chunks (written last: the blob exists)
///   east:blob:<sha256>:<i>    string: chunk i, at most `chunkSize` bytes
///   east:blobs                sorted set: digest -> unix time it was last used
///
/// Chunks keep every command short (a few MiB), so a large policy never
/// blocks Redis for other clients; they go out `chunksPerRoundTrip` at a time.
///
/// Every operation is idempotent (blobs are named by their content), so each
/// runs again once after a lost connection is restored: a Redis restart
/// mid-save costs the writer a retry, not an error.
public final class RedisBlobStore: BlobStore {
    public static let chunkSize = 2 << 20
    static let chunksPerRoundTrip = 8
    static let usedKey = "east:blobs"
    let redis: RedisConnection

    public init(redis: RedisConnection) { self.redis = redis }

    public var name: String { "Redis (\(redis.endpoint))" }

    static func key(_ digest: String) -> String { "east:blob:\(digest)" }

    @discardableResult
    public func put(_ data: Data) throws -> String {
        try redis.retryingOnceIfLost {
            let digest = SHA256.hex(data)
            let key = Self.key(digest)
            let replies = try redis.pipeline([Self.markUsed([digest]), ["EXISTS", key]])
            if replies[1].integer == 1 { return digest }
            let chunks = try writeChunks(data, key: key, digest: digest)
            // Every chunk stops expiring, then the hash makes the blob exist.
            let persisted = try redis.pipeline((0..<chunks).flatMap { [["PERSIST", "\(key):\($0)"], ["EXISTS", "\(key):\($0)"]] })
            for (i, reply) in persisted.enumerated() where i % 2 == 1 && reply.integer != 1 {
                throw PolicyStoreError("cannot store blob \(digest) in \(name): chunk \(i / 2) vanished before the blob was finished")
            }
            // Waits for a replica under Sentinel: a promoted replica then holds
            // the blob's chunks too (WAIT covers the connection's earlier writes).
            if case let .error(message) = try redis.writeReplicated([["HSET", key, "size", String(data.count), "chunks", String(chunks)]])[0] {
                throw RedisError(context: "HSET", reason: message, connectionLost: false)
            }
            return digest
        }
    }

    /// A chunk expires after this many milliseconds unless its blob is
    /// finished: a writer that dies mid-blob leaves nothing for good.
    static let unfinishedChunkMilliseconds = 3_600_000

    /// Writes the chunks (expiring); their count.
    func writeChunks(_ data: Data, key: String, digest: String) throws -> Int {
        let chunks = stride(from: 0, to: data.count, by: Self.chunkSize).map { $0..<min($0 + Self.chunkSize, data.count) }
        for group in stride(from: 0, to: chunks.count, by: Self.chunksPerRoundTrip) {
            let commands = chunks[group..<min(group + Self.chunksPerRoundTrip, chunks.count)].enumerated().map { offset, range in
                // NX: a chunk already there (another writer's, the same bytes) keeps its state.
                [Array("SET".utf8), Array("\(key):\(group + offset)".utf8), Array(data[range]),
                 Array("NX".utf8), Array("PX".utf8), Array(String(Self.unfinishedChunkMilliseconds).utf8)]
            }
            for case let .error(message) in try redis.pipeline(bytes: commands) {
                throw PolicyStoreError("cannot store blob \(digest) in \(name): \(message)")
            }
        }
        return chunks.count
    }

    public func confirm(_ digests: [String]) throws -> [String] {
        try redis.retryingOnceIfLost {
            guard !digests.isEmpty else { return [] }
            let replies = try redis.pipeline([Self.markUsed(digests)] + digests.map { ["EXISTS", Self.key($0)] })
            return zip(digests, replies.dropFirst()).filter { $0.1.integer != 1 }.map(\.0)
        }
    }

    public func get(_ digest: String) throws -> Data? {
        try redis.retryingOnceIfLost {
            let key = Self.key(digest)
            guard let fields = try redis.command(["HMGET", key, "size", "chunks"]).array, fields.count == 2,
                  let size = fields[0].integer, let count = fields[1].integer else { return nil }
            var data = Data(capacity: size)
            for group in stride(from: 0, to: count, by: Self.chunksPerRoundTrip) {
                let indices = group..<min(group + Self.chunksPerRoundTrip, count)
                for (i, reply) in zip(indices, try redis.pipeline(indices.map { ["GET", "\(key):\($0)"] })) {
                    guard case let .bulk(bytes) = reply else {
                        throw PolicyStoreError("blob \(digest) in \(name): chunk \(i) of \(count) is missing: refused")
                    }
                    data.append(contentsOf: bytes)
                }
            }
            return try verified(data, digest, size: size)
        }
    }

    public func exists(_ digest: String) throws -> Bool {
        try redis.retryingOnceIfLost {
            try redis.command(["EXISTS", Self.key(digest)]).integer == 1
        }
    }

    /// Marks blobs used now. The time is the Redis server's (as in
    /// `deleteScript`), so hosts whose clocks disagree cannot shorten the grace.
    static let markScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
        for _, digest in ipairs(ARGV) do redis.call('ZADD', KEYS[1], now, digest) end
        return 1
        """

    static func markUsed(_ digests: [String]) -> [String] { ["EVAL", markScript, "1", usedKey] + digests }

    /// One script, so no writer can mark the blob used between the check and
    /// the deletion; the grace is measured on the Redis server's clock.
    static let deleteScript = """
        local used = redis.call('ZSCORE', KEYS[1], ARGV[1])
        local t = redis.call('TIME')
        local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
        if used and tonumber(used) > now - tonumber(ARGV[2]) then return 0 end
        local chunks = tonumber(redis.call('HGET', KEYS[2], 'chunks') or '0')
        redis.call('DEL', KEYS[2])
        for i = 0, chunks - 1 do redis.call('UNLINK', KEYS[2] .. ':' .. i) end
        redis.call('ZREM', KEYS[1], ARGV[1])
        return 1
        """

    @discardableResult
    public func delete(_ digest: String, grace: Double) throws -> Bool {
        try redis.retryingOnceIfLost {
            try redis.command(["EVAL", Self.deleteScript, "2", Self.usedKey, Self.key(digest), digest, String(grace)]).integer == 1
        }
    }
}
