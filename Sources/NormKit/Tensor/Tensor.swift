/// A dense, row-major, contiguous array of scalars with a shape.
///
/// `Tensor` carries data into and out of the layers; it is deliberately not a general array
/// library. Shapes may contain zero-sized dimensions (an empty batch is legal), and a shape of
/// `[]` holds a single scalar.
///
/// ```swift
/// let x = try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
/// x[1, 2]  // 6
/// ```
public struct Tensor<Scalar: NormScalar>: Sendable, Equatable {
    /// The size of each dimension, outermost first.
    public let shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.reduce(1, *)`.
    public internal(set) var scalars: [Scalar]

    /// Creates a tensor from a shape and its elements in row-major order.
    /// - Throws: ``NormError/invalidShape(_:)`` when a dimension is negative, or
    ///   ``NormError/scalarCountMismatch(shape:expected:actual:)`` when `scalars.count` is not the
    ///   product of `shape`.
    public init(shape: [Int], scalars: [Scalar]) throws {
        let expected = try Tensor.elementCount(of: shape)
        guard scalars.count == expected else {
            throw NormError.scalarCountMismatch(shape: shape, expected: expected, actual: scalars.count)
        }
        self.shape = shape
        self.scalars = scalars
    }

    /// Creates a tensor of `shape` with every element equal to `value`.
    /// Negative dimensions are treated as a programming error and trap.
    public init(repeating value: Scalar, shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor shape \(shape) has a negative dimension")
        self.shape = shape
        self.scalars = Array(repeating: value, count: shape.reduce(1, *))
    }

    /// Creates a tensor of zeros.
    public static func zeros(shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }

    /// Creates a tensor of ones.
    public static func ones(shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }

    /// Internal initializer for shapes already known to be valid.
    init(uncheckedShape shape: [Int], scalars: [Scalar]) {
        assert(shape.reduce(1, *) == scalars.count)
        self.shape = shape
        self.scalars = scalars
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The number of elements, the product of the shape.
    public var count: Int { scalars.count }

    /// The element at a multi-dimensional index. Out-of-range indices trap, as `Array` does.
    public subscript(indices: Int...) -> Scalar {
        get { scalars[offset(of: indices)] }
        set { scalars[offset(of: indices)] = newValue }
    }

    /// The row-major offset of a multi-dimensional index.
    func offset(of indices: [Int]) -> Int {
        precondition(indices.count == shape.count,
                     "Tensor index \(indices) has \(indices.count) components; the tensor has rank \(shape.count)")
        var offset = 0
        for (index, size) in zip(indices, shape) {
            precondition(index >= 0 && index < size, "Tensor index \(indices) is out of range for shape \(shape)")
            offset = offset * size + index
        }
        return offset
    }

    /// Converts each element to another scalar type.
    public func converted<Other: NormScalar>(to _: Other.Type = Other.self) -> Tensor<Other> {
        Tensor<Other>(uncheckedShape: shape, scalars: scalars.map { Other($0) })
    }

    /// The product of `shape`, or an error for a negative dimension.
    static func elementCount(of shape: [Int]) throws -> Int {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw NormError.invalidShape(shape) }
        return shape.reduce(1, *)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = scalars.prefix(16).map { "\($0)" }.joined(separator: ", ")
        let more = scalars.count > 16 ? ", …" : ""
        return "Tensor<\(Scalar.self)>(shape: \(shape), [\(shown)\(more)])"
    }
}

extension Tensor {
    /// The same elements under another shape with the same element count.
    /// - Throws: ``NormError/scalarCountMismatch(shape:expected:actual:)`` when the counts differ.
    public func reshaped(to newShape: [Int]) throws -> Tensor {
        try Tensor(shape: newShape, scalars: scalars)
    }
}
