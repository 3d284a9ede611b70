/// The element types NormKit's layers compute with: `Float` and `Double`.
///
/// Every kernel is written once against this protocol. Statistics (means, variances, the sums of
/// the backward pass) are accumulated in ``Accumulator``, which is at least as wide as the scalar:
/// `Double` for both `Float` and `Double`, as PyTorch's CPU kernels do. Reduced-precision inputs
/// (Float16, bfloat16) will accumulate in `Float` the same way.
public protocol NormScalar: BinaryFloatingPoint, Sendable, CustomStringConvertible
where Accumulator.Accumulator == Accumulator {
    /// The type in which statistics are accumulated and saved for the backward pass.
    associatedtype Accumulator: NormScalar

    /// A short name of the type, as PyTorch spells the dtype (`float32`, `float64`).
    static var dtypeName: String { get }
}

extension Float: NormScalar {
    public typealias Accumulator = Double
    public static var dtypeName: String { "float32" }
}

extension Double: NormScalar {
    public typealias Accumulator = Double
    public static var dtypeName: String { "float64" }
}
