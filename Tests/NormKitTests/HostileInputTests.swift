import Testing
@testable import NormKit
import NormKitTestSupport

/// Everything a throwing or degenerate call must leave as it was.
struct LayerSnapshot<Scalar: NormScalar>: Equatable {
    var state: StateDict
    var gradients: [String: Tensor<Scalar>]
    var numBatchesTracked: Int?
    var isTraining: Bool

    init(_ module: any Module<Scalar>) {
        state = module.typedStateDict()
        gradients = module.gradients()
        numBatchesTracked = (module as? NormalizationLayer<Scalar>)?.numBatchesTracked
        isTraining = module.isTraining
    }
}

/// Runs `body`, expects exactly `expected`, and expects `module` unchanged.
func expectThrowsLeavingUnchanged<Scalar: NormScalar, T>(
    _ module: any Module<Scalar>, _ expected: NormError, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> T
) {
    let before = LayerSnapshot(module)
    assertThrows(expected, sourceLocation: sourceLocation, body)
    #expect(LayerSnapshot(module) == before, "state changed after \(expected)", sourceLocation: sourceLocation)
}

/// Issue #7, part A: inputs that crashed the process. Each now throws a typed error or gives
/// PyTorch's result, and leaves the layer as it was.
@Suite struct HostileShapeTests {
    // MARK: A.5 — every shape product is overflow-checked

    @Test func elementCountIsCheckedInAnyDimensionOrder() throws {
        #expect(Tensor<Float>.checkedElementCount([0, Int.max, Int.max]) == 0)
        #expect(Tensor<Float>.checkedElementCount([Int.max, Int.max, 0]) == 0)
        #expect(Tensor<Float>.checkedElementCount([1 << 32, 1 << 32]) == nil)   // wraps to 0 unchecked
        #expect(Tensor<Float>.checkedElementCount([Int.max, 2]) == nil)
        #expect(Tensor<Float>.checkedElementCount([3, -1, 0]) == nil)
        #expect(Tensor<Float>.checkedElementCount([]) == 1)
        #expect(try Tensor<Float>(shape: [Int.max, Int.max, 0], scalars: []).count == 0)
        #expect(try Tensor<Float>(shape: [0, Int.max, Int.max], scalars: []).count == 0)
        assertThrows(.invalidShape([1 << 32, 1 << 32])) { try Tensor<Float>(shape: [1 << 32, 1 << 32], scalars: []) }
        assertThrows(.invalidShape([Int.max, 2])) {
            try Tensor<Float>(shape: [Int.max, 2], storage: [], memoryFormat: .channelsLast)
        }
    }

    @Test func reshapingToAnOverflowingShapeThrows() throws {
        let x = try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        assertThrows(.invalidShape([Int.max, 2])) { try x.reshaped(to: [Int.max, 2]) }
        assertThrows(.invalidShape([1 << 32, 1 << 32])) { try x.reshaped(to: [1 << 32, 1 << 32]) }
        assertThrows(.invalidShape([-2, -3])) { try x.reshaped(to: [-2, -3]) }
        let empty = try Tensor<Float>(shape: [0, 3], scalars: [])
        #expect(try empty.reshaped(to: [Int.max, Int.max, 0]).shape == [Int.max, Int.max, 0])
        #expect(x.shape == [2, 3] && x.scalars == [1, 2, 3, 4, 5, 6])
    }

