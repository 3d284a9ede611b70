/// How a tensor's elements are laid out in memory, as in PyTorch.
public enum MemoryFormat: String, Sendable, Equatable, CaseIterable {
    /// Row-major: NCHW for images, NCDHW for volumes (PyTorch's `torch.contiguous_format`).
    case contiguous
    /// Channels innermost: NHWC, NDHWC, NLC (PyTorch's `torch.channels_last` and
    /// `torch.channels_last_3d`). The shape stays `[N, C, spatial…]`; only memory order differs.
    case channelsLast
}

/// A dense array of scalars with a shape, stored row-major or channels-last.
///
/// `Tensor` carries data into and out of the layers; it is deliberately not a general array
/// library. Shapes may contain zero-sized dimensions (an empty batch is legal), and a shape of
/// `[]` holds a single scalar.
///
/// The shape is always the logical `[N, C, spatial…]`, and so are indexing and ``scalars``
/// (row-major order, whatever the memory format). ``storage`` is the memory order. A
/// channels-last tensor has rank 3 or more; for rank 2 or less both orders coincide and the
/// tensor is contiguous.
///
/// ```swift
/// let x = try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
/// x[1, 2]                                        // 6
/// let nhwc = image.withMemoryFormat(.channelsLast)  // same values, NHWC in memory
/// ```
public struct Tensor<Scalar: NormScalar>: Sendable {
    /// The size of each dimension, outermost first: `[N, C, spatial…]` in either memory format.
    public let shape: [Int]
    /// The order of ``storage``.
    public let memoryFormat: MemoryFormat
    /// The elements in memory order: row-major for ``MemoryFormat/contiguous``, N·spatial·C for
    /// ``MemoryFormat/channelsLast``.
    public internal(set) var storage: [Scalar]

    /// The elements in logical row-major order (`[N, C, spatial…]`), whatever the memory format;
    /// for a channels-last tensor this is a permuted copy.
    public internal(set) var scalars: [Scalar] {
        get { memoryFormat == .contiguous ? storage : Kernels.permute(storage, shape: shape, toChannelsLast: false) }
        set { storage = memoryFormat == .contiguous ? newValue : Kernels.permute(newValue, shape: shape, toChannelsLast: true) }
    }

    /// Creates a row-major tensor from a shape and its elements in row-major order.
    /// - Throws: ``NormError/invalidShape(_:)`` when a dimension is negative or the element count
    ///   overflows `Int`, or ``NormError/scalarCountMismatch(shape:expected:actual:)`` when
    ///   `scalars.count` is not the product of `shape`.
    public init(shape: [Int], scalars: [Scalar]) throws {
        try self.init(shape: shape, storage: scalars, memoryFormat: .contiguous)
    }

    /// Creates a tensor from its elements in memory order: `[N, C, H, W]` with NHWC storage, say.
    /// - Throws: as ``init(shape:scalars:)``.
    public init(shape: [Int], storage: [Scalar], memoryFormat: MemoryFormat) throws {
        let expected = try Tensor.elementCount(of: shape)
        guard storage.count == expected else {
            throw NormError.scalarCountMismatch(shape: shape, expected: expected, actual: storage.count)
        }
        self.init(uncheckedShape: shape, storage: storage, memoryFormat: memoryFormat)
    }

    /// Creates a row-major tensor of `shape` with every element equal to `value`.
    ///
    /// A shape with a negative dimension, or whose element count overflows `Int`, is a programming
    /// error and traps, as `Array(repeating:count:)` does for a negative count; build tensors from
    /// untrusted shapes with ``init(shape:scalars:)``, which throws ``NormError/invalidShape(_:)``.
    /// A valid shape whose memory cannot be allocated aborts the process (Swift arrays cannot
    /// report allocation failure).
    public init(repeating value: Scalar, shape: [Int]) {
        guard let count = Tensor.checkedElementCount(shape) else {
            preconditionFailure("\(NormError.invalidShape(shape))")
        }
        self.init(uncheckedShape: shape, scalars: Kernels.repeating(value, count: count))
    }

    /// Creates a tensor of zeros. Traps on an invalid shape, as ``init(repeating:shape:)``.
    public static func zeros(shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }

    /// Creates a tensor of ones. Traps on an invalid shape, as ``init(repeating:shape:)``.
    public static func ones(shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }

    /// Internal initializer for row-major data whose shape is known to be valid.
    init(uncheckedShape shape: [Int], scalars: [Scalar]) {
        self.init(uncheckedShape: shape, storage: scalars, memoryFormat: .contiguous)
    }

