import Testing
@testable import NormKit

/// What a PyTorch user expects of a layer object: its repr, and resetting its state.
@Suite struct LayerConvenienceTests {
    @Test func descriptionsReadLikePyTorchsRepr() {
        // torch: BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True), …
        #expect(BatchNorm2d<Float>(numFeatures: 64).description
                == "BatchNorm2d(64, eps: 1e-05, momentum: 0.1, affine: true, trackRunningStats: true)")
        #expect(BatchNorm1d<Double>(numFeatures: 3, eps: 1e-3, momentum: nil, affine: false).description
                == "BatchNorm1d(3, eps: 0.001, momentum: nil, affine: false, trackRunningStats: true)")
        #expect(BatchNorm3d<Float>(numFeatures: 2, trackRunningStats: false).description
                == "BatchNorm3d(2, eps: 1e-05, momentum: 0.1, affine: true, trackRunningStats: false)")
        #expect(InstanceNorm2d<Float>(numFeatures: 4).description
                == "InstanceNorm2d(4, eps: 1e-05, momentum: 0.1, affine: false, trackRunningStats: false)")
        #expect(LayerNorm<Float>(normalizedShape: [10, 3]).description
                == "LayerNorm([10, 3], eps: 1e-05, elementwiseAffine: true, bias: true)")
        #expect(LayerNorm<Float>(normalizedShape: [10], bias: false).description
                == "LayerNorm([10], eps: 1e-05, elementwiseAffine: true, bias: false)")
        // PyTorch 2.15 prints bias=False for LayerNorm((2, 2), elementwise_affine=False, bias=True).
        #expect(LayerNorm<Float>(normalizedShape: [2, 2], elementwiseAffine: false, bias: true).description
                == "LayerNorm([2, 2], eps: 1e-05, elementwiseAffine: false, bias: false)")
        #expect(GroupNorm<Float>(numGroups: 2, numChannels: 4).description == "GroupNorm(2, 4, eps: 1e-05, affine: true)")
        #expect(RMSNorm<Float>(normalizedShape: [5]).description == "RMSNorm([5], eps: nil, elementwiseAffine: true)")
        #expect(RMSNorm<Float>(normalizedShape: [5], eps: 1e-6).description == "RMSNorm([5], eps: 1e-06, elementwiseAffine: true)")
        #expect(SyncBatchNorm<Float>(numFeatures: 8).description
                == "SyncBatchNorm(8, eps: 1e-05, momentum: 0.1, affine: true, trackRunningStats: true)")
        #expect(BatchNorm2d<Float>(numFeatures: -1).description
                == "BatchNorm2d(-1, eps: 1e-05, momentum: 0.1, affine: true, trackRunningStats: true)")
    }

    @Test func sequentialPrintsAnIndentedTree() {
        let model = Sequential<Float>(BatchNorm2d(numFeatures: 8), Sequential<Float>(BatchNorm2d(numFeatures: 8), GroupNorm(numGroups: 2, numChannels: 8)))
        #expect(model.description == """
            Sequential(
              (0): BatchNorm2d(8, eps: 1e-05, momentum: 0.1, affine: true, trackRunningStats: true)
              (1): Sequential(
                (0): BatchNorm2d(8, eps: 1e-05, momentum: 0.1, affine: true, trackRunningStats: true)
                (1): GroupNorm(2, 8, eps: 1e-05, affine: true)
              )
            )
            """)
        #expect(Sequential<Float>([]).description == "Sequential()")
        _ = convertSyncBatchNorm(model, processGroup: nil)
        #expect(model.description.hasPrefix("Sequential(\n  (0): SyncBatchNorm(8, "))
    }

    @Test func resetRunningStatsKeepsParametersAndGradients() throws {
        var random = SeededRandom(seed: 31)
        let bn = BatchNorm2d<Double>(numFeatures: 2, momentum: nil)
        _ = try bn(random.tensor([2, 2, 3, 3]))
        _ = try bn.backward(random.tensor([2, 2, 3, 3]))
        try bn.setParameter(named: "weight", to: Tensor([3, 4]))
        let (weight, gradients) = (bn.weight, bn.gradients())
        bn.resetRunningStats()
        #expect(bn.runningMean == .zeros(shape: [2]) && bn.runningVar == .ones(shape: [2]) && bn.numBatchesTracked == 0)
        #expect(bn.weight == weight && bn.gradients() == gradients)
        // After a reset, momentum: nil averages from scratch: one batch gives its own statistics.
        let x: Tensor<Double> = random.tensor([2, 2, 3, 3])
        _ = try bn(x)
        let fresh = BatchNorm2d<Double>(numFeatures: 2, momentum: nil)
        _ = try fresh(x)
        #expect(bn.runningMean == fresh.runningMean && bn.numBatchesTracked == 1)
        // Layers without running statistics: nothing to reset.
        let group = GroupNorm<Double>(numGroups: 1, numChannels: 2)
        let before = group.stateDict()
        group.resetRunningStats()
        #expect(group.stateDict() == before)
    }

    @Test func resetParametersRestoresTheInitialState() throws {
        var random = SeededRandom(seed: 32)
        let layers: [NormalizationLayer<Double>] = [
            BatchNorm1d(numFeatures: 3), InstanceNorm1d(numFeatures: 3, affine: true, trackRunningStats: true),
            GroupNorm(numGroups: 3, numChannels: 3), LayerNorm(normalizedShape: [3, 4]), LayerNorm(normalizedShape: [3, 4], bias: false),
            RMSNorm(normalizedShape: [4]), BatchNorm1d(numFeatures: 3, affine: false),
        ]
        let builders: [() -> NormalizationLayer<Double>] = [
            { BatchNorm1d(numFeatures: 3) }, { InstanceNorm1d(numFeatures: 3, affine: true, trackRunningStats: true) },
            { GroupNorm(numGroups: 3, numChannels: 3) }, { LayerNorm(normalizedShape: [3, 4]) }, { LayerNorm(normalizedShape: [3, 4], bias: false) },
            { RMSNorm(normalizedShape: [4]) }, { BatchNorm1d(numFeatures: 3, affine: false) },
        ]
        for (layer, build) in zip(layers, builders) {
            let x: Tensor<Double> = random.tensor([2, 3, 4])
            _ = try layer(x)
            _ = try layer.backward(random.tensor([2, 3, 4]))
            for (name, value) in layer.namedParameters() {
                try layer.setParameter(named: name, to: Tensor(shape: value.shape, scalars: value.scalars.map { $0 + 0.5 }))
            }
            let gradients = layer.gradients()
            layer.resetParameters()
            #expect(layer.stateDict() == build().stateDict(), "\(layer)")
            #expect(layer.gradients() == gradients, "\(layer) keeps its gradients")
        }
    }
}
