import NormKit

/// Times the distributed cases on the thread ranks of a ``LocalProcessGroup``, each rank on a
/// `Thread` of its own (`LocalProcessGroup.run`).
///
/// - collective: one `allReducedSum` of `shape` Doubles;
/// - syncbatchnorm2d: `SyncBatchNorm` on each rank's shard of `shape` in the case's mode
///   (step: a training forward and its backward), against ``LayerBench``'s `BatchNorm2d` on one
///   shard in the same mode, alone on one thread: the difference is what synchronizing costs. A
///   shard of one value per channel, which BatchNorm2d cannot train on alone, has no baseline.
///
/// The ranks run in lockstep: after each call, rank 0 (whose times are the samples) tells every
/// rank through one more `allReducedSum`, outside the timed region, whether to go on.
enum DistributedBench {
    /// The samples, and for syncbatchnorm2d the single-rank baseline's.
    static func measure(
        _ benchCase: BenchCase, policy: TimingPolicy, inputs: InputCache
    ) throws -> (sampler: Sampler, baseline: Sampler?) {
        let ranks = benchCase.ranks ?? 2
        switch benchCase.layer {
        case .collective:
            let buffer = (0..<benchCase.elementCount).map(Double.init)
            let samplers = try LocalProcessGroup.run(size: ranks) { group in
                try lockstep(group, policy) { _ = try group.allReducedSum(buffer) }
            }
            return (samplers[0], nil)
        case .syncbatchnorm2d:
            let samplers = switch benchCase.dtype {
            case .float32: try LocalProcessGroup.run(size: ranks) { try syncBatchNorm(benchCase, Float.self, $0, policy) }
            case .float64: try LocalProcessGroup.run(size: ranks) { try syncBatchNorm(benchCase, Double.self, $0, policy) }
            case .float16, .bfloat16: preconditionFailure("BenchCase refuses half-precision syncbatchnorm2d")
            }
            var baselineCase = benchCase
            baselineCase.layer = .batchnorm2d
            baselineCase.ranks = nil
            do {
                return (samplers[0], try LayerBench.measure(baselineCase, policy: policy, inputs: inputs))
            } catch NormError.tooFewValuesPerChannel {
                // A shard of one value per channel trains only synchronized (the global batch
                // has more): the case has no single-rank baseline.
                return (samplers[0], nil)
            }
        default:
            preconditionFailure("\(benchCase.layer) is not a distributed case")
        }
    }

    /// One rank of a syncbatchnorm2d case: its own layer and shard.
    private static func syncBatchNorm<S: NormScalar>(
        _ benchCase: BenchCase, _: S.Type, _ group: LocalProcessGroup, _ policy: TimingPolicy
    ) throws -> Sampler {
        let layer = SyncBatchNorm<S>(numFeatures: benchCase.shape[1], processGroup: group)
        let x: Tensor<S> = InputCache.random(.input, for: benchCase, rank: group.rank)
        let dy: Tensor<S> = InputCache.random(.gradOutput, for: benchCase, rank: group.rank)
        switch benchCase.mode {
        case .forward:
            return try lockstep(group, policy) { _ = try layer(x) }
        case .backward:
            _ = try layer(x)
            return try lockstep(group, policy) { _ = try layer.backward(dy) }
        case .eval:
            preconditionFailure("BenchCase rejects mode=eval for syncbatchnorm2d")
        case .step:
            return try lockstep(group, policy) {
                _ = try layer(x)
                _ = try layer.backward(dy)
            }
        }
    }

    /// Calls `body` on every rank until rank 0's sampler is done; returns rank 0's sampler (an
    /// empty one on the other ranks).
    private static func lockstep(_ group: LocalProcessGroup, _ policy: TimingPolicy, _ body: () throws -> Void) throws -> Sampler {
        var sampler = Sampler(policy)
        while true {
            let start = monotonicSeconds()
            try body()
            let elapsed = monotonicSeconds() - start
            if group.rank == 0 { sampler.record(elapsed) }
            let goOn = try group.allReducedSum([group.rank == 0 && !sampler.isDone ? 1.0 : 0.0])
            if goOn[0] == 0 { return sampler }
        }
    }
}
