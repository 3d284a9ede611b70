extension Functional {
    /// Layer normalization over the trailing dimensions given by `normalizedShape`.
    /// Ba, Kiros & Hinton, "Layer Normalization", arXiv:1607.06450.
    ///
    /// y = (x − E[x]) / √(Var[x] + ε) · γ + β, E and Var over the last `normalizedShape.count`
    /// axes; γ and β have the normalized shape and apply elementwise.
    ///
    /// - Parameters:
    ///   - input: `(*, normalizedShape…)`; the output has the input's memory format.
    ///   - normalizedShape: the trailing shape to normalize over; not empty.
    ///   - weight: γ, of shape `normalizedShape`, or `nil` (γ = 1).
    ///   - bias: β, of shape `normalizedShape`, or `nil` (β = 0).
    ///   - eps: ε; default 1e-5.
    /// - Throws: ``NormError/normalizedShapeMismatch(normalizedShape:inputShape:)`` and
    ///   ``NormError/argumentShapeMismatch(argument:expected:actual:)``.
    public static func layerNorm<Scalar: NormScalar>(
        _ input: Tensor<Scalar>, normalizedShape: [Int], weight: Tensor<Scalar>? = nil,
        bias: Tensor<Scalar>? = nil, eps: Double = 1e-5
    ) throws -> NormalizationResult<Scalar> {
        try layerNormForward(input, normalizedShape: normalizedShape, weight: weight, bias: bias, eps: eps).normalization
    }

    /// ``layerNorm(_:normalizedShape:weight:bias:eps:)`` with parameters of another type than the
    /// input (see ``ForwardResult``).
    static func layerNormForward<Input: NormScalar, Parameter: NormScalar>(
        _ input: Tensor<Input>, normalizedShape: [Int], weight: Tensor<Parameter>?, bias: Tensor<Parameter>?, eps: Double
    ) throws -> ForwardResult<Input, Parameter> where Parameter.ComputeScalar == Input.ComputeScalar {
        let geometry = try trailingGeometry(of: input, normalizedShape: normalizedShape)
        try checkPerChannel(weight, named: "weight", shape: normalizedShape)
        try checkPerChannel(bias, named: "bias", shape: normalizedShape)
        return normalizeTrailing(input, geometry: geometry, normalizedShape: normalizedShape, centered: true,
                                 weight: weight, bias: bias, eps: eps)
    }

    /// Root-mean-square normalization over the trailing dimensions given by `normalizedShape`.
    /// Zhang & Sennrich, "Root Mean Square Layer Normalization", arXiv:1910.07467.
    ///
    /// y = x / √(E[x²] + ε) · γ, E over the last `normalizedShape.count` axes. With `eps == nil`,
    /// ε is the machine epsilon of `Scalar` (`Scalar.ulpOfOne`), as in PyTorch.
    ///
    /// - Throws: as ``layerNorm(_:normalizedShape:weight:bias:eps:)``.
    public static func rmsNorm<Scalar: NormScalar>(
        _ input: Tensor<Scalar>, normalizedShape: [Int], weight: Tensor<Scalar>? = nil, eps: Double? = nil
    ) throws -> NormalizationResult<Scalar> {
        try rmsNormForward(input, normalizedShape: normalizedShape, weight: weight, eps: eps).normalization
    }

    /// ``rmsNorm(_:normalizedShape:weight:eps:)`` with a weight of another type than the input
    /// (see ``ForwardResult``); `eps: nil` is the input type's machine epsilon, as PyTorch's
    /// `torch.finfo(input.dtype).eps`.
    static func rmsNormForward<Input: NormScalar, Parameter: NormScalar>(
        _ input: Tensor<Input>, normalizedShape: [Int], weight: Tensor<Parameter>?, eps: Double?
    ) throws -> ForwardResult<Input, Parameter> where Parameter.ComputeScalar == Input.ComputeScalar {
        let geometry = try trailingGeometry(of: input, normalizedShape: normalizedShape)
        try checkPerChannel(weight, named: "weight", shape: normalizedShape)
        return normalizeTrailing(input, geometry: geometry, normalizedShape: normalizedShape, centered: false,
                                 weight: weight, bias: nil, eps: eps ?? Double(Input.ulpOfOne))
    }

    /// Normalizes rows of the trailing dimensions. They are contiguous only in row-major order,
    /// so a channels-last input is read in row-major order and the output converted back.
    static func normalizeTrailing<Input: NormScalar, Parameter: NormScalar>(
        _ input: Tensor<Input>, geometry: NormalizationGeometry, normalizedShape: [Int], centered: Bool,
        weight: Tensor<Parameter>?, bias: Tensor<Parameter>?, eps: Double
    ) -> ForwardResult<Input, Parameter> where Parameter.ComputeScalar == Input.ComputeScalar {
        let result = normalizeWithInputStatistics(
            input.withMemoryFormat(.contiguous), geometry: geometry, centered: centered, weight: weight, bias: bias, eps: eps).result
        var saved = result.saved
        saved.normalizedShape = normalizedShape
        return ForwardResult(output: result.output.withMemoryFormat(input.memoryFormat), saved: saved)
    }

    /// Views `(*, normalizedShape…)` as rows of ∏ normalizedShape elements, one statistic per row.
    ///
    /// A normalized shape may contain zeros (the rows are then empty, as in PyTorch). An empty
    /// input is seen as zero rows, so that no per-row statistic is allocated for it.
    /// - Throws: ``NormError/invalidArgument(name:expected:actual:)`` for an empty normalized shape
    ///   (as PyTorch, at the call), ``NormError/normalizedShapeMismatch(normalizedShape:inputShape:)``,
    ///   and ``NormError/invalidShape(_:)`` for a normalized shape whose element count overflows
    ///   `Int` (only an empty input can end in one).
    static func trailingGeometry<Scalar: NormScalar>(
        of input: Tensor<Scalar>, normalizedShape: [Int]
    ) throws -> NormalizationGeometry {
        let k = normalizedShape.count
        guard k > 0 else {
            throw NormError.invalidArgument(name: "normalized_shape", expected: "at least one dimension", actual: "[]")
        }
        guard normalizedShape.allSatisfy({ $0 >= 0 }), input.rank >= k,
              Array(input.shape.suffix(k)) == normalizedShape else {
            throw NormError.normalizedShapeMismatch(normalizedShape: normalizedShape, inputShape: input.shape)
        }
        guard let rowLength = Tensor<Scalar>.checkedElementCount(normalizedShape) else {
            throw NormError.invalidShape(normalizedShape)
        }
        return NormalizationGeometry(outer: input.count == 0 ? 0 : input.count / rowLength,
                                     channels: rowLength, inner: 1, grouping: .perSample(groups: 1))
    }
}
