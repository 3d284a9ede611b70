import Foundation

/// The safetensors file format (huggingface/safetensors), read and written in pure Swift: the
/// format of `safetensors.torch.save_file(model.state_dict(), path)`.
///
/// Layout: an 8-byte little-endian header length N; N bytes of UTF-8 JSON,
/// `{"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, …,
/// "__metadata__": {"key": "value"}}`; then the data buffer, each tensor's elements row-major
/// and little-endian at `begin..<end` from the buffer's start.
///
/// Reading validates everything before it touches the data: the header length (at most
/// ``maxHeaderLength``), UTF-8, strict JSON without repeated keys, each entry's dtype (`F32`,
/// `F64`, `F16`, `BF16`, `I64`), shape and offsets, that the ranges tile the buffer exactly (as
/// the reference requires), and that each range holds product(shape) · dtype size bytes. Writing
/// produces the bytes the reference writer produces for the same tensors and metadata: tensors
/// ordered by dtype size then name, the header padded with spaces to a multiple of 8 bytes.
///
/// ```swift
/// try SafeTensors(tensors: model.typedStateDict(), metadata: ["epoch": "3"]).write(to: url)
/// let file = try SafeTensors(contentsOf: url)   // reads the file once, memory-mapped
/// file.tensors["0.num_batches_tracked"]?.dtype  // .int64
/// ```
public struct SafeTensors: Equatable, Sendable {
    /// The largest header NormKit reads, 100 MB, as the reference implementation.
    public static let maxHeaderLength = 100_000_000

    /// The tensors, by name.
    public var tensors: StateDict
    /// The string-to-string `__metadata__` map; empty when the file has none.
    public var metadata: [String: String]

    public init(tensors: StateDict, metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Decodes safetensors bytes.
    /// - Throws: ``NormError/invalidSafeTensors(_:)`` with the ``SafeTensorsProblem`` found.
    public init(data: Data) throws {
        let decoded = data.withUnsafeBytes { raw in
            Result { () throws(SafeTensorsProblem) in try SafeTensors.decode(raw) }
        }
        self = try decoded.mapError(NormError.invalidSafeTensors).get()
    }

    /// Reads a safetensors file, memory-mapped where the system can, once.
    /// - Throws: Foundation's error when the file cannot be read, and the errors of
    ///   ``init(data:)``.
    public init(contentsOf url: URL) throws {
        try self.init(data: Data(contentsOf: url, options: .mappedIfSafe))
    }

    /// The file's bytes.
    /// - Throws: ``NormError/invalidSafeTensors(_:)``: ``SafeTensorsProblem/reservedName`` for a
    ///   tensor named `__metadata__`, ``SafeTensorsProblem/headerTooLarge(length:limit:)`` for a
    ///   header no reader would accept.
    public func serialized() throws -> Data {
        guard tensors["__metadata__"] == nil else { throw NormError.invalidSafeTensors(.reservedName) }
        let ordered = tensors.sorted { a, b in
            a.value.dtype.writeOrder != b.value.dtype.writeOrder ? a.value.dtype.writeOrder < b.value.dtype.writeOrder
                : a.key.utf8.lexicographicallyPrecedes(b.key.utf8)
        }
        var entries: [String] = []
        if !metadata.isEmpty {
            let members = metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                .map { "\(JSONText.quoted($0.key)):\(JSONText.quoted($0.value))" }
            entries.append("\"__metadata__\":{" + members.joined(separator: ",") + "}")
        }
        var offset = 0
        for (name, tensor) in ordered {
            let end = offset + tensor.count * tensor.dtype.byteWidth
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append("\(JSONText.quoted(name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        header += repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8)
        guard header.count <= SafeTensors.maxHeaderLength else {
            throw NormError.invalidSafeTensors(.headerTooLarge(length: UInt64(header.count), limit: SafeTensors.maxHeaderLength))
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + header.count + offset)
        appendLittleEndian(UInt64(header.count), to: &bytes)
        bytes += header
        for (_, tensor) in ordered { appendLittleEndian(tensor.elements, to: &bytes) }
        return Data(bytes)
    }

    /// Writes ``serialized()`` to `url` atomically: a failed write leaves no partial file.
    /// - Throws: the errors of ``serialized()``, and Foundation's error when the file cannot be written.
    public func write(to url: URL) throws {
        try serialized().write(to: url, options: .atomic)
    }
}

// MARK: Decoding

extension SafeTensors {
    /// Validates the header of `raw`, then copies each tensor out of the data buffer.
    static func decode(_ raw: UnsafeRawBufferPointer) throws(SafeTensorsProblem) -> SafeTensors {
        let header = try SafeTensorsHeader(raw)
        var tensors: StateDict = [:]
        for entry in header.entries {
            let elements = readLittleEndian(raw, dtype: entry.dtype, from: header.dataStart + entry.begin, count: entry.count)
            tensors[entry.name] = StateTensor(uncheckedShape: entry.shape, elements: elements)
        }
        return SafeTensors(tensors: tensors, metadata: header.metadata)
    }

    /// `count` elements of `dtype` at byte `offset`, which the header check has bounded.
    private static func readLittleEndian(_ raw: UnsafeRawBufferPointer, dtype: DType, from offset: Int, count: Int) -> StateTensor.Elements {
        func load<Bits: FixedWidthInteger>(_: Bits.Type) -> [Bits] {
            (0..<count).map { Bits(littleEndian: raw.loadUnaligned(fromByteOffset: offset + $0 * MemoryLayout<Bits>.size, as: Bits.self)) }
        }
        switch dtype {
        case .float32: return .float32(load(UInt32.self).map(Float.init(bitPattern:)))
        case .float64: return .float64(load(UInt64.self).map(Double.init(bitPattern:)))
        case .float16: return .float16(bits: load(UInt16.self))
        case .bfloat16: return .bfloat16(bits: load(UInt16.self))
        case .int64: return .int64(load(Int64.self))
        }
    }
}

// MARK: Encoding

private func appendLittleEndian<Bits: FixedWidthInteger>(_ value: Bits, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
}

private func appendLittleEndian(_ elements: StateTensor.Elements, to bytes: inout [UInt8]) {
    switch elements {
    case let .float32(values): for value in values { appendLittleEndian(value.bitPattern, to: &bytes) }
    case let .float64(values): for value in values { appendLittleEndian(value.bitPattern, to: &bytes) }
    case let .float16(bits), let .bfloat16(bits): for value in bits { appendLittleEndian(value, to: &bytes) }
    case let .int64(values): for value in values { appendLittleEndian(value, to: &bytes) }
    }
}
