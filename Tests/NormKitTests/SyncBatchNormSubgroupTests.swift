import Foundation
import Testing
@testable import NormKit
import NormKitTestSupport

@Suite struct SyncBatchNormSubgroupTests {
    /// Ranks {0, 3} and {1, 2} of a world of 4 each synchronize among themselves only, like
    /// PyTorch's `process_group` argument: each subgroup matches BatchNorm on its own batch.
    @Test func subgroupsSynchronizeSeparately() throws {
        var rng = SeededRandom(seed: 31)
        let sizes = [2, 1, 3, 0]
        let inputs: [Tensor<Double>] = sizes.map { rng.tensor([$0, 2, 3], mean: Double($0), std: 2) }
        let gradients: [Tensor<Double>] = sizes.map { rng.tensor([$0, 2, 3]) }
        let memberships = [[0, 3], [1, 2]]
        let world = try LocalProcessGroup.world(size: 4, timeout: 20)
        let results = syncRunOnThreads(4) { rank -> (Tensor<Double>, Tensor<Double>, Tensor<Double>?) in
            let first = try world[rank].subgroup(ranks: memberships[0])
            let second = try world[rank].subgroup(ranks: memberships[1])
            let layer = SyncBatchNorm<Double>(numFeatures: 2, processGroup: first ?? second)
            let y = try layer(inputs[rank])
            return (y, try layer.backward(gradients[rank]), layer.runningVar)
        }
        let outputs = try results.map { try $0.get() }
        for members in memberships {
            let reference = BatchNorm1d<Double>(numFeatures: 2)
            let y = try reference(try syncConcatenate(members.map { inputs[$0] }))
            let dx = try reference.backward(try syncConcatenate(members.map { gradients[$0] }))
            var offset = 0
            for rank in members {
                assertClose(outputs[rank].0, try syncSlice(y, offset, sizes[rank]), Tolerance(absolute: 1e-12, relative: 1e-12), "y \(rank)")
                assertClose(outputs[rank].1, try syncSlice(dx, offset, sizes[rank]), Tolerance(absolute: 1e-12, relative: 1e-12), "dx \(rank)")
                assertClose(outputs[rank].2, reference.runningVar, Tolerance(absolute: 1e-12, relative: 1e-12), "running_var \(rank)")
                offset += sizes[rank]
            }
        }
    }

    /// Without running statistics, training still synchronizes; eval mode then uses each
    /// shard's own statistics, as PyTorch's SyncBatchNorm does.
    @Test func untrackedStatisticsSynchronizeInTrainingOnly() throws {
        var rng = SeededRandom(seed: 32)
        let sizes = [3, 1]
        let inputs: [Tensor<Float>] = sizes.map { rng.tensor([$0, 2, 2], mean: 3, std: 2) }
        let world = try LocalProcessGroup.world(size: 2, timeout: 20)
        let results = syncRunOnThreads(2) { rank -> (Tensor<Float>, Tensor<Float>) in
            let layer = SyncBatchNorm<Float>(numFeatures: 2, trackRunningStats: false, processGroup: world[rank])
            let train = try layer(inputs[rank])
            layer.eval()
            return (train, try layer(inputs[rank]))
        }
        let outputs = try results.map { try $0.get() }
        let whole = try BatchNorm1d<Float>(numFeatures: 2, trackRunningStats: false)(try syncConcatenate(inputs))
        var offset = 0
        for rank in 0..<2 {
            assertClose(outputs[rank].0, try syncSlice(whole, offset, sizes[rank]), Tolerance(absolute: 2e-5, relative: 2e-5), "train \(rank)")
            let own = BatchNorm1d<Float>(numFeatures: 2, trackRunningStats: false)
            own.eval()
            assertClose(outputs[rank].1, try own(inputs[rank]), Tolerance(absolute: 2e-5, relative: 2e-5), "eval \(rank)")
            offset += sizes[rank]
        }
    }
}
