import Testing
@testable import NormKit
import NormKitTestSupport

/// The module contract: PyTorch's state-dict keys, modes, gradient accumulation, empty batches.
@Suite struct ModuleTests {
    @Test func stateDictKeysFollowPyTorch() {
        #expect(Set(BatchNorm2d<Float>(numFeatures: 2).stateDict().keys)
                == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"])
        #expect(Set(BatchNorm1d<Float>(numFeatures: 2, affine: false).stateDict().keys)
                == ["running_mean", "running_var", "num_batches_tracked"])
        #expect(BatchNorm3d<Float>(numFeatures: 2, affine: false, trackRunningStats: false).stateDict().isEmpty)
        #expect(InstanceNorm2d<Float>(numFeatures: 2).stateDict().isEmpty)
        #expect(Set(InstanceNorm2d<Float>(numFeatures: 2, affine: true, trackRunningStats: true).stateDict().keys)
                == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"])
        #expect(Set(LayerNorm<Float>(normalizedShape: [2, 3]).stateDict().keys) == ["weight", "bias"])
        #expect(LayerNorm<Float>(normalizedShape: [2, 3]).stateDict()["weight"]!.shape == [2, 3])
        #expect(Set(LayerNorm<Float>(normalizedShape: [4], bias: false).stateDict().keys) == ["weight"])
        #expect(Set(GroupNorm<Float>(numGroups: 2, numChannels: 4).stateDict().keys) == ["weight", "bias"])
        #expect(Set(RMSNorm<Float>(normalizedShape: [4]).stateDict().keys) == ["weight"])
        #expect(RMSNorm<Float>(normalizedShape: [4], elementwiseAffine: false).stateDict().isEmpty)
        let bn = BatchNorm2d<Float>(numFeatures: 3)
        #expect(bn.stateDict()["num_batches_tracked"]!.shape == [])
        #expect(bn.stateDict()["running_var"]!.scalars == [1, 1, 1])
        #expect(bn.weight!.scalars == [1, 1, 1] && bn.bias!.scalars == [0, 0, 0])
    }

    @Test func defaultsFollowPyTorch() {
        let bn = BatchNorm2d<Double>(numFeatures: 2)
        #expect(bn.eps == 1e-5 && bn.momentum == 0.1 && bn.affine && bn.trackRunningStats && bn.isTraining)
        let instance = InstanceNorm1d<Double>(numFeatures: 2)
        #expect(!instance.affine && !instance.trackRunningStats && instance.momentum == 0.1)
        #expect(RMSNorm<Float>(normalizedShape: [2]).eps == Double(Float.ulpOfOne))
        #expect(RMSNorm<Double>(normalizedShape: [2]).eps == Double.ulpOfOne)
        #expect(GroupNorm<Double>(numGroups: 1, numChannels: 2).eps == 1e-5)
    }

    @Test func trainAndEvalSwitchModes() throws {
        let bn = BatchNorm1d<Double>(numFeatures: 2)
        bn.eval()
        #expect(!bn.isTraining)
        let x = try Tensor<Double>(shape: [2, 2], scalars: [1, 2, 3, 4])
        _ = try bn(x)
        #expect(bn.numBatchesTracked == 0 && bn.runningMean!.scalars == [0, 0])
        bn.train()
        _ = try bn(x)
        #expect(bn.numBatchesTracked == 1)
        assertClose(bn.runningMean!.scalars, [0.2, 0.3], Tolerance(absolute: 1e-15, relative: 0), "running_mean")
    }

    @Test func gradientsAccumulateUntilZeroGrad() throws {
        var random = SeededRandom(seed: 3)
        let norm = GroupNorm<Double>(numGroups: 2, numChannels: 4)
        let x: Tensor<Double> = random.tensor([2, 4, 3]), g: Tensor<Double> = random.tensor([2, 4, 3])
        _ = try norm(x)
        _ = try norm.backward(g)
        let once = norm.gradients()
        _ = try norm.backward(g)
        assertClose(norm.gradients()["weight"]!.scalars, once["weight"]!.scalars.map { 2 * $0 },
                    Tolerance(absolute: 1e-14, relative: 0), "accumulated weight gradient")
        norm.zeroGrad()
        #expect(norm.gradients()["weight"]!.scalars.allSatisfy { $0 == 0 })
        #expect(norm.gradients()["bias"]!.scalars.allSatisfy { $0 == 0 })
        #expect(LayerNorm<Double>(normalizedShape: [3], elementwiseAffine: false).gradients().isEmpty)
    }

    @Test func emptyBatchLeavesStatisticsAlone() throws {
        let bn = BatchNorm2d<Float>(numFeatures: 2, momentum: nil)
        var random = SeededRandom(seed: 4)
        _ = try bn(random.tensor([3, 2, 2, 2]))
        let before = bn.stateDict()
        let empty = try Tensor<Float>(shape: [0, 2, 2, 2], scalars: [])
        let output = try bn(empty)
        #expect(output.shape == [0, 2, 2, 2])
        // NormKit does not count an empty batch; PyTorch does, which skews momentum: nil.
        #expect(bn.stateDict() == before && bn.numBatchesTracked == 1)
        let gradient = try bn.backward(empty)
        #expect(gradient.shape == [0, 2, 2, 2])
        #expect(bn.gradients()["weight"]!.scalars.allSatisfy { $0 == 0 })
        for layer in [GroupNorm<Float>(numGroups: 1, numChannels: 2), InstanceNorm2d(numFeatures: 2, trackRunningStats: true),
                      LayerNorm(normalizedShape: [2, 2]), RMSNorm(normalizedShape: [2])] as [NormalizationLayer<Float>] {
            let before = layer.stateDict()
            #expect(try layer(empty).shape == [0, 2, 2, 2])
            #expect(try layer.backward(empty).shape == [0, 2, 2, 2])
            #expect(layer.stateDict() == before)
        }
    }

    @Test func cumulativeMomentumAveragesEveryBatch() throws {
        let bn = BatchNorm1d<Double>(numFeatures: 1, momentum: nil)
        let means: [Double] = [1, 4, 10]
        for mean in means { _ = try bn(Tensor(shape: [2, 1], scalars: [mean - 1, mean + 1])) }
        assertClose(bn.runningMean!.scalars, [5], Tolerance(absolute: 1e-14, relative: 0), "cumulative mean")
        assertClose(bn.runningVar!.scalars, [2], Tolerance(absolute: 1e-14, relative: 0), "cumulative unbiased variance")
        #expect(bn.numBatchesTracked == 3)
    }

    @Test func loadingTolerantOfLegacyCheckpoints() throws {
        // PyTorch checkpoints from before num_batches_tracked load without it, keeping the count.
        let bn = BatchNorm1d<Float>(numFeatures: 2)
        try bn.loadStateDict(["weight": .ones(shape: [2]), "bias": .zeros(shape: [2]),
                              "running_mean": .ones(shape: [2]), "running_var": .ones(shape: [2])])
        #expect(bn.numBatchesTracked == 0 && bn.runningMean!.scalars == [1, 1])
        // Old InstanceNorm checkpoints carry running statistics the layer does not track.
        let instance = InstanceNorm1d<Float>(numFeatures: 2, affine: true)
        try instance.loadStateDict(["weight": .ones(shape: [2]), "bias": .zeros(shape: [2]),
                                    "running_mean": .zeros(shape: [2]), "running_var": .ones(shape: [2])])
        #expect(instance.runningMean == nil)
        assertThrows(.stateDictKeyMismatch(missing: [], unexpected: ["running_mean"])) {
            try GroupNorm<Float>(numGroups: 1, numChannels: 2).loadStateDict(
                ["weight": .ones(shape: [2]), "bias": .zeros(shape: [2]), "running_mean": .zeros(shape: [2])])
        }
    }

    @Test func stateDictRoundTrips() throws {
        var random = SeededRandom(seed: 9)
        let source = BatchNorm2d<Float>(numFeatures: 3)
        for _ in 0..<3 { _ = try source(random.tensor([2, 3, 2, 2])) }
        let copy = BatchNorm2d<Float>(numFeatures: 3)
        try copy.loadStateDict(source.stateDict())
        #expect(copy.stateDict() == source.stateDict())
        #expect(copy.numBatchesTracked == 3)
        source.eval(); copy.eval()
        let x: Tensor<Float> = random.tensor([2, 3, 2, 2])
        #expect(try copy(x) == source(x))
    }

    @Test func evalBackwardTreatsRunningStatisticsAsConstants() throws {
        var random = SeededRandom(seed: 10)
        let bn = BatchNorm1d<Double>(numFeatures: 2)
        try bn.loadStateDict(["running_mean": random.tensor([2]), "running_var": .ones(shape: [2]) ], strict: false)
        bn.eval()
        let x: Tensor<Double> = random.tensor([3, 2]), g: Tensor<Double> = random.tensor([3, 2])
        _ = try bn(x)
        let dx = try bn.backward(g)
        assertClose(dx.scalars, g.scalars.map { $0 / (1 + 1e-5).squareRoot() }, Tolerance(absolute: 1e-14, relative: 0), "dx")
    }
}

