import EASTCore
import EASTTransport
import Foundation

/// Blobs as files in a folder every host mounts (`--policy-store shared:/path`),
/// for clusters that have one: `<root>/blobs/<sha256>`, written under a
/// temporary name and renamed into place. A file's modification time is
/// when it was last used; `confirm` and `delete` hold an flock on
/// `<root>/blobs/.lock`, so a deletion never slips between a writer's check
/// and its use.
public final class SharedFolderBlobStore: BlobStore {
    public let root: URL

    public init(root: URL) { self.root = root.appendingPathComponent("blobs") }

    public var name: String { "the shared folder \(root.deletingLastPathComponent().path)" }

    func file(_ digest: String) -> URL { root.appendingPathComponent(digest) }

    @discardableResult
    public func put(_ data: Data) throws -> String {
        let digest = SHA256.hex(data)
        if try !confirm([digest]).isEmpty { try AtomicFile.write(data, to: file(digest)) }
        return digest
    }

    public func confirm(_ digests: [String]) throws -> [String] {
        try locked {
            digests.filter { digest in
                // Marks it used; fails when the file is missing.
                (try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: file(digest).path)) == nil
            }
        }
    }

    public func get(_ digest: String) throws -> Data? {
        guard let data = FileManager.default.contents(atPath: file(digest).path) else { return nil }
        return try verified(data, digest)
    }

    public func exists(_ digest: String) throws -> Bool { FileManager.default.fileExists(atPath: file(digest).path) }

    @discardableResult
    public func delete(_ digest: String, grace: Double) throws -> Bool {
        try locked {
            let path = file(digest).path
            guard let used = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date else { return true }
            guard used.timeIntervalSinceNow < -grace else { return false }
            try FileManager.default.removeItem(atPath: path)
            return true
        }
    }

    private func locked<T>(_ body: () throws -> T) throws -> T {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let fd = open(root.appendingPathComponent(".lock").path, O_CREAT | O_RDWR, 0o644)
        guard fd >= 0 else { throw PolicyStoreError("cannot open the lock file in \(root.path) (errno \(errno))") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw PolicyStoreError("cannot lock \(root.path) (errno \(errno))") }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}