    /// Internal initializer for storage whose shape is known to be valid.
    init(uncheckedShape shape: [Int], storage: [Scalar], memoryFormat: MemoryFormat) {
        assert(Tensor.checkedElementCount(shape) == storage.count)
        self.shape = shape
        self.memoryFormat = shape.count >= 3 ? memoryFormat : .contiguous
        self.storage = storage
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The number of elements, the product of the shape.
    public var count: Int { storage.count }

    /// The same values stored in `format`; the tensor itself when it already is.
    public func withMemoryFormat(_ format: MemoryFormat) -> Tensor {
        guard rank >= 3, format != memoryFormat else { return self }
        return Tensor(uncheckedShape: shape, storage: Kernels.permute(storage, shape: shape, toChannelsLast: format == .channelsLast),
                      memoryFormat: format)
    }

    /// The element at a multi-dimensional index `[n, c, spatial…]`, in either memory format; it
    /// can be assigned (`x[1, 2] = 0.5`). An index with the wrong number of components or out of
    /// range traps, as `Array`'s subscript does.
    public subscript(indices: Int...) -> Scalar {
        get { storage[offset(of: indices)] }
        set { storage[offset(of: indices)] = newValue }
    }

    /// The storage offset of a logical multi-dimensional index.
    func offset(of indices: [Int]) -> Int {
        precondition(indices.count == shape.count,
                     "Tensor index \(indices) has \(indices.count) components; the tensor has rank \(shape.count)")
        var offset = 0
        for (index, size) in zip(indices, shape) {
            precondition(index >= 0 && index < size, "Tensor index \(indices) is out of range for shape \(shape)")
        }
        let order = memoryFormat == .contiguous ? Array(shape.indices) : [0] + Array(2..<shape.count) + [1]
        for axis in order { offset = offset * shape[axis] + indices[axis] }
        return offset
    }

    /// Converts each element to another scalar type, keeping the memory format: exactly where the
    /// other type holds every value (`Float16` or ``BFloat16`` to `Float`, anything to `Double`),
    /// else rounded once to nearest, ties to even.
    public func converted<Other: NormScalar>(to _: Other.Type = Other.self) -> Tensor<Other> {
        if let same = self as? Tensor<Other> { return same }
        let converted: [Other]
        if Scalar.self == Float.self {
            // Float to another type in one step (Float to half precision: the mixed path).
            converted = Kernels.scalars(fromFloats: unsafeBitCast(storage, to: [Float].self))
        } else if Other.self == Float.self {
            converted = unsafeBitCast(Kernels.floats(storage), to: [Other].self)
        } else {
            // Through Double, which holds every value of every NormScalar exactly.
            converted = Kernels.scalars(Kernels.doubles(storage))
        }
        return Tensor<Other>(uncheckedShape: shape, storage: converted, memoryFormat: memoryFormat)
    }

    /// The product of `shape`, or an error for a negative dimension or a product beyond `Int`.
    static func elementCount(of shape: [Int]) throws -> Int {
        guard let count = checkedElementCount(shape) else { throw NormError.invalidShape(shape) }
        return count
    }

    /// The product of `dimensions`, or `nil` when one is negative, or when the product, or its
    /// size in bytes (`Scalar`'s stride times the product), overflows `Int`. A zero dimension
    /// makes the product 0 whatever the others are, in any order: every shape product in NormKit
    /// goes through here (or through a tensor's own `count`).
    static func checkedElementCount<Dimensions: Sequence<Int>>(_ dimensions: Dimensions) -> Int? {
        var product = 1, overflowed = false, empty = false
        for size in dimensions {
            guard size >= 0 else { return nil }
            empty = empty || size == 0
            let (next, overflow) = product.multipliedReportingOverflow(by: size)
            overflowed = overflowed || overflow
            product = next
        }
        if empty { return 0 }
        return overflowed || product > Int.max / MemoryLayout<Scalar>.stride ? nil : product
    }
}

extension Tensor: Equatable {
    /// Equal shapes and equal values at every index; the memory formats may differ, as for
    /// `torch.equal`.
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        guard lhs.shape == rhs.shape else { return false }
        return lhs.memoryFormat == rhs.memoryFormat ? lhs.storage == rhs.storage : lhs.scalars == rhs.scalars
    }
}

// MARK: Filling and reading

extension Tensor: ExpressibleByArrayLiteral {
    /// A 1-D tensor from an array literal: `let x: Tensor<Float> = [1, 2, 3]` has shape `[3]`.
    public init(arrayLiteral elements: Scalar...) {
        self.init(elements)
    }

    /// A 1-D tensor of shape `[scalars.count]`.
    public init(_ scalars: [Scalar]) {
        self.init(uncheckedShape: [scalars.count], scalars: scalars)
    }

    /// A 2-D tensor from rows: `try Tensor<Float>([[1, 2, 3], [4, 5, 6]])` has shape `[2, 3]`;
    /// no rows give shape `[0, 0]`.
    /// - Throws: ``NormError/raggedArray(dimension:expected:actual:)`` when the rows differ in length.
    public init(_ rows: [[Scalar]]) throws {
        let (shape, scalars) = try Tensor.flatten(rows, dimension: 0)
        self.init(uncheckedShape: shape, scalars: scalars)
    }