@Suite struct SeededGeneratorTests {
    @Test func sameSeedSameStreamOtherSeedOtherStream() {
        var a = SeededGenerator(seed: 1), b = SeededGenerator(seed: 1), c = SeededGenerator(seed: 2)
        let x = Tensor<Double>.randomNormal(shape: [64], using: &a)
        #expect(x == Tensor<Double>.randomNormal(shape: [64], using: &b))
        #expect(x != Tensor<Double>.randomNormal(shape: [64], using: &c))
        // The samples look standard normal: mean within 5σ/√n of 0, variance near 1.
        var d = SeededGenerator(seed: 3)
        let samples = Tensor<Double>.randomNormal(shape: [4000], mean: 2, std: 3, using: &d).scalars
        let mean = samples.reduce(0, +) / 4000
        let variance = samples.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 3999
        #expect(abs(mean - 2) < 5 * 3 / 4000.0.squareRoot())
        #expect(abs(variance - 9) < 0.1 * 9)
    }
}

/// The README's usage snippet, as a user would write it.
@Suite struct ReadmeUsageTests {
    @Test func usageSnippetRuns() throws {
        let input: [Float] = [0.33669037, 0.12880941, 0.23446237, 0.23033303, -1.1228564, -0.18632829, 2.2082014, -0.63799703]
        let dy = try Tensor<Float>(shape: [1, 2, 2, 2], scalars: [0.5, -1, 0.25, 2, -0.75, 1.5, 0.1, -0.3])

        let bn = BatchNorm2d<Float>(numFeatures: 2)
        try bn.loadStateDict(["running_mean": Tensor(repeating: 2, shape: [2])], strict: false)
        let x = try Tensor<Float>(shape: [1, 2, 2, 2], scalars: input)
        let y = try bn(x)
        let dx = try bn.backward(dy)
        bn.eval()
        let gn = GroupNorm<Double>(numGroups: 2, numChannels: 4)

        #expect(y.shape == [1, 2, 2, 2] && dx.shape == [1, 2, 2, 2])
        // ∂L/∂β = Σ dy per channel.
        assertClose(bn.gradients()["bias"]!.scalars, [0.5 - 1 + 0.25 + 2, -0.75 + 1.5 + 0.1 - 0.3],
                    Tolerance(absolute: 1e-6, relative: 0), "bias gradient")
        assertClose(bn.runningMean!.scalars.prefix(1), [1.8233], Tolerance(absolute: 5e-5, relative: 0), "running_mean")
        #expect(!bn.isTraining && Set(gn.stateDict().keys) == ["weight", "bias"])

        let result = try Functional.batchNorm(x, runningMean: .zeros(shape: [2]), runningVar: .ones(shape: [2]),
                                              weight: nil, bias: nil, training: true)
        let grads = try Functional.normalizationBackward(gradOutput: dy, input: x, saved: result.saved, weight: nil)
        assertClose(result.output.scalars, y.scalars, Tolerance(absolute: 1e-6, relative: 0), "functional output")
        assertClose(grads.input.scalars, dx.scalars, Tolerance(absolute: 1e-6, relative: 0), "functional dx")
    }

