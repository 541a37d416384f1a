import Foundation

/// The real datasets in `../shared/datasets/` beside the project (never
/// copied into it). `EAST_DATASETS` overrides the location.
enum SharedDatasets {
    static let root: String = {
        if let dir = ProcessInfo.processInfo.environment["EAST_DATASETS"] { return dir }
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/datasets").path
    }()

    static func path(_ relative: String) -> String { root + "/" + relative }

    static var available: Bool { FileManager.default.fileExists(atPath: path("gsm8k/test.jsonl")) }
}
