import CTLS
import Foundation

/// SHA-256 (OpenSSL's, through CTLS): the names of the policy store's blobs.
public enum SHA256 {
    /// The digest as 64 lowercase hex digits.
    public static func hex(_ data: Data) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        let status = data.withUnsafeBytes { raw in
            digest.withUnsafeMutableBufferPointer { east_sha256(raw.baseAddress, raw.count, $0.baseAddress) }
        }
        precondition(status == 0, "OpenSSL's SHA-256 failed")
        return digest.map { String(format: "%02x", $0) }.joined()
    }

    public static func hex(_ text: String) -> String { hex(Data(text.utf8)) }

    /// Whether `text` has the form of a digest (64 lowercase hex digits).
    public static func isDigest(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