    @Test func repeatingTrapsWithTheShapeInItsMessage() async {
        // A non-throwing initializer: an invalid shape is a programming error, reported clearly.
        await #expect(processExitsWith: .failure) { _ = Tensor<Float>.zeros(shape: [1 << 32, 1 << 32]) }
        await #expect(processExitsWith: .failure) { _ = Tensor<Float>(repeating: 1, shape: [Int.max, Int.max, 3]) }
        await #expect(processExitsWith: .failure) {
            var random = SeededGenerator(seed: 1)
            _ = Tensor<Double>.randomNormal(shape: [-1], using: &random)
        }
        #expect(Tensor<Float>(repeating: 1, shape: [Int.max, Int.max, 0]).count == 0)
    }

    @Test func layerNormWithAnOverflowingNormalizedShapeThrowsOnUse() throws {
        let norm = LayerNorm<Double>(normalizedShape: [1 << 32, 1 << 32])
        let error = NormError.invalidShape([1 << 32, 1 << 32])
        #expect(norm.configurationError == error)
        #expect(norm.stateDict().isEmpty && norm.gradients().isEmpty)
        let x = try Tensor<Double>(shape: [0, 1 << 32, 1 << 32], scalars: [])
        expectThrowsLeavingUnchanged(norm, error) { try norm(x) }
        expectThrowsLeavingUnchanged(norm, error) { try norm.backward(x) }
        expectThrowsLeavingUnchanged(norm, error) { try norm.loadStateDict(StateDict(), strict: false) }
        expectThrowsLeavingUnchanged(norm, error) { try norm.setParameter(named: "weight", to: .zeros(shape: [1])) }
        #expect(error.description.contains("[4294967296, 4294967296]"))
        // The functional form checks the product too, with or without a layer.
        assertThrows(error) { try Functional.layerNorm(x, normalizedShape: [1 << 32, 1 << 32]) }
        assertThrows(error) { try Functional.rmsNorm(x, normalizedShape: [1 << 32, 1 << 32]) }
        let rms = RMSNorm<Float>(normalizedShape: [Int.max, 2])
        #expect(rms.configurationError == .invalidShape([Int.max, 2]))
    }

    @Test func negativeSizesThrowOnUseInsteadOfTrapping() throws {
        let bn = BatchNorm2d<Double>(numFeatures: -1)
        let error = NormError.invalidArgument(name: "num_features", expected: "a non-negative integer", actual: "-1")
        #expect(bn.configurationError == error)
        expectThrowsLeavingUnchanged(bn, error) { try bn(.zeros(shape: [2, 1, 2, 2])) }
        expectThrowsLeavingUnchanged(bn, error) { try bn.backward(.zeros(shape: [2, 1, 2, 2])) }
        expectThrowsLeavingUnchanged(bn, error) { try bn.loadStateDict(["weight": .ones(shape: [1])], strict: false) }
        #expect(InstanceNorm1d<Double>(numFeatures: -5, trackRunningStats: true).configurationError
                == .invalidArgument(name: "num_features", expected: "a non-negative integer", actual: "-5"))
        #expect(GroupNorm<Double>(numGroups: 1, numChannels: -2).configurationError
                == .invalidArgument(name: "num_channels", expected: "a non-negative integer", actual: "-2"))
        #expect(LayerNorm<Double>(normalizedShape: [3, -4]).configurationError == .invalidShape([3, -4]))
        #expect(SyncBatchNorm<Float>(numFeatures: -3).configurationError
                == .invalidArgument(name: "num_features", expected: "a non-negative integer", actual: "-3"))
        #expect(BatchNorm2d<Double>(numFeatures: 0).configurationError == nil)
    }

    /// Sizes whose elements fit in `Int` but whose bytes do not are configuration errors too
    /// (they trapped in the byte count of the parameters' allocation).
    @Test func sizesWhoseBytesOverflowThrowOnUse() throws {
        let bn = BatchNorm1d<Float>(numFeatures: Int.max)
        let error = NormError.invalidArgument(
            name: "num_features", expected: "at most \(Int.max / 4) (the bytes of more Float parameters overflow Int)",
            actual: "\(Int.max)")
        #expect(bn.configurationError == error)
        expectThrowsLeavingUnchanged(bn, error) { try bn(.zeros(shape: [2, 1])) }
        #expect(LayerNorm<Float>(normalizedShape: [1 << 61]).configurationError == .invalidShape([1 << 61]))
        #expect(LayerNorm<Double>(normalizedShape: [1 << 60]).configurationError == .invalidShape([1 << 60]))
        #expect(throws: NormError.invalidShape([1 << 62])) { try Tensor<Float>(shape: [1 << 62], scalars: []) }
    }

    /// An empty normalized shape normalizes nothing: PyTorch refuses it at the call, and so does
    /// NormKit, naming the argument.
    @Test func anEmptyNormalizedShapeIsRefusedAtTheCall() throws {
        let error = NormError.invalidArgument(name: "normalized_shape", expected: "at least one dimension", actual: "[]")
        let x = Tensor<Float>.ones(shape: [2, 3])
        #expect(throws: error) { try LayerNorm<Float>(normalizedShape: [])(x) }
        #expect(throws: error) { try RMSNorm<Float>(normalizedShape: [])(x) }
        #expect(throws: error) { try Functional.layerNorm(x, normalizedShape: []) }
    }

    // MARK: A.6 — empty tensors with huge sizes

    @Test func emptyTensorsWithHugeTrailingSizesGiveEmptyOutputs() throws {
        let x = try Tensor<Double>(shape: [0, 3, 1 << 32, 1 << 32], scalars: [])
        let layers: [NormalizationLayer<Double>] = [
            BatchNorm2d(numFeatures: 3), BatchNorm2d(numFeatures: 3, momentum: nil), GroupNorm(numGroups: 1, numChannels: 3),
            GroupNorm(numGroups: 3, numChannels: 3), InstanceNorm2d(numFeatures: 3, affine: true, trackRunningStats: true),
            SyncBatchNorm(numFeatures: 3), LayerNorm(normalizedShape: [1 << 32], elementwiseAffine: false),
        ]
        for layer in layers {
            for training in [true, false] {
                layer.train(training)
                let before = LayerSnapshot(layer)
                #expect(try layer(x).shape == x.shape, "\(layer)")
                #expect(try layer.backward(x).shape == x.shape, "\(layer)")
                #expect(LayerSnapshot(layer) == before, "\(layer) changed state on an empty batch")
            }
        }
        let nhwc = x.withMemoryFormat(.channelsLast)
        #expect(try BatchNorm2d<Double>(numFeatures: 3)(nhwc).memoryFormat == .channelsLast)
        let result = try Functional.batchNorm(x, runningMean: .zeros(shape: [3]), runningVar: .ones(shape: [3]),
                                              weight: nil, bias: nil, training: true)
        #expect(result.output.shape == x.shape && result.saved.mean.count == 3)
        #expect(result.runningMean == .zeros(shape: [3]) && result.runningVar == .ones(shape: [3]))
        var inPlace = x
        try Functional.batchNormInference(&inPlace, runningMean: .zeros(shape: [3]), runningVar: .ones(shape: [3]), weight: nil, bias: nil)
        #expect(inPlace.shape == x.shape)
    }

    @Test func emptyTensorsWithHugeLeadingSizesGiveEmptyOutputs() throws {
        // N·C or N·∏spatial would overflow, or allocate one statistic per (huge) sample.
        for shape in [[Int.max, 0, 2], [Int.max, 0, 1 << 40, 2], [1 << 40, 0]] {
            let x = try Tensor<Float>(shape: shape, scalars: [])
            #expect(try Functional.batchNorm(x, runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true).output.shape == shape)
            #expect(try Functional.groupNorm(x, numGroups: 1).output.shape == shape)
            #expect(try Functional.instanceNorm(x).output.shape == shape)
        }
        for shape in [[Int.max, 3, 0], [1 << 40, 3, 0]] {
            let x = try Tensor<Float>(shape: shape, scalars: [])
            let layers: [NormalizationLayer<Float>] = [
                BatchNorm1d(numFeatures: 3), InstanceNorm1d(numFeatures: 3, trackRunningStats: true), GroupNorm(numGroups: 1, numChannels: 3),
            ]
            for layer in layers {
                let before = LayerSnapshot(layer)
                #expect(try layer(x).shape == shape, "\(layer)")
                #expect(try layer.backward(x).shape == shape, "\(layer)")
                #expect(LayerSnapshot(layer) == before, "\(layer)")
            }
            let result = try Functional.groupNorm(x, numGroups: 3)
            #expect(result.saved.mean.isEmpty, "no statistic is allocated per sample of an empty input")
        }
        // PyTorch still rejects one value per channel when there are no channels: N·∏spatial = 1.
        assertThrows(.tooFewValuesPerChannel(shape: [1, 0, 1])) {
            try Functional.batchNorm(Tensor<Float>(shape: [1, 0, 1], scalars: []), runningMean: nil, runningVar: nil,
                                     weight: nil, bias: nil, training: true)
        }
    }

    // MARK: A.3 — InstanceNorm with zero channels

    @Test func instanceNormWithZeroChannelsReturnsAnEmptyTensor() throws {
        for (affine, track) in [(false, false), (true, false), (false, true), (true, true)] {
            for training in [true, false] {
                let layer = InstanceNorm1d<Double>(numFeatures: 0, affine: affine, trackRunningStats: track)
                layer.train(training)
                for shape in [[2, 0, 3], [0, 3]] {   // batched and unbatched
                    let x = try Tensor<Double>(shape: shape, scalars: [])
                    let before = LayerSnapshot(layer)
                    #expect(try layer(x).shape == shape, "affine \(affine) track \(track) training \(training) \(shape)")
                    #expect(try layer.backward(x).shape == shape)
                    #expect(LayerSnapshot(layer) == before)
                    #expect(layer.numBatchesTracked == (track ? 0 : nil))
                }
            }
        }
        let image = try Tensor<Float>(shape: [2, 0, 3, 3], scalars: []).withMemoryFormat(.channelsLast)
        let layer2d = InstanceNorm2d<Float>(numFeatures: 0, affine: true, trackRunningStats: true)
        let y = try layer2d(image)
        #expect(y.shape == [2, 0, 3, 3] && y.memoryFormat == .channelsLast)
        #expect(layer2d.runningMean == .zeros(shape: [0]) && layer2d.runningVar == .ones(shape: [0]))
    }

    @Test func functionalInstanceNormWithZeroChannels() throws {
        let x = try Tensor<Double>(shape: [2, 0, 3], scalars: [])
        let plain = try Functional.instanceNorm(x)
        #expect(plain.output.shape == [2, 0, 3] && plain.runningMean == nil)
        let (rm, rv) = (Tensor<Double>.zeros(shape: [0]), Tensor<Double>.ones(shape: [0]))
        let tracked = try Functional.instanceNorm(x, runningMean: rm, runningVar: rv, weight: .ones(shape: [0]), bias: .zeros(shape: [0]))
        #expect(tracked.output.shape == [2, 0, 3] && tracked.runningMean == rm && tracked.runningVar == rv)
        let eval = try Functional.instanceNorm(x, runningMean: rm, runningVar: rv, useInputStatistics: false)
        #expect(eval.output.shape == [2, 0, 3])
        let grads = try Functional.normalizationBackward(gradOutput: x, input: x, saved: tracked.saved, weight: .ones(shape: [0]))
        #expect(grads.input.shape == [2, 0, 3] && grads.weight == .zeros(shape: [0]))
        assertThrows(.argumentShapeMismatch(argument: "running_mean", expected: [0], actual: [1])) {
            try Functional.instanceNorm(x, runningMean: .zeros(shape: [1]), runningVar: rv)
        }
    }

    @Test func instanceNormWithAnEmptySpatialSizeReturnsEmptyLikePyTorch() throws {
        // PyTorch rejects exactly one spatial element; zero spatial elements give an empty output.
        let layer = InstanceNorm1d<Double>(numFeatures: 3, trackRunningStats: true)
        let before = LayerSnapshot(layer)
        #expect(try layer(.zeros(shape: [2, 3, 0])).shape == [2, 3, 0])
        #expect(LayerSnapshot(layer) == before)
        assertThrows(.tooFewSpatialElements(shape: [2, 3, 1])) { try layer(.zeros(shape: [2, 3, 1])) }
        assertThrows(.tooFewSpatialElements(shape: [2, 3])) { try Functional.instanceNorm(Tensor<Double>.zeros(shape: [2, 3])) }
    }

    @Test func layerNormOverZeroSizedDimensionsReturnsEmpty() throws {
        // PyTorch accepts a normalized shape with zeros; the rows are empty.
        let norm = LayerNorm<Double>(normalizedShape: [0])
        #expect(norm.weight == .ones(shape: [0]))
        let before = LayerSnapshot(norm)
        #expect(try norm(.zeros(shape: [2, 0])).shape == [2, 0])
        #expect(try norm.backward(.zeros(shape: [2, 0])).shape == [2, 0])
        #expect(LayerSnapshot(norm) == before)
        #expect(try RMSNorm<Float>(normalizedShape: [3, 0])(.zeros(shape: [5, 3, 0])).shape == [5, 3, 0])
        assertThrows(.normalizedShapeMismatch(normalizedShape: [-1], inputShape: [2, 0])) {
            try Functional.layerNorm(Tensor<Double>.zeros(shape: [2, 0]), normalizedShape: [-1])
        }
    }
}