    /// The README's `Tensor` snippet, after the usage snippet's `bn`.
    @Test func tensorSnippetRuns() throws {
        let bn = BatchNorm2d<Float>(numFeatures: 2)

        let v: Tensor<Float> = [1, 2, 3]
        var m = try Tensor<Float>([[1, 2, 3], [4, 5, 6]])
        var rng = SeededGenerator(seed: 42)
        let noise = Tensor<Float>.randomNormal(shape: [8, 3, 4, 4], mean: 0, std: 1, using: &rng)
        let u = Tensor<Double>.randomUniform(shape: [3], in: -1..<1, using: &rng)
        m[1, 2] = 7
        m.withUnsafeMutableBufferPointer { $0[0] = 0 }
        print(m)
        print(bn)
        bn.resetRunningStats()

        #expect(v.shape == [3] && noise.shape == [8, 3, 4, 4] && u.scalars.allSatisfy { $0 >= -1 && $0 < 1 })
        #expect(m.description == "Tensor([[0., 2., 3.],\n        [4., 5., 7.]], shape: [2, 3], dtype: float32)")
        #expect(bn.description == "BatchNorm2d(2, eps: 1e-05, momentum: 0.1, affine: true, trackRunningStats: true)")
        assertThrows(.raggedArray(dimension: 1, expected: 3, actual: 2)) { try Tensor<Float>([[1, 2, 3], [4, 5]]) }
    }

