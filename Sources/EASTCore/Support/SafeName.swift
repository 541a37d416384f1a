/// Names that become file and folder names and Redis key parts (run ids,
/// experiment and worker names): letters, digits, `-`, `_` and `.`, not
/// starting with `.`, at most 100 characters. `../x` would write outside the
/// folder it names a child of.
public enum SafeName {
    public struct Invalid: Error, CustomStringConvertible, Equatable, Sendable {
        public let what: String
        public let name: String
        public var description: String {
            "\(what) \"\(name)\" must be 1 to 100 letters, digits, - _ or . (not first)"
        }
    }

    public static func check(_ name: String, what: String) throws(Invalid) {
        guard !name.isEmpty, name.count <= 100, !name.hasPrefix("."),
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
        else { throw Invalid(what: what, name: name) }
    }
}
