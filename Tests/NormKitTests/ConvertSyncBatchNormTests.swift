import Foundation
import Testing
@testable import NormKit
import NormKitTestSupport

/// Sequential(BN2d(3), Sequential(BN2d(3, momentum nil), BN2d(3, no affine)), BN2d(3, untracked)).
func syncNestedModel() -> Sequential<Double> {
    Sequential(
        BatchNorm2d(numFeatures: 3),
        Sequential(BatchNorm2d(numFeatures: 3, momentum: nil), BatchNorm2d(numFeatures: 3, affine: false)),
        BatchNorm2d(numFeatures: 3, trackRunningStats: false))
}

/// The classes of a tree's leaves, by path.
func syncLeafClasses<S: NormScalar>(_ module: any Module<S>, prefix: String = "") -> [String] {
    let children = module.children
    if children.isEmpty { return ["\(prefix)\(String(describing: type(of: module)))"] }
    return children.flatMap { syncLeafClasses($0.module, prefix: prefix + $0.name + ".") }
}

@Suite struct ConvertSyncBatchNormTests {
    @Test func sequentialUsesPyTorchKeysAndRecurses() throws {
        let model = syncNestedModel()
        let keys = Set(model.stateDict().keys)
        #expect(keys == [
            "0.weight", "0.bias", "0.running_mean", "0.running_var", "0.num_batches_tracked",
            "1.0.weight", "1.0.bias", "1.0.running_mean", "1.0.running_var", "1.0.num_batches_tracked",
            "1.1.running_mean", "1.1.running_var", "1.1.num_batches_tracked",
            "2.weight", "2.bias",
        ])
        #expect(Set(model.gradients().keys) == ["0.weight", "0.bias", "1.0.weight", "1.0.bias", "2.weight", "2.bias"])
        model.eval()
        #expect(!model.isTraining && model.children.allSatisfy { !$0.module.isTraining })
        #expect(!(model[1] as! Sequential<Double>)[1].isTraining)
        model.train()
        #expect((model[1] as! Sequential<Double>)[0].isTraining)
    }

    @Test func sequentialChainsForwardAndBackward() throws {
        KernelSettings.lock.lock()  // two runs compared bit for bit: no test may switch the loops meanwhile
        defer { KernelSettings.lock.unlock() }
        var rng = SeededRandom(seed: 21)
        let model = syncNestedModel()
        let twin = syncNestedModel()
        let twinLayers: [BatchNorm2d<Double>] = [
            twin[0] as! BatchNorm2d<Double>, (twin[1] as! Sequential<Double>)[0] as! BatchNorm2d<Double>,
            (twin[1] as! Sequential<Double>)[1] as! BatchNorm2d<Double>, twin[2] as! BatchNorm2d<Double>,
        ]
        var state = model.stateDict()
        state["0.weight"] = rng.tensor([3], mean: 1)
        state["1.0.bias"] = rng.tensor([3])
        try model.loadStateDict(state)
        try twin.loadStateDict(state)
        let x: Tensor<Double> = rng.tensor([3, 3, 2, 2], mean: 1, std: 2)
        let dy: Tensor<Double> = rng.tensor([3, 3, 2, 2])
        let y = try model(x)
        let manualY = try twinLayers.reduce(x) { try $1($0) }
        #expect(y == manualY)
        let dx = try model.backward(dy)
        let manualDx = try twinLayers.reversed().reduce(dy) { try $1.backward($0) }
        #expect(dx == manualDx)
        #expect(model.gradients() == twin.gradients())
        model.zeroGrad()
        #expect(model.gradients().values.allSatisfy { $0.scalars.allSatisfy { $0 == 0 } })
    }

    @Test func sequentialLoadIsAtomic() throws {
        let model = syncNestedModel()
        let before = model.stateDict()
        var bad = before
        bad["0.weight"] = try Tensor(shape: [3], scalars: [7, 7, 7])
        bad["2.bias"] = .zeros(shape: [4])  // the last child fails validation
        #expect(throws: NormError.stateShapeMismatch(key: "2.bias", expected: [3], actual: [4])) {
            try model.loadStateDict(bad)
        }
        #expect(model.stateDict() == before)
        var partial = before
        partial["1.1.running_mean"] = nil
        partial["3.weight"] = .zeros(shape: [3])
        #expect(throws: NormError.stateDictKeyMismatch(missing: ["1.1.running_mean"], unexpected: ["3.weight"])) {
            try model.loadStateDict(partial)
        }
        #expect(model.stateDict() == before)
    }

    @Test func convertAndRevertRoundTripANestedTree() throws {
        var rng = SeededRandom(seed: 22)
        let model: Sequential<Double> = Sequential(
            syncNestedModel(),
            Sequential(BatchNorm1d(numFeatures: 4, eps: 1e-3, momentum: 0.2), Sequential(BatchNorm3d(numFeatures: 5))))
        // Give the first subtree state and gradients, then put one layer in eval mode.
        let first = model[0] as! Sequential<Double>
        _ = try first(rng.tensor([4, 3, 2, 2], mean: 3, std: 2))
        _ = try first.backward(rng.tensor([4, 3, 2, 2]))
        (model[1] as! Sequential<Double>)[0].eval()
        let state = model.stateDict(), gradients = model.gradients()
        let training = syncTrainingFlags(model)

        let world = try LocalProcessGroup.world(size: 1)
        let converted = convertSyncBatchNorm(model, processGroup: world[0])
        #expect(converted === model)
        #expect(syncLeafClasses(converted) == [
            "0.0.SyncBatchNorm<Double>", "0.1.0.SyncBatchNorm<Double>", "0.1.1.SyncBatchNorm<Double>",
            "0.2.SyncBatchNorm<Double>", "1.0.SyncBatchNorm<Double>", "1.1.0.SyncBatchNorm<Double>",
        ])
        #expect(converted.stateDict() == state)
        #expect(converted.gradients() == gradients)
        #expect(syncTrainingFlags(converted) == training)
        let sync = (model[1] as! Sequential<Double>)[0] as! SyncBatchNorm<Double>
        #expect(sync.eps == 1e-3 && sync.momentum == 0.2 && sync.processGroup === world[0])

        let reverted = revertSyncBatchNorm(converted)
        #expect(syncLeafClasses(reverted) == [
            "0.0.BatchNorm2d<Double>", "0.1.0.BatchNorm2d<Double>", "0.1.1.BatchNorm2d<Double>",
            "0.2.BatchNorm2d<Double>", "1.0.BatchNorm1d<Double>", "1.1.0.BatchNorm3d<Double>",
        ])
        #expect(reverted === model)
        #expect(reverted.stateDict() == state)
        #expect(reverted.gradients() == gradients)
        #expect(syncTrainingFlags(reverted) == training)
        let plain = (model[0] as! Sequential<Double>)[1] as! Sequential<Double>
        #expect((plain[0] as! BatchNorm2d<Double>).momentum == nil)
        #expect(!(plain[1] as! BatchNorm2d<Double>).affine)
    }

    @Test func convertAndRevertARootLayer() throws {
        let bn = BatchNorm1d<Float>(numFeatures: 2)
        let converted = convertSyncBatchNorm(bn, processGroup: nil)
        #expect(converted is SyncBatchNorm<Float>)
        #expect(revertSyncBatchNorm(converted) is BatchNorm1d<Float>)
        // Built directly, a SyncBatchNorm has no recorded class and reverts to BatchNorm2d.
        #expect(revertSyncBatchNorm(SyncBatchNorm<Float>(numFeatures: 2)) is BatchNorm2d<Float>)
    }

    /// A converted model on 2 thread ranks computes what the original computes on the whole batch.
    @Test func convertedModelOnTwoRanksMatchesTheWholeBatch() throws {
        var rng = SeededRandom(seed: 23)
        let x: Tensor<Double> = rng.tensor([5, 3, 2, 2], mean: -1, std: 2)
        let dy: Tensor<Double> = rng.tensor([5, 3, 2, 2])
        let reference = syncNestedModel()
        let y = try reference(x), dx = try reference.backward(dy)
        let shards = [0..<2, 2..<5]
        let world = try LocalProcessGroup.world(size: 2, timeout: 30)
        let results = syncRunOnThreads(2) { rank -> (Tensor<Double>, Tensor<Double>, [String: Tensor<Double>], [String: Tensor<Double>]) in
            let model = convertSyncBatchNorm(syncNestedModel(), processGroup: world[rank])
            let range = shards[rank]
            let yr = try model(try syncSlice(x, range.lowerBound, range.count))
            let dxr = try model.backward(try syncSlice(dy, range.lowerBound, range.count))
            return (yr, dxr, model.stateDict(), model.gradients())
        }
        let ranks = try results.map { try $0.get() }
        var gradientSum = ranks[0].3
        for (key, value) in ranks[1].3 { gradientSum[key] = syncSum([gradientSum[key]!, value]) }
        for (rank, range) in shards.enumerated() {
            assertClose(ranks[rank].0, try syncSlice(y, range.lowerBound, range.count), Tolerance(absolute: 1e-12, relative: 1e-12), "y \(rank)")
            assertClose(ranks[rank].1, try syncSlice(dx, range.lowerBound, range.count), Tolerance(absolute: 1e-12, relative: 1e-12), "dx \(rank)")
            for (key, value) in reference.stateDict() {
                assertClose(ranks[rank].2[key], value, Tolerance(absolute: 1e-12, relative: 1e-12), "\(key) on rank \(rank)")
            }
        }
        for (key, value) in reference.gradients() {
            assertClose(gradientSum[key], value, Tolerance(absolute: 1e-12, relative: 1e-12), "Σ grad \(key)")
        }
    }
}

func syncTrainingFlags<S: NormScalar>(_ module: any Module<S>) -> [Bool] {
    [module.isTraining] + module.children.flatMap { syncTrainingFlags($0.module) }
}
