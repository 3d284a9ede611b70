extension Functional {
    /// Batch normalization of an `(N, C, *)` input over every axis but the channel axis.
    ///
    /// y = (x − E[x]) / √(Var[x] + ε) · γ + β, with E and Var per channel over N and the spatial
    /// axes. With `training` (or without running statistics) the batch statistics are used, the
    /// variance biased (M2/n); the running statistics given are returned updated as
    /// r ← (1 − m)·r + m·s with the unbiased variance (see ``RunningStatistics``). Otherwise
    /// the running statistics normalize and are returned unchanged.
    ///
    /// An empty batch (N = 0) returns an empty output and leaves the running statistics as they
    /// were.
    ///
    /// - Parameters:
    ///   - input: `(N, C)` or `(N, C, L)`, `(N, C, H, W)`, `(N, C, D, H, W)`, … (rank ≥ 2).
    ///   - runningMean, runningVar: `[C]`, or both `nil`.
    ///   - weight, bias: `[C]` or `nil` (γ = 1, β = 0).
    ///   - training: use batch statistics and update the running ones.
    ///   - momentum: m, the factor of the running-statistics update; default 0.1.
    ///   - eps: ε, added to the variance; default 1e-5.
    /// - Throws: ``NormError/rankTooSmall(layer:minimum:actual:)``,
    ///   ``NormError/stateShapeMismatch(key:expected:actual:)`` for parameters not of shape `[C]`,
    ///   ``NormError/tooFewValuesPerChannel(shape:)`` in training with one value per channel, and
    ///   ``NormError/invalidArgument(name:expected:actual:)`` for inference without running
    ///   statistics.
    public static func batchNorm<Scalar: NormScalar>(
        _ input: Tensor<Scalar>, runningMean: Tensor<Scalar>?, runningVar: Tensor<Scalar>?,
        weight: Tensor<Scalar>?, bias: Tensor<Scalar>?, training: Bool,
        momentum: Double = 0.1, eps: Double = 1e-5
    ) throws -> RunningNormalizationResult<Scalar> {
        let (outer, channels, inner) = try channelGeometry(of: input, operation: "batch_norm")
        for (tensor, name) in [(runningMean, "running_mean"), (runningVar, "running_var"), (weight, "weight"), (bias, "bias")] {
            try checkPerChannel(tensor, named: name, shape: [channels])
        }
        guard (runningMean == nil) == (runningVar == nil) else {
            throw NormError.invalidArgument(name: "running_mean and running_var", expected: "both given or both nil",
                                            actual: runningMean == nil ? "only running_var" : "only running_mean")
        }
        if !training {
            guard let runningMean, let runningVar else {
                throw NormError.invalidArgument(name: "running_mean", expected: "given when training is false", actual: "nil")
            }
            let result = normalizeWithRunningStatistics(
                input, outer: outer, channels: channels, inner: inner,
                runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias, eps: eps)
            return RunningNormalizationResult(output: result.output, saved: result.saved,
                                              runningMean: runningMean, runningVar: runningVar)
        }
        if outer * inner == 1 { throw NormError.tooFewValuesPerChannel(shape: input.shape) }
        let geometry = NormalizationGeometry(outer: outer, channels: channels, inner: inner, grouping: .perChannel)
        let (result, moments) = normalizeWithInputStatistics(
            input, geometry: geometry, centered: true, weight: weight, bias: bias, eps: eps)
        guard moments.count > 0, let runningMean, let runningVar else {
            return RunningNormalizationResult(output: result.output, saved: result.saved,
                                              runningMean: runningMean, runningVar: runningVar)
        }
        let running = RunningStatistics.updated(mean: runningMean, variance: runningVar, toward: moments, factor: momentum)
        return RunningNormalizationResult(output: result.output, saved: result.saved,
                                          runningMean: running.mean, runningVar: running.variance)
    }

    /// Splits an `(N, C, *)` shape into (N, C, ∏ *).
    static func channelGeometry<Scalar: NormScalar>(
        of input: Tensor<Scalar>, operation: String
    ) throws -> (outer: Int, channels: Int, inner: Int) {
        guard input.rank >= 2 else {
            throw NormError.rankTooSmall(layer: operation, minimum: 2, actual: input.rank)
        }
        return (input.shape[0], input.shape[1], input.shape.dropFirst(2).reduce(1, *))
    }
}
