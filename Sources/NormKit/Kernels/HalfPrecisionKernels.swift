/// The half-precision storage types: `Float16` (IEEE binary16) and ``BFloat16``.
///
/// Tensors of these types hold half the bytes of `Float`, and every kernel computes in `Float`,
/// as PyTorch's CPU kernels do for `torch.half` and `torch.bfloat16` (its "opmath" type):
/// statistics accumulate in `Float` and `Double`, so an activation whose square overflows the
/// half type still gives finite statistics, and each result is rounded to the storage type once.
///
/// Two ways to use them, as in PyTorch:
/// - a `Float` layer applied to a `Tensor<Float16>` or `Tensor<BFloat16>` (the mixed path of
///   `torch.autocast` and of `bn(x.half())` with a float32 module): `Float` parameters and
///   running statistics, output and input gradient in the input's type;
/// - a layer of the half type itself (`BatchNorm2d<Float16>`, as `module.half()`): parameters,
///   running statistics and gradients are stored in the half type, and computed in `Float`.
public protocol HalfPrecisionScalar: NormScalar {}

extension BFloat16: HalfPrecisionScalar {
    public static var dtypeName: String { "bfloat16" }
    public static func _runKernel(_ call: inout KernelCall<BFloat16>) { call.runInFloat() }
}

#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
@available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
extension Float16: HalfPrecisionScalar {
    public static var dtypeName: String { "float16" }
    public static func _runKernel(_ call: inout KernelCall<Float16>) { call.runInFloat() }
}
#endif

extension KernelCall where Scalar: HalfPrecisionScalar {
    /// Runs the request in `Float`: the half-precision arrays widen to `Float` (exactly), the
    /// `Float` kernel runs, and its arrays round back to the half type (to nearest, ties to even).
    /// Called only from the conformances above, where `Scalar` is concrete.
    mutating func runInFloat() {
        func widen(_ values: [Scalar]) -> [Float] { NativeLoops.floats(values) }
        func widen(_ values: [Scalar]?) -> [Float]? { values.map { widen($0) } }
        func narrow(_ values: [Float]) -> [Scalar] { NativeLoops.halves(values) }
        switch request {
        case let .normalizeWithBatchStatistics(input, geometry, centered, weight, bias, eps):
            guard case let .output(output, moments, invstd) = Kernels.call(KernelCall<Float>.Request.normalizeWithBatchStatistics(
                input: widen(input), geometry: geometry, centered: centered, weight: widen(weight), bias: widen(bias), eps: eps
            )) else { fatalError("kernel response") }
            response = .output(narrow(output), moments: moments, invstd: invstd)
        case let .moments(input, geometry):
            response = Self.translated(Kernels.call(KernelCall<Float>.Request.moments(input: widen(input), geometry: geometry)))
        case let .normalize(input, geometry, mean, invstd, weight, bias, inPlace):
            guard case let .output(output, _, _) = Kernels.call(KernelCall<Float>.Request.normalize(
                input: widen(input), geometry: geometry, mean: mean, invstd: invstd, weight: widen(weight), bias: widen(bias),
                inPlace: inPlace
            )) else { fatalError("kernel response") }
            response = .output(narrow(output), moments: nil, invstd: nil)
        case let .backward(input, gradOutput, geometry, mean, invstd, weight, mode, channelSums):
            guard case let .gradient(gradient, sums) = Kernels.call(KernelCall<Float>.Request.backward(
                input: widen(input), gradOutput: widen(gradOutput), geometry: geometry, mean: mean, invstd: invstd,
                weight: widen(weight), mode: mode, channelSums: channelSums
            )) else { fatalError("kernel response") }
            response = .gradient(narrow(gradient), sums: sums)
        case let .channelGradientSums(input, gradOutput, geometry, mean, invstd):
            response = Self.translated(Kernels.call(KernelCall<Float>.Request.channelGradientSums(
                input: widen(input), gradOutput: widen(gradOutput), geometry: geometry, mean: mean, invstd: invstd
            )))
        case let .toDoubles(values):
            response = .doubles(widen(values).map { Double($0) })
        case let .fromDoubles(values):
            response = .scalars(values.map { Scalar($0) })
        case let .toFloats(values):
            response = .floats(widen(values))
        case let .fromFloats(values):
            response = .scalars(narrow(values))
        case let .sum(a, b):
            response = .scalars(zip(a, b).map { Scalar(Float($0) + Float($1)) })
        case let .repeating(value, count):
            response = .scalars([Scalar](repeating: value, count: count))
        case let .permute(values, shape, toChannelsLast):
            response = .scalars(Kernels.permuted(values, shape: shape, toChannelsLast: toChannelsLast))
        }
    }

    /// A `Float` kernel's response that carries no arrays of the scalar type.
    private static func translated(_ response: KernelCall<Float>.Response) -> Response {
        switch response {
        case let .moments(moments): .moments(moments)
        case let .sums(sums): .sums(sums)
        case let .doubles(values): .doubles(values)
        case let .floats(values): .floats(values)
        default: fatalError("kernel response")
        }
    }
}
