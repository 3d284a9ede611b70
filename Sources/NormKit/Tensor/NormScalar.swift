/// The element types of NormKit's tensors and layers: `Float` and `Double`, which the kernels
/// compute in, and the half-precision storage types `Float16` and ``BFloat16``
/// (``HalfPrecisionScalar``), which they compute in `Float`.
///
/// Every kernel is written once against this protocol and runs specialized for each type (see
/// ``KernelCall``). Statistics (means, variances, the sums of the backward pass) are kept in
/// `Double`: element loops sum in the scalar type over short blocks (at most 2,048 elements, in
/// SIMD lanes), and the blocks are combined in `Double`.
public protocol NormScalar: BinaryFloatingPoint, Codable, Sendable, CustomStringConvertible {
    /// A short name of the type, as PyTorch spells the dtype (`float32`, `float64`).
    static var dtypeName: String { get }

    /// Runs one of NormKit's kernels, specialized for this type. This is an implementation detail
    /// of NormKit's specialization rule: call the layers or ``Functional`` instead.
    static func _runKernel(_ call: inout KernelCall<Self>)
}

extension Float: NormScalar {
    public static var dtypeName: String { "float32" }
}

extension Double: NormScalar {
    public static var dtypeName: String { "float64" }
}
