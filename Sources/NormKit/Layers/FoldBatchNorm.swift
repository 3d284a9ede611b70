/// Folds an eval-mode BatchNorm layer that follows a convolution into the convolution's weight
/// and bias, as PyTorch's `torch.nn.utils.fusion.fuse_conv_bn_eval` does for modules:
/// W′[c, …] = W[c, …] · γ_c / √(r_σ²_c + ε) and b′_c = (b_c − r_μ_c) · γ_c / √(r_σ²_c + ε) + β_c,
/// so that conv(x; W′, b′) equals `batchNorm(conv(x; W, b))` in eval mode.
///
/// ```swift
/// bn.train(false)
/// let (weight, bias) = try fuseConvBatchNorm(convWeight: convWeight, convBias: nil, batchNorm: bn)
/// ```
///
/// - Parameters:
///   - convWeight: `[C, Cin/groups, k…]` (rank 2 or more; Conv1d, Conv2d, Conv3d), or with
///     `transposed`, `[Cin, C/groups, k…]`; C is the layer's ``BatchNorm/numFeatures``.
///   - convBias: `[C]`, or `nil` for a convolution without bias.
///   - batchNorm: a ``BatchNorm1d``, ``BatchNorm2d``, ``BatchNorm3d`` or ``SyncBatchNorm`` in eval
///     mode that tracks running statistics; without affine parameters γ = 1 and β = 0.
///   - transposed: whether the convolution is transposed; default `false`.
/// - Returns: the folded weight (the shape and memory format of `convWeight`) and bias `[C]`.
/// - Throws: ``NormError/foldingNeedsEvalMode(layer:)`` for a layer in training mode,
///   ``NormError/foldingNeedsRunningStatistics(layer:)`` for one built with
///   `trackRunningStats: false`, the layer's ``NormalizationLayer/configurationError``, and the
///   shape errors of
///   ``Functional/fuseConvBatchNorm(convWeight:convBias:runningMean:runningVar:eps:weight:bias:transposed:)``,
///   which holds the math.
public func fuseConvBatchNorm<Scalar: NormScalar>(
    convWeight: Tensor<Scalar>, convBias: Tensor<Scalar>?, batchNorm: BatchNorm<Scalar>, transposed: Bool = false
) throws -> (weight: Tensor<Scalar>, bias: Tensor<Scalar>) {
    let (runningMean, runningVar) = try batchNorm.foldableStatistics()
    return try Functional.fuseConvBatchNorm(
        convWeight: convWeight, convBias: convBias, runningMean: runningMean, runningVar: runningVar,
        eps: batchNorm.eps, weight: batchNorm.weight, bias: batchNorm.bias, transposed: transposed)
}

/// Folds an eval-mode BatchNorm layer that follows a linear layer into the linear layer's
/// weight `[out, in]` and bias `[out]`, as PyTorch's `fuse_linear_bn_eval`:
/// W′[o, :] = W[o, :] · s_o and b′_o = (b_o − r_μ_o) · s_o + β_o with s = γ / √(r_σ² + ε).
///
/// - Parameters:
///   - linearWeight: `[out, in]`; `out` must equal the layer's ``BatchNorm/numFeatures``, or the
///     layer has 1 feature, which then applies to every output.
///   - linearBias: `[out]`, or `nil`.
///   - batchNorm: a BatchNorm layer in eval mode that tracks running statistics.
/// - Returns: the folded weight `[out, in]` and bias `[out]`.
/// - Throws: as ``fuseConvBatchNorm(convWeight:convBias:batchNorm:transposed:)``, with the shape
///   errors of
///   ``Functional/fuseLinearBatchNorm(linearWeight:linearBias:runningMean:runningVar:eps:weight:bias:)``.
public func fuseLinearBatchNorm<Scalar: NormScalar>(
    linearWeight: Tensor<Scalar>, linearBias: Tensor<Scalar>?, batchNorm: BatchNorm<Scalar>
) throws -> (weight: Tensor<Scalar>, bias: Tensor<Scalar>) {
    let (runningMean, runningVar) = try batchNorm.foldableStatistics()
    return try Functional.fuseLinearBatchNorm(
        linearWeight: linearWeight, linearBias: linearBias, runningMean: runningMean, runningVar: runningVar,
        eps: batchNorm.eps, weight: batchNorm.weight, bias: batchNorm.bias)
}

extension BatchNorm {
    /// The running statistics a fold uses, once the layer is known to be usable, in eval mode
    /// and tracking them (PyTorch's `fuse_conv_bn_eval` asserts `not bn.training`).
    func foldableStatistics() throws -> (mean: Tensor<Scalar>, variance: Tensor<Scalar>) {
        if let configurationError { throw configurationError }
        guard let runningMean, let runningVar else { throw NormError.foldingNeedsRunningStatistics(layer: layerName) }
        guard !isTraining else { throw NormError.foldingNeedsEvalMode(layer: layerName) }
        return (runningMean, runningVar)
    }
}
