/// `Float` modules on half-precision input: PyTorch's mixed path (a float32 module applied to a
/// `torch.half` or `torch.bfloat16` tensor, as under `torch.autocast` on the CPU).
///
/// The parameters, running statistics and gradients stay `Float`; the output and the input
/// gradient come back in the input's type. The normalization layers run this path natively:
/// their loops read the 16-bit input, compute in `Float` with the layer's `Float` parameters and
/// write the 16-bit output, so a pass moves half the bytes of a `Float` pass, and each result is
/// the `Float` layer's on the widened input, rounded once. A ``Sequential`` hands each child the
/// previous child's 16-bit output, as PyTorch does. Statistics accumulate in `Float` and
/// `Double`, so activations whose squares overflow the half type (beyond 256 for `Float16`)
/// still give finite running statistics.
extension Module where Scalar == Float {
    /// The forward pass on a `Tensor<Float16>` or `Tensor<BFloat16>`, returned in that type.
    ///
    /// - Throws: what the forward pass on `Float` input throws.
    public func callAsFunction<Half: HalfPrecisionScalar>(_ input: Tensor<Half>) throws -> Tensor<Half> {
        try _callAsFunction(input)
    }

    /// The backward pass for the last forward pass, which must have had `Half` input: ∂L/∂y in
    /// that type in, ∂L/∂x in that type out; parameter gradients accumulate in `Float`.
    ///
    /// - Throws: what the backward pass on `Float` input throws, and, from a normalization
    ///   layer, ``NormError/invalidArgument(name:expected:actual:)`` when its last forward input
    ///   had another type.
    public func backward<Half: HalfPrecisionScalar>(_ gradOutput: Tensor<Half>) throws -> Tensor<Half> {
        try _backward(gradOutput)
    }
}

extension Module {
    /// Through `Scalar`: the input widens (exactly), the module runs as on `Scalar` input, and
    /// the output rounds back to the input's type (to nearest, ties to even).
    public func _callAsFunction<Input: NormScalar>(_ input: Tensor<Input>) throws -> Tensor<Input>
    where Input.ComputeScalar == Scalar.ComputeScalar {
        if let same = input as? Tensor<Scalar> { return try callAsFunction(same) as! Tensor<Input> }
        return try callAsFunction(input.converted(to: Scalar.self)).converted(to: Input.self)
    }

    /// Through `Scalar`, as ``_callAsFunction(_:)``.
    public func _backward<Input: NormScalar>(_ gradOutput: Tensor<Input>) throws -> Tensor<Input>
    where Input.ComputeScalar == Scalar.ComputeScalar {
        if let same = gradOutput as? Tensor<Scalar> { return try backward(same) as! Tensor<Input> }
        return try backward(gradOutput.converted(to: Scalar.self)).converted(to: Input.self)
    }
}