@Suite struct HostileStateTests {
    // MARK: A.1 — num_batches_tracked values the commit cannot take are rejected up front

    @Test func hugeBatchCountsAreRejectedBeforeAnythingIsWritten() throws {
        var random = SeededRandom(seed: 21)
        let bn = BatchNorm2d<Double>(numFeatures: 2)
        _ = try bn(random.tensor([2, 2, 2, 2]))
        let expected = "an integer in 0...9007199254740992"
        for value in [1e19, 1e30, Double(Int.max), Double(UInt64.max), 0x1p53 + 2, .infinity, .greatestFiniteMagnitude, .nan, -1, 0.5] {
            let state: [String: Tensor<Double>] = ["running_mean": .ones(shape: [2]), "num_batches_tracked": Tensor(repeating: value, shape: [])]
            expectThrowsLeavingUnchanged(bn, .invalidStateValue(key: "num_batches_tracked", expected: expected, actual: "\(value)")) {
                try bn.loadStateDict(state, strict: false)
            }
        }
        let float = BatchNorm1d<Float>(numFeatures: 1)
        for value in [Float(Int.max), 1e19, .infinity] {
            expectThrowsLeavingUnchanged(float, .invalidStateValue(key: "num_batches_tracked", expected: expected, actual: "\(value)")) {
                try float.loadStateDict(["num_batches_tracked": Tensor(repeating: value, shape: [])], strict: false)
            }
        }
        let model = Sequential<Double>(GroupNorm(numGroups: 1, numChannels: 2), Sequential<Double>(BatchNorm1d(numFeatures: 2)))
        expectThrowsLeavingUnchanged(model, .invalidStateValue(key: "1.0.num_batches_tracked", expected: expected, actual: "1e+19")) {
            try model.loadStateDict(["1.0.num_batches_tracked": Tensor(repeating: 1e19, shape: [])], strict: false)
        }
    }