    /// The README's data-parallel SGD step, on a one-rank local group instead of MPI.
    @Test func dataParallelStepSnippetRuns() throws {
        let group = try LocalProcessGroup.world(size: 1, timeout: 30)[0]
        let model = Sequential<Float>(BatchNorm2d(numFeatures: 8), BatchNorm2d(numFeatures: 8, momentum: nil))
        _ = convertSyncBatchNorm(model, processGroup: group)
        var random = SeededGenerator(seed: 8)
        let x = Tensor<Float>.randomNormal(shape: [4, 8, 5, 5], using: &random)
        _ = try model(x)
        _ = try model.backward(Tensor<Float>.randomNormal(shape: [4, 8, 5, 5], using: &random))
        let before = model.stateDict()

        let gradients = model.gradients()
        for (name, weight) in model.namedParameters() {
            let sum = try group.allReducedSum(gradients[name]!.scalars)
            try model.setParameter(named: name, to: Tensor(shape: weight.shape,
                                                           scalars: zip(weight.scalars, sum).map { w, g in w - 0.1 * g / Float(group.size) }))
        }
        model.zeroGrad()

        let after = model.stateDict()
        for (name, _) in model.namedParameters() {
            #expect(after[name]!.scalars == zip(before[name]!.scalars, gradients[name]!.scalars).map { $0 - 0.1 * $1 }, "\(name)")
        }
        #expect(after["0.running_mean"] == before["0.running_mean"] && model.gradients()["1.bias"] == .zeros(shape: [8]))
    }

