/// One entry of a checkpoint: a shape and its elements in the entry's own ``DType``, row-major.
///
/// A ``Module``'s ``Module/typedStateDict()`` holds its parameters in the module's scalar type
/// (`F32` for `Float`, `F64` for `Double`) and `num_batches_tracked` as `I64`, as PyTorch's
/// `state_dict()` does; a safetensors file can hold any of the five dtypes.
///
/// ```swift
/// let weight = StateTensor(try Tensor<Float>(shape: [2], scalars: [1, 2]))  // F32, shape [2]
/// let count = StateTensor(int64: 3)                                        // I64, shape []
/// let half = try StateTensor(weight.tensor(as: Float.self), dtype: .float16)  // F16 bits
/// ```
public struct StateTensor: Equatable, Sendable {
    /// The elements, row-major, in one of the supported element types. The 16-bit formats are
    /// kept as their bit patterns.
    public enum Elements: Equatable, Sendable {
        case float32([Float])
        case float64([Double])
        case float16(bits: [UInt16])
        case bfloat16(bits: [UInt16])
        case int64([Int64])
    }

    /// The size of each dimension, outermost first; `[]` for a scalar.
    public let shape: [Int]
    /// The elements in row-major order.
    public let elements: Elements

    /// Creates an entry from a shape and its elements.
    /// - Throws: ``NormError/invalidShape(_:)`` when a dimension is negative or the element count
    ///   overflows `Int`, and ``NormError/scalarCountMismatch(shape:expected:actual:)`` when the
    ///   number of elements is not the product of `shape`.
    public init(shape: [Int], elements: Elements) throws {
        let expected = try Tensor<Double>.elementCount(of: shape)
        let actual = StateTensor.count(of: elements)
        guard actual == expected else {
            throw NormError.scalarCountMismatch(shape: shape, expected: expected, actual: actual)
        }
        self.init(uncheckedShape: shape, elements: elements)
    }

    init(uncheckedShape shape: [Int], elements: Elements) {
        self.shape = shape
        self.elements = elements
    }

    /// The tensor's values in its own type: `F32` for `Tensor<Float>`, `F64` for `Tensor<Double>`,
    /// in row-major order whatever the tensor's memory format.
    public init<Scalar: NormScalar>(_ tensor: Tensor<Scalar>) {
        let scalars = tensor.scalars
        if let floats = scalars as? [Float] {
            self.init(uncheckedShape: tensor.shape, elements: .float32(floats))
        } else {
            self.init(uncheckedShape: tensor.shape, elements: .float64(scalars.map { Double($0) }))
        }
    }

    /// The tensor's values stored as `dtype`: rounded to nearest, ties to even, for a narrower
    /// floating-point type (PyTorch's `tensor.to(dtype)`).
    /// - Throws: ``NormError/invalidArgument(name:expected:actual:)`` for ``DType/int64`` when a
    ///   value is not an integer that `Int64` holds (PyTorch would truncate it silently).
    public init<Scalar: NormScalar>(_ tensor: Tensor<Scalar>, dtype: DType) throws {
        let values = tensor.scalars
        let elements: Elements
        switch dtype {
        case .float32: elements = .float32(values.map { Float($0) })
        case .float64: elements = .float64(values.map { Double($0) })
        case .float16: elements = .float16(bits: values.map { HalfPrecisionBits.float16(from: Float($0)) })
        case .bfloat16: elements = .bfloat16(bits: values.map { HalfPrecisionBits.bfloat16(from: Float($0)) })
        case .int64:
            elements = .int64(try values.map { value in
                guard let integer = Int64(exactly: value) else {
                    throw NormError.invalidArgument(name: "a value stored as I64", expected: "an integer in Int64's range",
                                                    actual: "\(value)")
                }
                return integer
            })
        }
        self.init(uncheckedShape: tensor.shape, elements: elements)
    }

    /// A shape-`[]` `I64` entry, such as `num_batches_tracked`.
    public init(int64 value: Int64) {
        self.init(uncheckedShape: [], elements: .int64([value]))
    }

    /// The element type.
    public var dtype: DType {
        switch elements {
        case .float32: .float32
        case .float64: .float64
        case .float16: .float16
        case .bfloat16: .bfloat16
        case .int64: .int64
        }
    }

    /// The number of elements, the product of the shape.
    public var count: Int { StateTensor.count(of: elements) }

    private static func count(of elements: Elements) -> Int {
        switch elements {
        case let .float32(values): values.count
        case let .float64(values): values.count
        case let .float16(bits), let .bfloat16(bits): bits.count
        case let .int64(values): values.count
        }
    }

    /// The entry converted to a row-major `Tensor<Scalar>`, as PyTorch's `param.copy_(entry)`
    /// converts it: 16-bit floats widen exactly, `F64` into `Float` rounds to nearest, `I64`
    /// becomes the nearest floating-point value.
    public func tensor<Scalar: NormScalar>(as _: Scalar.Type = Scalar.self) -> Tensor<Scalar> {
        let scalars: [Scalar]
        switch elements {
        case let .float32(values): scalars = values as? [Scalar] ?? values.map { Scalar($0) }
        case let .float64(values): scalars = values as? [Scalar] ?? values.map { Scalar($0) }
        case let .float16(bits): scalars = bits.map { Scalar(HalfPrecisionBits.float(fromFloat16: $0)) }
        case let .bfloat16(bits): scalars = bits.map { Scalar(HalfPrecisionBits.float(fromBFloat16: $0)) }
        case let .int64(values): scalars = values.map { Scalar($0) }
        }
        return Tensor(uncheckedShape: shape, scalars: scalars)
    }

    /// Element `index` (row-major) as the non-negative integer count it must hold, for
    /// counters such as `num_batches_tracked`: an `I64`, or a floating-point value that is a
    /// whole number, in `0...limit`; `nil` otherwise.
    func count(at index: Int, limit: Int) -> Int? {
        switch elements {
        case let .int64(values): return (0...Int64(limit)).contains(values[index]) ? Int(values[index]) : nil
        default:
            let value = tensor(as: Double.self).scalars[index]
            return value >= 0 && value <= Double(limit) ? Int(exactly: value) : nil
        }
    }

    /// Element `index` (row-major) printed in its own type, for error messages.
    func description(at index: Int) -> String {
        switch elements {
        case let .float32(values): "\(values[index])"
        case let .float64(values): "\(values[index])"
        case let .float16(bits): "\(HalfPrecisionBits.float(fromFloat16: bits[index]))"
        case let .bfloat16(bits): "\(HalfPrecisionBits.float(fromBFloat16: bits[index]))"
        case let .int64(values): "\(values[index])"
        }
    }
}

/// A checkpoint: named entries, each in its own dtype, under PyTorch's state-dict keys
/// (`"0.running_mean"`, `"block.1.bn.num_batches_tracked"`).
public typealias StateDict = [String: StateTensor]
