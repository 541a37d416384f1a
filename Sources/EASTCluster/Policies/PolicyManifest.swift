import EASTCore
import EASTTransport
import Foundation

/// What one saved folder holds (a policy version, or the trainer's resume
/// point): every file with its SHA-256 and size. The manifest is itself a
/// blob, and its own digest names the folder: messages and Redis carry that
/// digest, never a path, and whoever holds it can fetch and verify every byte.
public struct PolicyManifest: Codable, Equatable, Sendable {
    public struct File: Codable, Equatable, Sendable {
        public var name: String
        public var sha256: String
        public var size: Int
    }

    /// Sorted by name, so the same folder always gives the same manifest.
    public var files: [File]
    /// For a LoRA adapter's save: the manifest of its frozen base (the GGUF
    /// file or checkpoint folder, stored once as a folder of its own), so a
    /// host without the base at `base.json`'s path fetches it too. Absent
    /// (and so not in the digest) for full checkpoints.
    public var base: String?

    public init(files: [File], base: String? = nil) {
        self.files = files.sorted { $0.name < $1.name }
        self.base = base
    }

    /// The canonical bytes (keys sorted, compact), whose SHA-256 is the digest.
    public var bytes: Data { try! JSONCoding.encode(self) }

    public var digest: String { SHA256.hex(bytes) }

    /// Reads a manifest fetched under `digest`, refusing file names that
    /// would leave the folder (a manifest only names files inside it).
    public static func decode(_ data: Data, digest: String) throws -> PolicyManifest {
        let manifest = try JSONCoding.decode(PolicyManifest.self, from: data, what: "policy manifest \(digest)")
        if let base = manifest.base, !SHA256.isDigest(base) {
            throw PolicyStoreError("policy manifest \(digest) names an invalid base manifest \(base)")
        }
        for file in manifest.files {
            guard !file.name.isEmpty, !file.name.contains("/"), !file.name.hasPrefix("."), SHA256.isDigest(file.sha256), file.size >= 0 else {
                throw PolicyStoreError("policy manifest \(digest) names an invalid file \(file.name) (\(file.sha256), \(file.size) bytes)")
            }
        }
        return manifest
    }
}

/// A policy the store cannot give: missing, not verifying, or not the
/// version's. A `MessageError` reason, so the message naming it is refused
/// and dead-lettered rather than retried.
public struct PolicyStoreError: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