    /// A 3-D tensor from nested arrays, outermost first. Throws as ``init(_:)-([[Scalar]])``.
    public init(_ matrices: [[[Scalar]]]) throws {
        let (shape, scalars) = try Tensor.flatten(matrices, dimension: 0)
        self.init(uncheckedShape: shape, scalars: scalars)
    }

    /// A 4-D tensor, `[N][C][H][W]`, from nested arrays. Throws as ``init(_:)-([[Scalar]])``.
    public init(_ images: [[[[Scalar]]]]) throws {
        let (shape, scalars) = try Tensor.flatten(images, dimension: 0)
        self.init(uncheckedShape: shape, scalars: scalars)
    }

    /// A 5-D tensor, `[N][C][D][H][W]`, from nested arrays. Throws as ``init(_:)-([[Scalar]])``.
    public init(_ volumes: [[[[[Scalar]]]]]) throws {
        let (shape, scalars) = try Tensor.flatten(volumes, dimension: 0)
        self.init(uncheckedShape: shape, scalars: scalars)
    }

    /// Rows of equal length, flattened; `dimension` is the depth of `rows` in the whole literal.
    static func flatten(_ rows: [[Scalar]], dimension: Int) throws -> (shape: [Int], scalars: [Scalar]) {
        let length = rows.first?.count ?? 0
        var scalars: [Scalar] = []
        scalars.reserveCapacity(rows.count * length)
        for row in rows {
            guard row.count == length else {
                throw NormError.raggedArray(dimension: dimension + 1, expected: length, actual: row.count)
            }
            scalars.append(contentsOf: row)
        }
        return ([rows.count, length], scalars)
    }

    static func flatten(_ blocks: [[[Scalar]]], dimension: Int) throws -> (shape: [Int], scalars: [Scalar]) {
        try stack(blocks.map { try flatten($0, dimension: dimension + 1) }, dimension: dimension, emptyRank: 2)
    }

    static func flatten(_ blocks: [[[[Scalar]]]], dimension: Int) throws -> (shape: [Int], scalars: [Scalar]) {
        try stack(blocks.map { try flatten($0, dimension: dimension + 1) }, dimension: dimension, emptyRank: 3)
    }

    static func flatten(_ blocks: [[[[[Scalar]]]]], dimension: Int) throws -> (shape: [Int], scalars: [Scalar]) {
        try stack(blocks.map { try flatten($0, dimension: dimension + 1) }, dimension: dimension, emptyRank: 4)
    }

    /// Flattened blocks of equal shape, one after the other.
    private static func stack(
        _ blocks: [(shape: [Int], scalars: [Scalar])], dimension: Int, emptyRank: Int
    ) throws -> (shape: [Int], scalars: [Scalar]) {
        let inner = blocks.first?.shape ?? [Int](repeating: 0, count: emptyRank)
        var scalars: [Scalar] = []
        scalars.reserveCapacity(blocks.count * (blocks.first?.scalars.count ?? 0))
        for block in blocks {
            if let axis = inner.indices.first(where: { inner[$0] != block.shape[$0] }) {
                throw NormError.raggedArray(dimension: dimension + 1 + axis, expected: inner[axis], actual: block.shape[axis])
            }
            scalars.append(contentsOf: block.scalars)
        }
        return ([blocks.count] + inner, scalars)
    }

    /// Calls `body` with the elements in memory order (``storage``) for reading, without a copy.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Scalar>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer(body)
    }

    /// Calls `body` with the elements in memory order (``storage``), to fill or edit them in place:
    /// row-major for a ``MemoryFormat/contiguous`` tensor, N·spatial·C for a
    /// ``MemoryFormat/channelsLast`` one. The shape and memory format cannot change; the buffer
    /// is valid only inside `body`. For single elements by logical index, assign through the
    /// subscript: `x[0, 2, 1, 1] = 5`.
    ///
    /// ```swift
    /// var x = Tensor<Float>.zeros(shape: [2, 3])
    /// x.withUnsafeMutableBufferPointer { buffer in
    ///     for i in buffer.indices { buffer[i] = Float(i) }
    /// }
    /// ```
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Scalar>) throws -> R
    ) rethrows -> R {
        try storage.withUnsafeMutableBufferPointer(body)
    }
}

extension Tensor {
    /// The same elements under another shape with the same element count. The result is
    /// row-major, except that reshaping to the same shape returns the tensor itself.
    /// - Throws: ``NormError/scalarCountMismatch(shape:expected:actual:)`` when the counts differ.
    public func reshaped(to newShape: [Int]) throws -> Tensor {
        if newShape == shape { return self }
        return try Tensor(shape: newShape, scalars: scalars)
    }
}
