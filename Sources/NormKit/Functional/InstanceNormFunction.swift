extension Functional {
    /// Instance normalization of an `(N, C, *)` input: each (sample, channel) pair is normalized
    /// over its spatial axes.
    ///
    /// y = (x − E[x]) / √(Var[x] + ε) · γ + β, E and Var per (n, c) over the spatial axes.
    /// This is ``groupNorm(_:numGroups:weight:bias:eps:)`` with one group per channel, plus
    /// optional running statistics: with `useInputStatistics` they are returned updated as
    /// r ← (1 − m)·r + m·s, where s averages the per-instance means and unbiased variances over
    /// the batch (as PyTorch does); without it they normalize every instance.
    ///
    /// - Parameters:
    ///   - input: `(N, C, L)`, `(N, C, H, W)`, `(N, C, D, H, W)`, … (rank ≥ 2), row-major or
    ///     channels-last.
    ///   - runningMean: the running mean, `[C]`, or `nil` (then `runningVar` must be `nil` too).
    ///   - runningVar: the running (unbiased) variance, `[C]`, or `nil` with `runningMean`.
    ///   - weight: γ, `[C]`, or `nil` (γ = 1).
    ///   - bias: β, `[C]`, or `nil` (β = 0).
    ///   - useInputStatistics: normalize with each instance's own statistics; default `true`.
    ///   - momentum: m; default 0.1.
    ///   - eps: ε; default 1e-5.
    /// - Throws: as ``batchNorm(_:runningMean:runningVar:weight:bias:training:momentum:eps:)``,
    ///   and ``NormError/tooFewSpatialElements(shape:)`` when input statistics are used with at
    ///   most one spatial element.
    public static func instanceNorm<Scalar: NormScalar>(
        _ input: Tensor<Scalar>, runningMean: Tensor<Scalar>? = nil, runningVar: Tensor<Scalar>? = nil,
        weight: Tensor<Scalar>? = nil, bias: Tensor<Scalar>? = nil, useInputStatistics: Bool = true,
        momentum: Double = 0.1, eps: Double = 1e-5
    ) throws -> RunningNormalizationResult<Scalar> {
        try instanceNormForward(input, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                                useInputStatistics: useInputStatistics, momentum: momentum, eps: eps).running
    }

    /// ``instanceNorm(_:runningMean:runningVar:weight:bias:useInputStatistics:momentum:eps:)`` with
    /// parameters and running statistics of another type than the input (see ``ForwardResult``).
    static func instanceNormForward<Input: NormScalar, Parameter: NormScalar>(
        _ input: Tensor<Input>, runningMean: Tensor<Parameter>?, runningVar: Tensor<Parameter>?,
        weight: Tensor<Parameter>?, bias: Tensor<Parameter>?, useInputStatistics: Bool, momentum: Double, eps: Double
    ) throws -> ForwardResult<Input, Parameter> where Parameter.ComputeScalar == Input.ComputeScalar {
        guard useInputStatistics else {
            return try batchNormForward(input, runningMean: runningMean, runningVar: runningVar, weight: weight,
                                        bias: bias, training: false, momentum: momentum, eps: eps)
        }
        let channels = input.rank >= 2 ? input.shape[1] : 0
        let geometry = try channelGeometry(of: input, operation: "instance_norm", grouping: .perSample(groups: channels))
        let outer = geometry.outer
        try checkPerChannelArguments(runningMean, runningVar, weight, bias, channels: channels)
        // PyTorch's `_verify_spatial_size` (∏ spatial == 1), for inputs with at least one instance;
        // an empty input (no samples, no channels, or a zero spatial size) returns empty.
        if input.shape[0] > 0 && channels > 0 && input.shape.dropFirst(2).allSatisfy({ $0 == 1 }) {
            throw NormError.tooFewSpatialElements(shape: input.shape)
        }
        var (result, moments) = normalizeWithInputStatistics(
            input, geometry: geometry, centered: true, weight: weight, bias: bias, eps: eps)
        (result.runningMean, result.runningVar) = (runningMean, runningVar)
        if outer > 0, let runningMean, let runningVar {
            (result.runningMean, result.runningVar) = RunningStatistics.updated(
                mean: runningMean, variance: runningVar, towardMean: batchAverage(moments.mean, channels: channels),
                unbiasedVariance: batchAverage(moments.unbiasedVariance, channels: channels), factor: momentum)
        }
        return result
    }

    /// Averages per-(sample, channel) values `[N·C]` over the samples, giving `[C]`.
    static func batchAverage(_ values: [Double], channels: Int) -> [Double] {
        guard channels > 0 else { return [] }
        let samples = values.count / channels
        var sums = [Double](repeating: 0, count: channels)
        for (i, value) in values.enumerated() { sums[i % channels] += value }
        return sums.map { $0 / Double(samples) }
    }
}