    @Test func theLargestBatchCountLoadsRoundTripsAndStaysPut() throws {
        let limit = RunningStatistics.maxTrackedBatches
        for layer in [BatchNorm1d<Double>(numFeatures: 2, momentum: nil), SyncBatchNorm<Double>(numFeatures: 2, momentum: nil)] as [BatchNorm<Double>] {
            try layer.loadStateDict(["num_batches_tracked": Tensor(repeating: Double(limit), shape: [])], strict: false)
            #expect(layer.numBatchesTracked == limit)
            _ = try layer(Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]))
            #expect(layer.numBatchesTracked == limit, "the counter stops at 2^53")
            // At that count the cumulative average no longer moves: 1/2^53 of the batch mean.
            #expect(layer.runningMean!.scalars.allSatisfy { $0 < 1e-14 })
            let copy = BatchNorm1d<Double>(numFeatures: 2)
            try copy.loadStateDict(layer.stateDict())
            #expect(copy.numBatchesTracked == limit)
        }
        let float = BatchNorm1d<Float>(numFeatures: 1)
        try float.loadStateDict(["num_batches_tracked": Tensor(repeating: Float(limit), shape: [])], strict: false)
        #expect(float.numBatchesTracked == limit)
    }
}

@Suite struct HostileMessageTests {
    // MARK: A.8 — smaller wrong results and messages

