/// The half-precision storage types: `Float16` (IEEE binary16) and ``BFloat16``.
///
/// Tensors of these types hold half the bytes of `Float`, and every kernel computes in `Float`
/// (their ``NormScalar/ComputeScalar``), as PyTorch's CPU kernels do for `torch.half` and
/// `torch.bfloat16` (its "opmath" type): the element loops read the 16-bit values, widen them to
/// `Float` in registers and round each result to the storage type once, so a pass moves half
/// the bytes of a `Float` pass. Statistics accumulate in `Float` and `Double`, so an activation
/// whose square overflows the half type still gives finite statistics.
///
/// Two ways to use them, as in PyTorch:
/// - a `Float` layer applied to a `Tensor<Float16>` or `Tensor<BFloat16>` (the mixed path of
///   `torch.autocast` and of `bn(x.half())` with a float32 module): `Float` parameters and
///   running statistics, output and input gradient in the input's type;
/// - a layer of the half type itself (`BatchNorm2d<Float16>`, as `module.half()`): parameters,
///   running statistics and gradients are stored in the half type, and computed in `Float`.
public protocol HalfPrecisionScalar: NormScalar where ComputeScalar == Float {}

extension BFloat16: HalfPrecisionScalar {
    public typealias ComputeScalar = Float
    public static var dtypeName: String { "bfloat16" }
    public static func _runKernel(_ call: inout KernelCall<BFloat16>) { call.runHalfPrecision() }
}

#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
@available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
extension Float16: HalfPrecisionScalar {
    public typealias ComputeScalar = Float
    public static var dtypeName: String { "float16" }
    public static func _runKernel(_ call: inout KernelCall<Float16>) { call.runHalfPrecision() }
}
#endif

extension KernelCall where Scalar: HalfPrecisionScalar {
    /// Runs the request: the normalization kernels as for every type (`run()`, whose loops read
    /// and write the 16-bit values), conversions and sums through `Float` with the vectorized
    /// conversions. Called only from the conformances above, where `Scalar` is concrete.
    mutating func runHalfPrecision() {
        switch request {
        case let .toDoubles(values):
            response = .doubles(NativeLoops.floats(values).map { Double($0) })
        case let .toFloats(values):
            response = .floats(NativeLoops.floats(values))
        case let .fromFloats(values):
            response = .scalars(NativeLoops.halves(values))
        case let .sum(a, b):
            // Each sum rounded once, from Float.
            response = .scalars(NativeLoops.halves(zip(NativeLoops.floats(a), NativeLoops.floats(b)).map { $0 + $1 }))
        default:
            run()
        }
    }
}
