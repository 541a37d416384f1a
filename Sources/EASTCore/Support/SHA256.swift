import CTLS
import Foundation

/// SHA-256 (OpenSSL's, through CTLS): the content addresses of the policy
/// store's blobs and of reused samples.
public enum SHA256 {
    /// The digest as 64 lowercase hex digits.
    public static func hex(_ data: Data) -> String {
        var hasher = Hasher()
        hasher.update(data)
        return hasher.finish()
    }

    public static func hex(_ text: String) -> String { hex(Data(text.utf8)) }

    /// Whether `text` has the form of a digest (64 lowercase hex digits).
    public static func isDigest(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// A digest of data given piece by piece (e.g. a model's tensors one by one).
    public struct Hasher: ~Copyable {
        private let context: UnsafeMutableRawPointer

        public init() {
            guard let context = east_sha256_begin() else { fatalError("OpenSSL could not start a SHA-256") }
            self.context = context
        }

        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            precondition(east_sha256_update(context, bytes.baseAddress, bytes.count) == 0, "OpenSSL's SHA-256 failed")
        }

        public mutating func update(_ data: Data) { data.withUnsafeBytes { update($0) } }
        public mutating func update(_ text: String) { update(Data(text.utf8)) }

        /// The digest as 64 lowercase hex digits; the hasher is used up.
        public consuming func finish() -> String {
            var digest = [UInt8](repeating: 0, count: 32)
            let status = digest.withUnsafeMutableBufferPointer { east_sha256_finish(context, $0.baseAddress) }
            discard self
            precondition(status == 0, "OpenSSL's SHA-256 failed")
            return digest.map { String(format: "%02x", $0) }.joined()
        }

        deinit { var unused = [UInt8](repeating: 0, count: 32); _ = east_sha256_finish(context, &unused) }
    }
}
