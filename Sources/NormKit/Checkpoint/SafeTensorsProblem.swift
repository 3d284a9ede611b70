/// Why bytes are not a safetensors file NormKit can read; thrown as
/// ``NormError/invalidSafeTensors(_:)``.
///
/// A safetensors file is an 8-byte little-endian header length N, N bytes of UTF-8 JSON that map
/// each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (and an optional
/// `"__metadata__"` map of strings), then the data buffer. The checks are those of the reference
/// implementation (huggingface/safetensors), plus a refusal of repeated JSON keys, which it lets
/// the last one win.
public enum SafeTensorsProblem: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer than the 8 bytes of the header length.
    case missingHeaderLength(byteCount: Int)
    /// The header length is above ``SafeTensors/maxHeaderLength``.
    case headerTooLarge(length: UInt64, limit: Int)
    /// The header runs past the end of the data: a truncated file, or a wrong length.
    case headerPastEnd(headerLength: UInt64, byteCount: Int)
    /// The header is not valid UTF-8.
    case headerNotUTF8
    /// The header is not valid JSON; `offset` is the byte offset within the header.
    case invalidJSON(reason: String, offset: Int)
    /// A JSON object in the header has `key` twice.
    case duplicateKey(String)
    /// The header is JSON but not an object (`found` says what it is).
    case headerNotObject(found: String)
    /// An entry, or `__metadata__`, does not have the form the format requires.
    case invalidEntry(key: String, expected: String, actual: String)
    /// `dtype` is a dtype NormKit does not read (only `F32`, `F64`, `F16`, `BF16`, `I64`).
    case unsupportedDType(key: String, dtype: String)
    /// The tensor's element count, or its byte count, overflows `Int`.
    case sizeOverflow(key: String, shape: [Int])
    /// The tensor's byte range does not start where the previous one (in offset order) ended,
    /// or ends before it begins: the ranges must tile the data buffer without gaps or overlaps.
    case rangeNotContiguous(key: String, expectedBegin: Int, dataOffsets: [Int])
    /// The tensor's byte range does not hold product(shape) · dtype size bytes.
    case byteCountMismatch(key: String, expected: Int, actual: Int)
    /// The data buffer is not exactly as long as the tensors' ranges: truncated, or with
    /// trailing bytes.
    case bufferSizeMismatch(expected: Int, actual: Int)
    /// A tensor to write is named `__metadata__`, the key the format reserves.
    case reservedName

    public var description: String {
        switch self {
        case let .missingHeaderLength(byteCount):
            "the file has \(byteCount) bytes, fewer than the 8 of the header length"
        case let .headerTooLarge(length, limit):
            "the header length \(length) exceeds the limit of \(limit) bytes"
        case let .headerPastEnd(headerLength, byteCount):
            "the header of \(headerLength) bytes runs past the end of the file (\(byteCount) bytes); is the file truncated?"
        case .headerNotUTF8:
            "the header is not valid UTF-8"
        case let .invalidJSON(reason, offset):
            "the header is not valid JSON: \(reason) at byte \(offset)"
        case let .duplicateKey(key):
            "the header has the key \(JSONText.quoted(key)) twice"
        case let .headerNotObject(found):
            "the header must be a JSON object (got \(found))"
        case let .invalidEntry(key, expected, actual):
            "\(JSONText.quoted(key)) must be \(expected) (got \(actual))"
        case let .unsupportedDType(key, dtype):
            "\(JSONText.quoted(key)) has dtype \(JSONText.quoted(dtype)); NormKit reads "
                + DType.allCases.map(\.rawValue).joined(separator: ", ")
        case let .sizeOverflow(key, shape):
            "\(JSONText.quoted(key)) has shape \(shape), whose size overflows a 64-bit integer"
        case let .rangeNotContiguous(key, expectedBegin, dataOffsets):
            "\(JSONText.quoted(key)) has data_offsets \(dataOffsets), expected a range beginning at \(expectedBegin): "
                + "the tensors must tile the data buffer in order, without gaps or overlaps"
        case let .byteCountMismatch(key, expected, actual):
            "\(JSONText.quoted(key)) spans \(actual) bytes, but its shape and dtype need \(expected)"
        case let .bufferSizeMismatch(expected, actual):
            "the data buffer has \(actual) bytes, but the header describes \(expected); is the file truncated?"
        case .reservedName:
            "a tensor cannot be named \"__metadata__\", the key safetensors reserves for metadata"
        }
    }
}