    @Test func zeroEpsOnConstantRowsGivesNaNLikePyTorch() throws {
        // var = 0 and eps = 0 make 1/σ infinite; PyTorch's (x − μ)·(1/σ) is NaN everywhere, in
        // float32 and float64 alike (torch.nn.LayerNorm(4, eps=0)(torch.full((2, 4), v))).
        for value in [1.0, 0.1, -2.5, 0, 1e10] {
            for width in [3, 8, 19] {   // scalar tail, one SIMD vector, vectors and a tail
                let double = LayerNorm<Double>(normalizedShape: [width], eps: 0)
                let before = LayerSnapshot(double)
                let y = try double(Tensor(repeating: value, shape: [2, width]))
                #expect(y.scalars.allSatisfy { $0.isNaN }, "LayerNorm<Double> value \(value) width \(width): \(y.scalars)")
                #expect(LayerSnapshot(double) == before)
                let float = try LayerNorm<Float>(normalizedShape: [width], eps: 0)(Tensor(repeating: Float(value), shape: [2, width]))
                #expect(float.scalars.allSatisfy { $0.isNaN }, "LayerNorm<Float> value \(value) width \(width)")
            }
        }
        let x = Tensor<Double>(repeating: 0.1, shape: [3, 2, 5])
        for layer in [BatchNorm1d<Double>(numFeatures: 2, eps: 0), GroupNorm(numGroups: 1, numChannels: 2, eps: 0),
                      InstanceNorm1d(numFeatures: 2, eps: 0)] as [NormalizationLayer<Double>] {
            #expect(try layer(x).scalars.allSatisfy { $0.isNaN }, "\(layer)")
            #expect(try layer(x).converted(to: Float.self).scalars.allSatisfy { $0.isNaN }, "\(layer)")
        }
        #expect(try RMSNorm<Double>(normalizedShape: [5], eps: 0)(.zeros(shape: [2, 5])).scalars.allSatisfy { $0.isNaN })
    }

