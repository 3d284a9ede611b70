/// `Float` modules on half-precision input: PyTorch's mixed path (a float32 module applied to a
/// `torch.half` or `torch.bfloat16` tensor, as under `torch.autocast` on the CPU).
///
/// The parameters, running statistics and gradients stay `Float`; the input widens to `Float`
/// (exactly), the module runs as it does on `Float` input, and the output and the input
/// gradient round to the input's type (to nearest, ties to even). Statistics accumulate in
/// `Float` and `Double`, so activations whose squares overflow the half type (beyond 256 for
/// `Float16`) still give finite running statistics.
extension Module where Scalar == Float {
    /// The forward pass on a `Tensor<Float16>` or `Tensor<BFloat16>`, returned in that type.
    ///
    /// - Throws: what the forward pass on `Float` input throws.
    public func callAsFunction<Half: HalfPrecisionScalar>(_ input: Tensor<Half>) throws -> Tensor<Half> {
        try callAsFunction(input.converted(to: Float.self)).converted(to: Half.self)
    }

    /// The backward pass for the last half-precision forward pass: ∂L/∂y in the input's type in,
    /// ∂L/∂x in that type out; parameter gradients accumulate in `Float`.
    ///
    /// - Throws: what the backward pass on `Float` input throws.
    public func backward<Half: HalfPrecisionScalar>(_ gradOutput: Tensor<Half>) throws -> Tensor<Half> {
        try backward(gradOutput.converted(to: Float.self)).converted(to: Half.self)
    }
}

/// The normalization layers run the mixed path natively: their loops read the 16-bit input,
/// compute in `Float` with the layer's `Float` parameters, and write the 16-bit output, so a
/// pass moves half the bytes of a `Float` pass (no widened copy of the tensor is made). Results
/// are those of the path above, rounded once.
extension NormalizationLayer where Scalar == Float {
    /// The forward pass on a `Tensor<Float16>` or `Tensor<BFloat16>`, returned in that type.
    ///
    /// - Throws: what the forward pass on `Float` input throws.
    public func callAsFunction<Half: HalfPrecisionScalar>(_ input: Tensor<Half>) throws -> Tensor<Half> {
        try run(input)
    }

    /// The backward pass for the last forward pass, which must have had `Half` input: ∂L/∂y in
    /// that type in, ∂L/∂x in that type out; parameter gradients accumulate in `Float`.
    ///
    /// - Throws: what the backward pass on `Float` input throws, and
    ///   ``NormError/invalidArgument(name:expected:actual:)`` when the last forward input had
    ///   another type.
    public func backward<Half: HalfPrecisionScalar>(_ gradOutput: Tensor<Half>) throws -> Tensor<Half> {
        try backwardPass(gradOutput)
    }
}
