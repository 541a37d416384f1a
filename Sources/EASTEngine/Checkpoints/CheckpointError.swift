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