    @Test func backwardBlamesTheTensorThatIsWrong() throws {
        let x = try Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 6, 8])
        let forward = try Functional.batchNorm(x, runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true)
        let inputError = NormError.argumentShapeMismatch(argument: "input", expected: [2, 3], actual: [3, 2])
        assertThrows(inputError) {
            try Functional.normalizationBackward(gradOutput: x, input: .zeros(shape: [3, 2]), saved: forward.saved, weight: nil)
        }
        #expect(inputError.description == "input should have shape [2, 3] (got [3, 2])")
        assertThrows(.gradientShapeMismatch(expected: [2, 3], actual: [6])) {
            try Functional.normalizationBackward(gradOutput: .zeros(shape: [6]), input: x, saved: forward.saved, weight: nil)
        }
        // A weight of the right size and the wrong shape is rejected too.
        assertThrows(.argumentShapeMismatch(argument: "weight", expected: [3], actual: [1, 3])) {
            try Functional.normalizationBackward(gradOutput: x, input: x, saved: forward.saved, weight: .ones(shape: [1, 3]))
        }
        assertThrows(.argumentShapeMismatch(argument: "weight", expected: [3], actual: [2])) {
            try Functional.normalizationBackward(gradOutput: x, input: x, saved: forward.saved, weight: .ones(shape: [2]))
        }
        // LayerNorm's weight has the normalized shape, not its element count.
        let rows = try Tensor<Double>(shape: [2, 2, 3], scalars: (0..<12).map { Double($0 * $0) })
        let layerNorm = try Functional.layerNorm(rows, normalizedShape: [2, 3], weight: .ones(shape: [2, 3]))
        #expect(try Functional.normalizationBackward(gradOutput: rows, input: rows, saved: layerNorm.saved,
                                                     weight: .ones(shape: [2, 3])).weight!.shape == [2, 3])
        assertThrows(.argumentShapeMismatch(argument: "weight", expected: [2, 3], actual: [6])) {
            try Functional.normalizationBackward(gradOutput: rows, input: rows, saved: layerNorm.saved, weight: .ones(shape: [6]))
        }
    }

    @Test func functionalArgumentsAreNotCheckpoints() {
        let x = Tensor<Double>.zeros(shape: [2, 3])
        let error = NormError.argumentShapeMismatch(argument: "weight", expected: [3], actual: [2])
        assertThrows(error) {
            try Functional.batchNorm(x, runningMean: nil, runningVar: nil, weight: .ones(shape: [2]), bias: nil, training: true)
        }
        #expect(error.description == "weight should contain 3 elements not 2 (expected shape [3], got [2])")
        #expect(!error.description.contains("checkpoint"))
        assertThrows(.argumentShapeMismatch(argument: "running_var", expected: [3], actual: [1, 3])) {
            try Functional.batchNorm(x, runningMean: .zeros(shape: [3]), runningVar: .ones(shape: [1, 3]), weight: nil, bias: nil,
                                     training: false)
        }
        assertThrows(.argumentShapeMismatch(argument: "bias", expected: [3], actual: [4])) {
            try Functional.groupNorm(x, numGroups: 1, bias: .zeros(shape: [4]))
        }
        assertThrows(.argumentShapeMismatch(argument: "weight", expected: [3], actual: [4])) {
            try Functional.layerNorm(x, normalizedShape: [3], weight: .zeros(shape: [4]))
        }
        var inPlace = x
        assertThrows(.argumentShapeMismatch(argument: "running_mean", expected: [3], actual: [2])) {
            try Functional.batchNormInference(&inPlace, runningMean: .zeros(shape: [2]), runningVar: .ones(shape: [3]), weight: nil, bias: nil)
        }
    }

    @Test func sequentialErrorsNameTheChildPath() throws {
        let model = Sequential<Double>(GroupNorm(numGroups: 1, numChannels: 2), Sequential<Double>(BatchNorm2d(numFeatures: 2)))
        let tooFew = NormError.inSubmodule(path: "1.0", module: "BatchNorm2d", underlying: .tooFewValuesPerChannel(shape: [1, 2, 1, 1]))
        expectThrowsLeavingUnchanged(model, tooFew) { try model(.ones(shape: [1, 2, 1, 1])) }
        #expect(tooFew.description == "1.0: BatchNorm2d: Expected more than 1 value per channel when training, got input size [1, 2, 1, 1]")
        #expect(tooFew.underlyingError == .tooFewValuesPerChannel(shape: [1, 2, 1, 1]))

        let wrongRank = NormError.inSubmodule(path: "1.0", module: "BatchNorm2d",
                                              underlying: .wrongRank(layer: "BatchNorm2d", expected: [4], actual: 3))
        expectThrowsLeavingUnchanged(model, wrongRank) { try model(.ones(shape: [2, 2, 3])) }
        #expect(wrongRank.description == "1.0: BatchNorm2d: expected 4D input (got 3D input)")

        let backward = NormError.inSubmodule(path: "1.0", module: "BatchNorm2d", underlying: .backwardBeforeForward(layer: "BatchNorm2d"))
        expectThrowsLeavingUnchanged(model, backward) { try model.backward(.ones(shape: [2, 2, 1, 1])) }
        let first = NormError.inSubmodule(path: "0", module: "GroupNorm", underlying: .wrongChannelCount(layer: "GroupNorm", expected: 2, actual: 3))
        expectThrowsLeavingUnchanged(model, first) { try model(.ones(shape: [2, 3, 2, 2])) }
        #expect(first.description == "0: GroupNorm: expected input with 2 channels (got 3 channels)")

        // A child that cannot be configured says so under its path; state-dict errors keep PyTorch's full keys.
        let broken = Sequential<Float>(BatchNorm1d(numFeatures: 1), Sequential<Float>(LayerNorm(normalizedShape: [-1])))
        expectThrowsLeavingUnchanged(broken, .inSubmodule(path: "1.0", module: "LayerNorm", underlying: .invalidShape([-1]))) {
            try broken.loadStateDict(StateDict(), strict: false)
        }
        expectThrowsLeavingUnchanged(model, .stateShapeMismatch(key: "1.0.weight", expected: [2], actual: [3])) {
            try model.loadStateDict(["1.0.weight": .ones(shape: [3])], strict: false)
        }
    }

    @Test func parametersOfRankThreeLoadInAnyMemoryFormat() throws {
        KernelSettings.lock.lock()  // two runs compared bit for bit: no test may switch the loops meanwhile
        defer { KernelSettings.lock.unlock() }
        // A channels-last weight was stored as given and read in memory order: wrong values, silently.
        var random = SeededRandom(seed: 22)
        let weight: Tensor<Double> = random.tensor([2, 3, 4]), bias: Tensor<Double> = random.tensor([2, 3, 4])
        let x: Tensor<Double> = random.tensor([2, 2, 3, 4]), dy: Tensor<Double> = random.tensor([2, 2, 3, 4])
        let reference = LayerNorm<Double>(normalizedShape: [2, 3, 4]), permuted = LayerNorm<Double>(normalizedShape: [2, 3, 4])
        try reference.loadStateDict(["weight": weight, "bias": bias])
        try permuted.loadStateDict(["weight": weight.withMemoryFormat(.channelsLast), "bias": bias.withMemoryFormat(.channelsLast)])
        #expect(permuted.weight!.memoryFormat == .contiguous)
        #expect(try permuted(x) == reference(x))
        #expect(try permuted.backward(dy) == reference.backward(dy))
        #expect(permuted.gradients() == reference.gradients())
        try permuted.setParameter(named: "weight", to: weight.withMemoryFormat(.channelsLast))
        #expect(try permuted(x) == reference(x))
        let functional = try Functional.layerNorm(x, normalizedShape: [2, 3, 4], weight: weight.withMemoryFormat(.channelsLast),
                                                  bias: bias.withMemoryFormat(.channelsLast))
        #expect(functional.output == (try reference(x)))
        let grads = try Functional.normalizationBackward(gradOutput: dy, input: x, saved: functional.saved,
                                                         weight: weight.withMemoryFormat(.channelsLast))
        #expect(grads.input == (try reference.backward(dy)))
    }
}

