import Foundation

/// Writes files so that readers see either the old content or the new,
/// never half a file (a crash mid-write included): the data goes to a
/// temporary file in the same folder, is flushed, then renamed over the
/// target (rename within one file system is atomic). Used for every output
/// east writes: CLI results, checkpoints, reports.
public enum AtomicFile {
    public struct WriteError: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let reason: String
        public init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }
        public var description: String { "\(path): \(reason)" }
    }

    public static func write(_ text: String, to path: String) throws {
        try write(Data(text.utf8), to: URL(fileURLWithPath: path))
    }

    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { try $0.write(contentsOf: data) }
    }

    /// Lets `body` write the file piece by piece (a large checkpoint need not
    /// be assembled in memory first), then renames it into place.
    public static func write(to url: URL, body: (FileHandle) throws -> Void) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
                throw WriteError(path: url.path, reason: "cannot create a temporary file in \(directory.path)")
            }
            let handle = try FileHandle(forWritingTo: temporary)
            do {
                try body(handle)
                try handle.synchronize()
                try handle.close()
            } catch {
                try? handle.close()
                throw error
            }
            if rename(temporary.path, url.path) != 0 {
                throw WriteError(path: url.path, reason: "cannot rename the temporary file into place (errno \(errno))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            if error is WriteError { throw error }
            throw WriteError(path: url.path, reason: "cannot write (\(error.localizedDescription))")
        }
    }
}
