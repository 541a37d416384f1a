import Foundation

/// Writes a file so that a crash never leaves a half-written one: the data goes
/// to a temporary file in the same directory, which is then renamed over the
/// target (rename within one file system is atomic).
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { try $0.write(contentsOf: data) }
    }

    /// Lets `body` write the file piece by piece (large checkpoints need not
    /// be assembled in memory first), then renames it into place.
    public static func write(to url: URL, body: (FileHandle) throws -> Void) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
                throw CheckpointError(file: url, message: "cannot create a temporary file in \(directory.path)")
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
                throw CheckpointError(file: url, message: "cannot rename temporary file (errno \(errno))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            if error is CheckpointError { throw error }
            throw CheckpointError(file: url, message: "cannot write file (\(error.localizedDescription))")
        }
    }
}
