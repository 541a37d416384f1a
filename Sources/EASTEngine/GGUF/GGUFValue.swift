/// One metadata value of a GGUF file. GGUF has thirteen value types; the
/// integers are kept apart here only as far as a reader needs: every integer
/// becomes `.int` (UInt64 values above Int.max are refused when read), every
/// float `.float`. Arrays hold values of one type, possibly nested.
public enum GGUFValue: Equatable, Sendable {
    case int(Int)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var intValue: Int? { if case .int(let v) = self { v } else { nil } }
    public var floatValue: Double? {
        switch self {
        case .float(let v): v
        case .int(let v): Double(v)
        default: nil
        }
    }
    public var boolValue: Bool? { if case .bool(let v) = self { v } else { nil } }
    public var stringValue: String? { if case .string(let v) = self { v } else { nil } }
    public var arrayValue: [GGUFValue]? { if case .array(let v) = self { v } else { nil } }

    /// The value type codes of the GGUF format (`gguf_type` in ggml).
    public enum TypeCode: UInt32, Sendable {
        case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6
        case bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12
    }
}
