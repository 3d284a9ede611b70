/// A JSON value as the safetensors header needs it. Numbers keep their literal text, so that a
/// caller decides what an integer is without going through `Double`.
indirect enum JSONValue: Equatable {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    /// What the value is, for error messages: "an object", "a string", ….
    var kind: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }

    /// The literal as a non-negative `Int`: digits only, no sign, fraction or exponent, and not
    /// larger than `Int.max`; `nil` otherwise.
    var nonNegativeInteger: Int? {
        guard case let .number(text) = self, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return Int(text)
    }

    /// The value as compact JSON text, for error messages.
    var jsonText: String {
        switch self {
        case let .object(members):
            "{" + members.keys.sorted().map { "\(JSONText.quoted($0)):\(members[$0]!.jsonText)" }.joined(separator: ",") + "}"
        case let .array(elements): "[" + elements.map(\.jsonText).joined(separator: ",") + "]"
        case let .string(text): JSONText.quoted(text)
        case let .number(text): text
        case let .bool(value): "\(value)"
        case .null: "null"
        }
    }
}

/// A JSON parser (RFC 8259) that, unlike `JSONSerialization`, refuses an object with a repeated
/// key, bounds its nesting depth, and reports the byte offset of what it refuses, as
/// ``SafeTensorsProblem/invalidJSON(reason:offset:)`` or ``SafeTensorsProblem/duplicateKey(_:)``.
/// It reads UTF-8 bytes that the caller has already validated.
struct StrictJSONParser {
    /// Deeper nesting is refused rather than recursed into (serde_json, which the safetensors
    /// reference uses, stops at 128).
    static let maxDepth = 128

    private let bytes: [UInt8]
    private var position = 0

    /// Parses `bytes` as one JSON value, optionally surrounded by whitespace.
    static func parse(_ bytes: [UInt8]) throws(SafeTensorsProblem) -> JSONValue {
        var parser = StrictJSONParser(bytes: bytes)
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.failure("unexpected text after the JSON value") }
        return value
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    private func failure(_ reason: String) -> SafeTensorsProblem {
        .invalidJSON(reason: reason, offset: position)
    }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
    }

    private mutating func expect(_ literal: String) throws(SafeTensorsProblem) {
        for byte in literal.utf8 {
            guard current == byte else { throw failure("expected \"\(literal)\"") }
            position += 1
        }
    }

    private mutating func parseValue(depth: Int) throws(SafeTensorsProblem) -> JSONValue {
        guard depth < StrictJSONParser.maxDepth else { throw failure("nesting deeper than \(StrictJSONParser.maxDepth) levels") }
        skipWhitespace()
        switch current {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case let byte? where byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte):
            return .number(try parseNumber())
        case nil: throw failure("unexpected end of the JSON text")
        default: throw failure("unexpected character")
        }
    }

    private mutating func parseObject(depth: Int) throws(SafeTensorsProblem) -> JSONValue {
        position += 1  // {
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw failure("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            try expect(":")
            let value = try parseValue(depth: depth + 1)
            guard members.updateValue(value, forKey: key) == nil else { throw .duplicateKey(key) }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return .object(members)
            default: throw failure("expected \",\" or \"}\" in an object")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(SafeTensorsProblem) -> JSONValue {
        position += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            elements.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return .array(elements)
            default: throw failure("expected \",\" or \"]\" in an array")
            }
        }
    }

    /// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, returned as written.
    private mutating func parseNumber() throws(SafeTensorsProblem) -> String {
        let start = position
        func isDigit(_ byte: UInt8?) -> Bool { byte.map { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } ?? false }
        if current == UInt8(ascii: "-") { position += 1 }
        guard isDigit(current) else { throw failure("expected a digit") }
        if current == UInt8(ascii: "0") {
            position += 1
        } else {
            while isDigit(current) { position += 1 }
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard isDigit(current) else { throw failure("expected a digit after the decimal point") }
            while isDigit(current) { position += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard isDigit(current) else { throw failure("expected a digit in the exponent") }
            while isDigit(current) { position += 1 }
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private mutating func parseString() throws(SafeTensorsProblem) -> String {
        position += 1  // "
        var scalars = String.UnicodeScalarView()
        var runStart = position
        func flushRun(_ end: Int) {
            scalars.append(contentsOf: String(decoding: bytes[runStart..<end], as: UTF8.self).unicodeScalars)
        }
        while true {
            guard let byte = current else { throw failure("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                flushRun(position)
                position += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                flushRun(position)
                position += 1
                scalars.append(try parseEscape())
                runStart = position
            case 0..<0x20:
                throw failure("control character in a string")
            default:
                position += 1
            }
        }
    }

    /// The character after a backslash; `\u` escapes may form a UTF-16 surrogate pair.
    private mutating func parseEscape() throws(SafeTensorsProblem) -> Unicode.Scalar {
        guard let byte = current else { throw failure("unterminated escape") }
        position += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let unit = try parseHexUnit()
            if (0xD800..<0xDC00).contains(unit) {
                guard current == UInt8(ascii: "\\") else { throw failure("lone leading surrogate in a \\u escape") }
                position += 1
                try expect("u")
                let low = try parseHexUnit()
                guard (0xDC00..<0xE000).contains(low) else { throw failure("invalid trailing surrogate in a \\u escape") }
                return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))!
            }
            guard let scalar = Unicode.Scalar(unit) else { throw failure("lone trailing surrogate in a \\u escape") }
            return scalar
        default:
            position -= 1
            throw failure("invalid escape")
        }
    }

    private mutating func parseHexUnit() throws(SafeTensorsProblem) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current, let digit = Int(String(UnicodeScalar(byte)), radix: 16) else {
                throw failure("expected four hexadecimal digits in a \\u escape")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }
}

/// JSON text as the safetensors reference writer (serde_json) spells it.
enum JSONText {
    /// `text` as a JSON string: `"` and `\` escaped, control characters as `\n`, `\t`, … or
    /// `\u00XX`, everything else (non-ASCII included) as is.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{08}": result += "\\b"
            case "\u{0C}": result += "\\f"
            case "\u{00}"..."\u{1F}":
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
