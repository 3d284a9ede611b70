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

    /// The type NormKit's kernels compute in for this type, PyTorch's "opmath" type: `Float`
    /// for `Float16`, ``BFloat16`` and `Float`; `Double` for `Double`. Elements are stored in
    /// `Self` and widened on load; shifts, coefficients and affine parameters handed to the
    /// element loops are in this type (a `Float` layer's parameters serve half-precision input
    /// as they are).
    associatedtype ComputeScalar: NormScalar where ComputeScalar.ComputeScalar == ComputeScalar

    /// Runs one of NormKit's kernels, specialized for this type. This is an implementation detail
    /// of NormKit's specialization rule: call the layers or ``Functional`` instead.
    static func _runKernel(_ call: inout KernelCall<Self>)
}

extension Float: NormScalar {
    public typealias ComputeScalar = Float
    public static var dtypeName: String { "float32" }
}

extension Double: NormScalar {
    public typealias ComputeScalar = Double
    public static var dtypeName: String { "float64" }
}