    /// The README's speed snippet: memory formats, in-place inference, the thread count.
    @Test func speedSnippetRuns() throws {
        var random = SeededGenerator(seed: 5)
        let bn = BatchNorm2d<Float>(numFeatures: 3)
        var x = Tensor<Float>.randomNormal(shape: [8, 3, 32, 32], using: &random)
        let pixelsNHWC = x.withMemoryFormat(.channelsLast).storage
        let (rm, rv, w, b) = (Tensor<Float>.zeros(shape: [3]), Tensor<Float>.ones(shape: [3]), Tensor<Float>.ones(shape: [3]),
                              Tensor<Float>.zeros(shape: [3]))

        let nhwc = x.withMemoryFormat(.channelsLast)
        let y = try bn(nhwc)
        #expect(y.memoryFormat == .channelsLast)
        #expect(y[0, 2, 1, 1] == y.scalars[(2 * 32 + 1) * 32 + 1])
        let z = try Tensor<Float>(shape: [8, 3, 32, 32], storage: pixelsNHWC, memoryFormat: .channelsLast)
        #expect(z == x)
        try Functional.batchNormInference(&x, runningMean: rm, runningVar: rv, weight: w, bias: b)
        let saved = Parallelism.threadCount
        Parallelism.threadCount = 1
        Parallelism.threadCount = saved
        assertClose(x.scalars, z.scalars.map { $0 / (1 + 1e-5 as Float).squareRoot() }, .forType(Float.self), "eval in place")
    }
}

/// The optimizer's entry point: one parameter at a time, validated, nothing else touched.
@Suite struct SetParameterTests {
    @Test func replacesOneParameterOfANestedModel() throws {
        let model = Sequential<Float>(BatchNorm2d(numFeatures: 2), Sequential<Float>(GroupNorm(numGroups: 1, numChannels: 2)))
        let before = model.stateDict()
        let value = try Tensor<Float>(shape: [2], scalars: [3, -4])
        try model.setParameter(named: "1.0.weight", to: value)
        let after = model.stateDict()
        #expect(after["1.0.weight"] == value)
        for (name, tensor) in before where name != "1.0.weight" { #expect(after[name] == tensor, "\(name) unchanged") }
    }

    @Test func nestedRefusalsNameTheFullKeyAndChangeNothing() throws {
        let model = Sequential<Float>(BatchNorm2d(numFeatures: 2), Sequential<Float>(GroupNorm(numGroups: 1, numChannels: 2)))
        let before = model.stateDict()
        assertThrows(.stateShapeMismatch(key: "1.0.weight", expected: [2], actual: [5])) {
            try model.setParameter(named: "1.0.weight", to: .zeros(shape: [5]))
        }
        assertThrows(.invalidArgument(name: "parameter name", expected: "one of [\"0.weight\", \"0.bias\", \"1.0.weight\", \"1.0.bias\"]",
                                      actual: "\"0.running_mean\"")) {
            try model.setParameter(named: "0.running_mean", to: .zeros(shape: [2]))
        }
        #expect(model.stateDict() == before)
    }

    @Test func rejectsBuffersUnknownNamesAndWrongShapesWithoutChangingAnything() throws {
        let bn = BatchNorm2d<Float>(numFeatures: 2)
        let before = bn.stateDict()
        assertThrows(.invalidArgument(name: "parameter name", expected: "one of [\"weight\", \"bias\"]", actual: "\"running_mean\"")) {
            try bn.setParameter(named: "running_mean", to: .zeros(shape: [2]))
        }
        assertThrows(.stateShapeMismatch(key: "weight", expected: [2], actual: [3])) {
            try bn.setParameter(named: "weight", to: .zeros(shape: [3]))
        }
        #expect(bn.stateDict() == before)
        let plain = LayerNorm<Float>(normalizedShape: [4], elementwiseAffine: false)
        assertThrows(.invalidArgument(name: "parameter name", expected: "none: this module has no parameters", actual: "\"weight\"")) {
            try plain.setParameter(named: "weight", to: .ones(shape: [4]))
        }
        assertThrows(.invalidArgument(name: "parameter name", expected: "none: this module has no parameters", actual: "\"0.weight\"")) {
            try Sequential<Float>([BatchNorm1d<Float>(numFeatures: 4, affine: false)]).setParameter(named: "0.weight", to: .ones(shape: [4]))
        }
    }
}