/// Found by trying hostile calls beyond the issue's list.
@Suite struct BeyondTheIssueTests {
    @Test func aModuleUsedTwiceCannotRunBackward() throws {
        // Each layer keeps one saved forward pass: backward through the first use was silently wrong.
        let shared = BatchNorm1d<Double>(numFeatures: 2)
        let model = Sequential<Double>(shared, shared)
        let x = try Tensor<Double>([[1, 2], [3, 7], [4, -1]])
        #expect(try model(x).shape == [3, 2])   // forward sharing is fine, as in PyTorch
        #expect(shared.numBatchesTracked == 2)
        let error = NormError.invalidArgument(
            name: "the modules of a Sequential", expected: "distinct instances for backward, since each layer keeps only its last forward pass",
            actual: "the same instance at \"0\" and \"1\"")
        expectThrowsLeavingUnchanged(model, error) { try model.backward(x) }
        let nested = Sequential<Double>(GroupNorm(numGroups: 1, numChannels: 2), Sequential<Double>(shared), shared)
        _ = try nested(x)
        expectThrowsLeavingUnchanged(nested, .invalidArgument(name: error.argumentName, expected: error.argumentExpectation,
                                                              actual: "the same instance at \"1.0\" and \"2\"")) {
            try nested.backward(x)
        }
        let distinct = Sequential<Double>(BatchNorm1d(numFeatures: 2), BatchNorm1d(numFeatures: 2))
        _ = try distinct(x)
        #expect(try distinct.backward(x).shape == [3, 2])
    }

