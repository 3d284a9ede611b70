extension Functional {
    /// Group normalization of an `(N, C, *)` input: the channels are split into `numGroups`
    /// groups of C/G consecutive channels, and each (sample, group) is normalized over its
    /// channels and spatial axes. Wu & He, "Group Normalization", arXiv:1803.08494.
    ///
    /// y = (x − E[x]) / √(Var[x] + ε) · γ + β, E and Var per (n, g); γ and β per channel.
    ///
    /// - Parameters:
    ///   - input: `(N, C, *)`, rank ≥ 2, row-major or channels-last.
    ///   - numGroups: G, which must divide C.
    ///   - weight: γ, `[C]`, or `nil` (γ = 1).
    ///   - bias: β, `[C]`, or `nil` (β = 0).
    ///   - eps: ε; default 1e-5.
    /// - Throws: ``NormError/rankTooSmall(layer:minimum:actual:)``,
    ///   ``NormError/groupsDoNotDivideChannels(groups:channels:)``, and
    ///   ``NormError/argumentShapeMismatch(argument:expected:actual:)`` for parameters not of shape `[C]`.
    public static func groupNorm<Scalar: NormScalar>(
        _ input: Tensor<Scalar>, numGroups: Int, weight: Tensor<Scalar>? = nil, bias: Tensor<Scalar>? = nil,
        eps: Double = 1e-5
    ) throws -> NormalizationResult<Scalar> {
        try groupNormForward(input, numGroups: numGroups, weight: weight, bias: bias, eps: eps).normalization
    }

    /// ``groupNorm(_:numGroups:weight:bias:eps:)`` with parameters of another type than the
    /// input (see ``ForwardResult``).
    static func groupNormForward<Input: NormScalar, Parameter: NormScalar>(
        _ input: Tensor<Input>, numGroups: Int, weight: Tensor<Parameter>?, bias: Tensor<Parameter>?, eps: Double
    ) throws -> ForwardResult<Input, Parameter> where Parameter.ComputeScalar == Input.ComputeScalar {
        let channels = try channelGeometry(of: input, operation: "group_norm", grouping: .perChannel).channels
        guard numGroups > 0, channels % numGroups == 0 else {
            throw NormError.groupsDoNotDivideChannels(groups: numGroups, channels: channels)
        }
        try checkPerChannel(weight, named: "weight", shape: [channels])
        try checkPerChannel(bias, named: "bias", shape: [channels])
        let geometry = try channelGeometry(of: input, operation: "group_norm", grouping: .perSample(groups: numGroups))
        return normalizeWithInputStatistics(
            input, geometry: geometry, centered: true, weight: weight, bias: bias, eps: eps).result
    }
}
