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
///
/// With `llama3Digits` set (llama.cpp's "llama-bpe" and "qwen2", the Split
/// regex of Llama 3's and Qwen2's tokenizer.json), the split is instead
///
///   (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,D} |
///    ?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
///
/// with D = 3 for Llama 3 (numbers in runs of up to three digits) and
/// D = 1 for Qwen2 (single digits): contractions in any case, letters taking
/// any one non-newline symbol before them ("$x", " x"), and newlines kept
/// with the whitespace before them.
public struct ByteLevelPreTokenizer: Sendable, Equatable {
    public var splitDigits: Bool
    /// D above for the Llama 3 / Qwen2 split, or nil for GPT-2's.
    public var llama3Digits: Int?

    public init(splitDigits: Bool, llama3Digits: Int? = nil) {
        self.splitDigits = splitDigits
        self.llama3Digits = llama3Digits
    }

    /// The split llama.cpp names `tokenizer.ggml.pre` (see `ByteLevelBPETokenizer.knownPreTokenizers`).
    public init(preName: String) {
        switch preName {
        case "llama-bpe", "llama3": self.init(splitDigits: false, llama3Digits: 3)
        case "qwen2": self.init(splitDigits: false, llama3Digits: 1)
        default: self.init(splitDigits: preName == "smollm")
        }
    }

    /// The pieces of `text`; joined, they give `text` back.
    public func split(_ text: String) -> [String] {
        let s = Array(text.unicodeScalars)
        var pieces: [Range<Int>] = []
        if let digits = llama3Digits {
            Self.llama3Split(s, maxDigits: digits, into: &pieces)
        } else if splitDigits {
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

    static func isNewline(_ c: Unicode.Scalar) -> Bool { c == "\r" || c == "\n" }

    /// Llama 3's (maxDigits 3) or Qwen2's (maxDigits 1) split of all of s,
    /// the regex above tried alternative by alternative at each position.
    static func llama3Split(_ s: [Unicode.Scalar], maxDigits: Int, into pieces: inout [Range<Int>]) {
        let end = s.count
        func isSymbol(_ c: Unicode.Scalar) -> Bool { !isSpace(c) && !isLetter(c) && !isNumber(c) }
        func lower(_ c: Unicode.Scalar) -> Unicode.Scalar { c.properties.lowercaseMapping.unicodeScalars.first ?? c }
        var i = 0
        while i < end {
            let c = s[i]
            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if c == "'" && i + 1 < end {
                let n1 = lower(s[i + 1])
                if n1 == "s" || n1 == "t" || n1 == "m" || n1 == "d" {
                    pieces.append(i..<i + 2); i += 2; continue
                }
                if i + 2 < end {
                    let n2 = lower(s[i + 2])
                    if (n1 == "r" && n2 == "e") || (n1 == "v" && n2 == "e") || (n1 == "l" && n2 == "l") {
                        pieces.append(i..<i + 3); i += 3; continue
                    }
                }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            let letterStart = isLetter(c) ? i
                : (!isNewline(c) && !isNumber(c) && i + 1 < end && isLetter(s[i + 1])) ? i + 1 : nil
            if let k = letterStart {
                var j = k + 1
                while j < end && isLetter(s[j]) { j += 1 }
                pieces.append(i..<j); i = j; continue
            }
            // \p{N}{1,maxDigits}
            if isNumber(c) {
                var j = i + 1
                while j < end && j - i < maxDigits && isNumber(s[j]) { j += 1 }
                pieces.append(i..<j); i = j; continue
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            let symbolStart = isSymbol(c) ? i : (c == " " && i + 1 < end && isSymbol(s[i + 1])) ? i + 1 : nil
            if let k = symbolStart {
                var j = k + 1
                while j < end && isSymbol(s[j]) { j += 1 }
                while j < end && isNewline(s[j]) { j += 1 }
                pieces.append(i..<j); i = j; continue
            }
            // whitespace from here to j
            var j = i
            while j < end && isSpace(s[j]) { j += 1 }
            // \s*[\r\n]+: up to and with the run's last newline
            if let last = (i..<j).last(where: { isNewline(s[$0]) }) {
                pieces.append(i..<last + 1); i = last + 1; continue
            }
            // \s+(?!\S) then \s+: all of it at the end, else all but the last unless it is one long
            let take = (j == end || j - i == 1) ? j - i : j - i - 1
            pieces.append(i..<i + take)
            i += take
        }
    }
}