    @Test func aSequentialCannotBeMadeToContainItself() async {
        await #expect(processExitsWith: .failure) {
            let model = Sequential<Float>(BatchNorm1d(numFeatures: 1))
            model.replaceChildren { _ in model }
        }
        let model = Sequential<Float>(Sequential<Float>(BatchNorm1d(numFeatures: 1)))
        model.replaceChildren { convertSyncBatchNorm($0, processGroup: nil) }
        #expect(model.stateDict().count == 5)
    }

    @Test func runningStatisticsWithZeroVariancePlusEpsGiveNaNLikePyTorch() throws {
        // torch.nn.functional.batch_norm(x, zeros(1), zeros(1), training=False, eps=0) is NaN
        // everywhere; (x − μ)·∞ gave ±∞ where x ≠ μ.
        let bn = BatchNorm1d<Double>(numFeatures: 2, eps: 0)
        try bn.loadStateDict(["running_var": Tensor([0, 4])], strict: false)
        bn.eval()
        let before = LayerSnapshot(bn)
        let y = try bn(Tensor([[1, 2], [0, 6]]))
        #expect(y[0, 0].isNaN && y[1, 0].isNaN && y[0, 1] == 1 && y[1, 1] == 3)
        #expect(LayerSnapshot(bn) == before)
        var x = try Tensor<Float>([[1, 2], [0, 6]])
        try Functional.batchNormInference(&x, runningMean: .zeros(shape: [2]), runningVar: Tensor([0, 4]), weight: nil, bias: nil, eps: 0)
        #expect(x[0, 0].isNaN && x[1, 0].isNaN && x[1, 1] == 3)
        let instance = InstanceNorm1d<Float>(numFeatures: 1, eps: 0, trackRunningStats: true)
        try instance.loadStateDict(["running_var": Tensor([0])], strict: false)
        instance.eval()
        #expect(try instance(Tensor([[[1, 2, 3]]])).scalars.allSatisfy { $0.isNaN })
    }
}

extension NormError {
    var argumentName: String { if case let .invalidArgument(name, _, _) = self { name } else { "" } }
    var argumentExpectation: String { if case let .invalidArgument(_, expected, _) = self { expected } else { "" } }
}
