/// The validated header of a safetensors buffer: every entry's dtype, shape and byte range,
/// checked against the buffer's size, so that reading the data cannot go out of bounds.
struct SafeTensorsHeader {
    struct Entry {
        var name: String
        var dtype: DType
        var shape: [Int]
        /// product(shape), which fits in `Int`.
        var count: Int
        /// The byte range within the data buffer.
        var begin: Int
        var end: Int
    }

    /// The entries, ordered by byte range.
    var entries: [Entry]
    var metadata: [String: String]
    /// Where the data buffer starts in the file: 8 + the header length.
    var dataStart: Int

    /// Checks, in the reference implementation's order: the header length, UTF-8 and JSON, each
    /// entry's form (in key order, so that the first error is always the same), then the byte
    /// ranges in offset order, then the buffer size.
    init(_ raw: UnsafeRawBufferPointer) throws(SafeTensorsProblem) {
        guard raw.count >= 8 else { throw .missingHeaderLength(byteCount: raw.count) }
        let length = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
        guard length <= UInt64(SafeTensors.maxHeaderLength) else {
            throw .headerTooLarge(length: length, limit: SafeTensors.maxHeaderLength)
        }
        guard Int(length) <= raw.count - 8 else { throw .headerPastEnd(headerLength: length, byteCount: raw.count) }
        dataStart = 8 + Int(length)
        let text = Array(raw[8..<dataStart])
        guard String(decoding: text, as: UTF8.self).utf8.elementsEqual(text) else { throw .headerNotUTF8 }
        let root = try StrictJSONParser.parse(text)
        guard case let .object(members) = root else { throw .headerNotObject(found: root.kind) }

        metadata = try SafeTensorsHeader.metadata(members["__metadata__"])
        entries = []
        for name in members.keys.sorted() where name != "__metadata__" {
            entries.append(try SafeTensorsHeader.entry(name, members[name]!))
        }
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var end = 0
        for entry in entries {
            guard entry.begin == end, entry.end >= entry.begin else {
                throw .rangeNotContiguous(key: entry.name, expectedBegin: end, dataOffsets: [entry.begin, entry.end])
            }
            let byteCount = entry.count * entry.dtype.byteWidth  // checked in entry(_:_:)
            guard entry.end - entry.begin == byteCount else {
                throw .byteCountMismatch(key: entry.name, expected: byteCount, actual: entry.end - entry.begin)
            }
            end = entry.end
        }
        guard end == raw.count - dataStart else { throw .bufferSizeMismatch(expected: end, actual: raw.count - dataStart) }
    }

    /// `__metadata__`: absent, `null`, or an object of strings.
    private static func metadata(_ value: JSONValue?) throws(SafeTensorsProblem) -> [String: String] {
        guard let value, value != .null else { return [:] }
        let invalid = SafeTensorsProblem.invalidEntry(key: "__metadata__", expected: "an object of strings", actual: value.jsonText)
        guard case let .object(members) = value else { throw invalid }
        var result: [String: String] = [:]
        for (key, member) in members {
            guard case let .string(text) = member else { throw invalid }
            result[key] = text
        }
        return result
    }

    /// One tensor entry: an object with a supported `dtype`, a `shape` of non-negative integers
    /// whose product (and byte count) fits in `Int`, and two non-negative integer `data_offsets`.
    /// Other members are ignored, as the reference does.
    private static func entry(_ name: String, _ value: JSONValue) throws(SafeTensorsProblem) -> Entry {
        guard case let .object(fields) = value else {
            throw .invalidEntry(key: name, expected: "an object with \"dtype\", \"shape\" and \"data_offsets\"", actual: value.jsonText)
        }
        guard case let .string(dtypeName)? = fields["dtype"] else {
            throw .invalidEntry(key: name, expected: "an object with a string \"dtype\"", actual: value.jsonText)
        }
        guard let dtype = DType(rawValue: dtypeName) else { throw .unsupportedDType(key: name, dtype: dtypeName) }
        guard case let .array(dimensions)? = fields["shape"], let shape = integers(dimensions) else {
            throw .invalidEntry(key: name, expected: "an object whose \"shape\" is an array of non-negative integers", actual: value.jsonText)
        }
        guard case let .array(offsets)? = fields["data_offsets"], offsets.count == 2, let range = integers(offsets) else {
            throw .invalidEntry(key: name, expected: "an object whose \"data_offsets\" are two non-negative integers", actual: value.jsonText)
        }
        // The product in order, every step checked, as the safetensors format's reference reader
        // takes it: a zero dimension after an overflow does not save the shape.
        let inOrder = shape.reduce(Optional(1)) { product, size in
            product.flatMap { let (next, overflow) = $0.multipliedReportingOverflow(by: size); return overflow ? nil : next }
        }
        guard inOrder != nil, let count = Tensor<Double>.checkedElementCount(shape),
              case let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteWidth), !overflow, bytes >= 0 else {
            throw .sizeOverflow(key: name, shape: shape)
        }
        return Entry(name: name, dtype: dtype, shape: shape, count: count, begin: range[0], end: range[1])
    }

    private static func integers(_ values: [JSONValue]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            guard let integer = value.nonNegativeInteger else { return nil }
            result.append(integer)
        }
        return result
    }
}
