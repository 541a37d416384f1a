import EASTCore
import EASTTransport
import Foundation

/// A worker's own cache of saved folders (`--cache-dir`), one per manifest:
///
///   <cache>/<manifest sha256>/      the folder's files and `manifest.json`
///
/// A folder appears whole (fetched into a staging folder, then renamed), and
/// is verified file by file against its manifest every time it is used: a
/// corrupted or truncated copy is deleted and fetched again from the store.
public struct PolicyCache: Sendable {
    public let root: URL
    static let manifestFile = "manifest.json"

    public init(root: URL) { self.root = root }

    public func folder(_ manifest: String) -> URL { root.appendingPathComponent(manifest) }

    /// A fresh folder to save into before its manifest is known.
    func stagingFolder() throws -> URL {
        let staging = root.appendingPathComponent(".staging-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        return staging
    }

    /// The manifest of a flat folder just saved (`staging`), written into it.
    func describe(_ staging: URL, base: String? = nil) throws -> (manifest: PolicyManifest, contents: [(file: PolicyManifest.File, data: Data)]) {
        var contents: [(PolicyManifest.File, Data)] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: staging.path).sorted() where !name.hasPrefix(".") && name != Self.manifestFile {
            let url = staging.appendingPathComponent(name)
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), !isFolder.boolValue else {
                throw PolicyStoreError("\(url.path): a saved policy must be a flat folder of files")
            }
            let data = try Data(contentsOf: url, options: .alwaysMapped)
            contents.append((PolicyManifest.File(name: name, sha256: SHA256.hex(data), size: data.count), data))
        }
        let manifest = PolicyManifest(files: contents.map(\.0), base: base)
        try AtomicFile.write(manifest.bytes, to: staging.appendingPathComponent(Self.manifestFile))
        return (manifest, contents)
    }

    /// Moves a staging folder into place under its manifest (a copy already there wins).
    func adopt(_ staging: URL, as manifest: String) {
        if rename(staging.path, folder(manifest).path) != 0 { try? FileManager.default.removeItem(at: staging) }
    }

    /// The verified folder of `manifest`, fetching it from `blobs` when it is
    /// missing here or does not verify.
    func materialize(_ manifest: String, from blobs: any BlobStore, log: (String) -> Void) throws -> URL {
        let target = folder(manifest)
        if FileManager.default.fileExists(atPath: target.path) {
            if let problem = verify(target, manifest) {
                log("cache copy of \(manifest) does not verify (\(problem)): fetching it again from \(blobs.name)")
                try? FileManager.default.removeItem(at: target)
            } else {
                return target
            }
        }
        let clock = Date()
        guard let manifestData = try blobs.get(manifest) else {
            throw PolicyStoreError("policy manifest \(manifest) is not in \(blobs.name) (deleted by retention, or never written)")
        }
        let decoded = try PolicyManifest.decode(manifestData, digest: manifest)
        let staging = try stagingFolder()
        do {
            for file in decoded.files {
                guard let data = try blobs.get(file.sha256) else {
                    throw PolicyStoreError("blob \(file.sha256) (\(file.name) of manifest \(manifest)) is not in \(blobs.name)")
                }
                guard data.count == file.size else {
                    throw PolicyStoreError("blob \(file.sha256) (\(file.name) of manifest \(manifest)) has \(data.count) bytes, not \(file.size): refused")
                }
                try data.write(to: staging.appendingPathComponent(file.name))
            }
            try manifestData.write(to: staging.appendingPathComponent(Self.manifestFile))
        } catch {
            try? FileManager.default.removeItem(at: staging)
            throw error
        }
        adopt(staging, as: manifest)
        log(String(format: "fetched manifest %@ (%d files, %d bytes) from %@ into %@ (%.3f s)", manifest, decoded.files.count,
                   decoded.files.map(\.size).reduce(0, +), blobs.name, root.path, Date().timeIntervalSince(clock)))
        return target
    }

    /// Why a cached folder is not the manifest's, or nil when every file verifies.
    func verify(_ folder: URL, _ manifest: String) -> String? {
        guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(Self.manifestFile).path) else {
            return "\(Self.manifestFile) is missing"
        }
        guard SHA256.hex(data) == manifest, let decoded = try? PolicyManifest.decode(data, digest: manifest) else {
            return "\(Self.manifestFile) does not hash to \(manifest)"
        }
        for file in decoded.files {
            guard let bytes = try? Data(contentsOf: folder.appendingPathComponent(file.name), options: .alwaysMapped) else {
                return "\(file.name) is missing"
            }
            if bytes.count != file.size || SHA256.hex(bytes) != file.sha256 { return "\(file.name) does not hash to \(file.sha256)" }
        }
        return nil
    }

    /// Deletes the cached folders whose manifests `isKept` no longer keeps
    /// (retention deleted them from the store), and leftover staging folders.
    func prune(isKept: (String) throws -> Bool) throws {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return }
        for name in names {
            if name.hasPrefix(".staging-") {
                // Another save may be writing it right now: only old ones are leftovers.
                let url = root.appendingPathComponent(name)
                if let date = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date,
                   date.timeIntervalSinceNow < -3600 { try? FileManager.default.removeItem(at: url) }
            } else if SHA256.isDigest(name), try !isKept(name) {
                try? FileManager.default.removeItem(at: root.appendingPathComponent(name))
            }
        }
    }
}
