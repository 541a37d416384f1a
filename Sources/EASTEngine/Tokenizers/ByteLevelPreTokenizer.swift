/// Splits text into the pieces that byte-level BPE then encodes one by one,
/// as GPT-2's regex does, by hand (no Regex):
///
///   's|'t|'re|'ve|'m|'ll|'d | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ | \s+(?!\S) | \s+
///
/// That is: an English contraction; a run of letters, of numbers, or of other
/// symbols, each taking one space before it; and whitespace, where a run
/// followed by text leaves its last character to the next piece (so " a" in
/// "x  a" stays one piece: ["x", " ", " a"]).
///
/// With `splitDigits` (llama.cpp's "smollm" pre-tokenizer, the same as
/// SmolLM2's tokenizer.json: Digits(individual_digits) before ByteLevel),
/// every number character is first cut out as its own piece, and the GPT-2
/// split then runs on the text between. "a  1" → ["a", "  ", "1"], where
/// plain GPT-2 gives ["a", " ", " 1"].
public struct ByteLevelPreTokenizer: Sendable, Equatable {
    public var splitDigits: Bool

    public init(splitDigits: Bool) {
        self.splitDigits = splitDigits
    }

    /// The pieces of `text`; joined, they give `text` back.
    public func split(_ text: String) -> [String] {
        let s = Array(text.unicodeScalars)
        var pieces: [Range<Int>] = []
        if splitDigits {
            var start = 0
            for i in 0..<s.count where Self.isNumber(s[i]) {
                Self.gpt2Split(s, start, i, into: &pieces)
                pieces.append(i..<i + 1)
                start = i + 1
            }
            Self.gpt2Split(s, start, s.count, into: &pieces)
        } else {
            Self.gpt2Split(s, 0, s.count, into: &pieces)
        }
        return pieces.map { range in
            var piece = String.UnicodeScalarView()
            piece.append(contentsOf: s[range])
            return String(piece)
        }
    }

    static func isLetter(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: true
        default: false
        }
    }

    static func isNumber(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: true
        default: false
        }
    }

    static func isSpace(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace }

    /// GPT-2's split of s[start..<end], appended to `pieces`.
    static func gpt2Split(_ s: [Unicode.Scalar], _ start: Int, _ end: Int, into pieces: inout [Range<Int>]) {
        var i = start
        while i < end {
            let c = s[i]
            // 's 't 'm 'd, then 're 've 'll (lowercase only, as in the regex)
            if c == "'" && i + 1 < end {
                let n1 = s[i + 1]
                if n1 == "s" || n1 == "t" || n1 == "m" || n1 == "d" {
                    pieces.append(i..<i + 2)
                    i += 2
                    continue
                }
                if i + 2 < end {
                    let n2 = s[i + 2]
                    if (n1 == "r" && n2 == "e") || (n1 == "v" && n2 == "e") || (n1 == "l" && n2 == "l") {
                        pieces.append(i..<i + 3)
                        i += 3
                        continue
                    }
                }
            }
            // ' ?' then a run of one class: letters, numbers, or anything else but whitespace
            let k = (c == " " && i + 1 < end && !isSpace(s[i + 1])) ? i + 1 : i
            if !isSpace(s[k]) {
                let first = s[k]
                let sameClass: (Unicode.Scalar) -> Bool
                if isLetter(first) {
                    sameClass = isLetter
                } else if isNumber(first) {
                    sameClass = isNumber
                } else {
                    sameClass = { !isSpace($0) && !isLetter($0) && !isNumber($0) }
                }
                var j = k + 1
                while j < end && sameClass(s[j]) { j += 1 }
                pieces.append(i..<j)
                i = j
                continue
            }
            // whitespace: all of it at the end of the text; else all but the last
            // character (\s+(?!\S)), or the one character when the run is one long (\s+)
            var j = i
            while j < end && isSpace(s[j]) { j += 1 }
            let n = j - i
            let take = (j == end || n == 1) ? n : n - 1
            pieces.append(i..<i + take)
            i += take
        }
    }
}
