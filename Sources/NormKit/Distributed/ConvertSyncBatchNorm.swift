/// Which BatchNorm class a ``SyncBatchNorm`` replaced, so that ``revertSyncBatchNorm(_:)`` can
/// rebuild it.
enum BatchNormKind: Sendable, Equatable {
    case oneD, twoD, threeD

    init?<Scalar>(_ layer: BatchNorm<Scalar>) {
        switch layer {
        case is BatchNorm1d<Scalar>: self = .oneD
        case is BatchNorm2d<Scalar>: self = .twoD
        case is BatchNorm3d<Scalar>: self = .threeD
        default: return nil
        }
    }
}

/// Replaces every ``BatchNorm1d``, ``BatchNorm2d`` and ``BatchNorm3d`` in a module tree by a
/// ``SyncBatchNorm`` over `processGroup`, like PyTorch's
/// `torch.nn.SyncBatchNorm.convert_sync_batchnorm`.
///
/// The new layer keeps the old one's options (`eps`, `momentum`, `affine`,
/// `trackRunningStats`), parameters, running statistics, `numBatchesTracked`, accumulated
/// gradients and training flag, and remembers the class it replaced. Containers
/// (``Sequential``, nested to any depth) are rewritten in place; a BatchNorm at the root is
/// returned converted, so always use the returned module:
///
/// ```swift
/// let model = convertSyncBatchNorm(model, processGroup: group)
/// ```
///
/// Other modules, and existing ``SyncBatchNorm``s, are kept as they are.
public func convertSyncBatchNorm<Scalar: NormScalar>(
    _ module: any Module<Scalar>, processGroup: (any ProcessGroup)?
) -> any Module<Scalar> {
    if let batchNorm = module as? BatchNorm<Scalar>, !(batchNorm is SyncBatchNorm<Scalar>),
       let kind = BatchNormKind(batchNorm) {
        let sync = SyncBatchNorm<Scalar>(
            numFeatures: batchNorm.numFeatures, eps: batchNorm.eps, momentum: batchNorm.momentum,
            affine: batchNorm.affine, trackRunningStats: batchNorm.trackRunningStats,
            processGroup: processGroup, revertsTo: kind)
        sync.copyState(from: batchNorm)
        return sync
    }
    if let container = module as? any ModuleContainer<Scalar> {
        container.replaceChildren { convertSyncBatchNorm($0, processGroup: processGroup) }
    }
    return module
}

/// Replaces every ``SyncBatchNorm`` in a module tree by a plain BatchNorm, the reverse of
/// ``convertSyncBatchNorm(_:processGroup:)`` (PyTorch has no such function; see pytorch#41081).
///
/// The class is the one recorded at conversion (``BatchNorm1d``, ``BatchNorm2d`` or
/// ``BatchNorm3d``). A SyncBatchNorm built directly has no recorded class, since it accepts any
/// input rank ≥ 2; it becomes a ``BatchNorm2d``, PyTorch's most common case. Options,
/// parameters, buffers, `numBatchesTracked`, gradients and the training flag are kept.
public func revertSyncBatchNorm<Scalar: NormScalar>(_ module: any Module<Scalar>) -> any Module<Scalar> {
    if let sync = module as? SyncBatchNorm<Scalar> {
        let plain: BatchNorm<Scalar>
        switch sync.revertsTo ?? .twoD {
        case .oneD:
            plain = BatchNorm1d(numFeatures: sync.numFeatures, eps: sync.eps, momentum: sync.momentum,
                                affine: sync.affine, trackRunningStats: sync.trackRunningStats)
        case .twoD:
            plain = BatchNorm2d(numFeatures: sync.numFeatures, eps: sync.eps, momentum: sync.momentum,
                                affine: sync.affine, trackRunningStats: sync.trackRunningStats)
        case .threeD:
            plain = BatchNorm3d(numFeatures: sync.numFeatures, eps: sync.eps, momentum: sync.momentum,
                                affine: sync.affine, trackRunningStats: sync.trackRunningStats)
        }
        plain.copyState(from: sync)
        return plain
    }
    if let container = module as? any ModuleContainer<Scalar> {
        container.replaceChildren { revertSyncBatchNorm($0) }
    }
    return module
}

extension NormalizationLayer {
    /// Copies parameters, buffers, accumulated gradients and the training flag (not the saved
    /// forward pass) from a layer of the same configuration.
    func copyState(from other: NormalizationLayer<Scalar>) {
        isTraining = other.isTraining
        weight = other.weight
        bias = other.bias
        runningMean = other.runningMean
        runningVar = other.runningVar
        numBatchesTracked = other.numBatchesTracked
        weightGradient = other.weightGradient
        biasGradient = other.biasGradient
    }
}
