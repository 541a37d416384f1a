import Foundation

/// Anything wrong with a file on disk: says which file and, where it applies,
/// which tensor, so that a bad checkpoint is a message and never a crash.
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let message: String

    public init(file: URL, message: String) {
        self.file = file.path
        self.message = message
    }

    public var description: String { "\(file): \(message)" }

    /// Reads a whole file, turning a missing or unreadable file into a CheckpointError.
    /// Memory-mapped where possible: a 500 MB checkpoint is not copied twice.
    static func reading(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw CheckpointError(file: url, message: "cannot read file (\(error.localizedDescription))")
        }
    }
}

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
