import Testing
@testable import NormKit
import NormKitTestSupport

/// Every error path: the typed error, its message, and a layer left exactly as it was.
@Suite struct ErrorTests {
    /// Everything a throwing call must not change.
    struct Snapshot: Equatable {
        var state: [String: Tensor<Double>]
        var gradients: [String: Tensor<Double>]
        var numBatchesTracked: Int?

        init(_ layer: NormalizationLayer<Double>) {
            state = layer.stateDict()
            gradients = layer.gradients()
            numBatchesTracked = layer.numBatchesTracked
        }
    }

    /// A layer that has already trained one step, so its state and gradients are not defaults.
    func trained<L: NormalizationLayer<Double>>(_ layer: L, shape: [Int]) throws -> L {
        var random = SeededRandom(seed: 11)
        _ = try layer(random.tensor(shape))
        _ = try layer.backward(random.tensor(shape))
        return layer
    }

    func expectUnchanged(
        _ layer: NormalizationLayer<Double>, throwing expected: NormError,
        sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Any
    ) {
        let before = Snapshot(layer)
        assertThrows(expected, sourceLocation: sourceLocation, body)
        #expect(Snapshot(layer) == before, "state changed after \(expected)", sourceLocation: sourceLocation)
    }

    @Test func tensorShapeMustMatchScalars() {
        assertThrows(.scalarCountMismatch(shape: [2, 3], expected: 6, actual: 5)) {
            try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5])
        }
        assertThrows(.invalidShape([2, -1])) { try Tensor<Float>(shape: [2, -1], scalars: []) }
        #expect(throws: Never.self) { try Tensor<Float>(shape: [0, 3], scalars: []) }
    }

    @Test func wrongRank() throws {
        let bn = try trained(BatchNorm2d<Double>(numFeatures: 2), shape: [2, 2, 2, 2])
        expectUnchanged(bn, throwing: .wrongRank(layer: "BatchNorm2d", expected: [4], actual: 3)) {
            try bn(.zeros(shape: [2, 2, 3]))
        }
        #expect(NormError.wrongRank(layer: "BatchNorm2d", expected: [4], actual: 3).description
                == "BatchNorm2d: expected 4D input (got 3D input)")
        let instance = InstanceNorm1d<Double>(numFeatures: 2)
        assertThrows(.wrongRank(layer: "InstanceNorm1d", expected: [2, 3], actual: 4)) { try instance(.zeros(shape: [1, 2, 3, 4])) }
        let group = GroupNorm<Double>(numGroups: 1, numChannels: 2)
        assertThrows(.rankTooSmall(layer: "GroupNorm", minimum: 2, actual: 1)) { try group(.zeros(shape: [2])) }
    }

    @Test func wrongChannelCount() throws {
        let bn = try trained(BatchNorm1d<Double>(numFeatures: 3), shape: [4, 3])
        expectUnchanged(bn, throwing: .wrongChannelCount(layer: "BatchNorm1d", expected: 3, actual: 4)) {
            try bn(.zeros(shape: [4, 4]))
        }
        let instance = try trained(InstanceNorm2d<Double>(numFeatures: 2, affine: true, trackRunningStats: true), shape: [2, 2, 2, 2])
        expectUnchanged(instance, throwing: .wrongChannelCount(layer: "InstanceNorm2d", expected: 2, actual: 3)) {
            try instance(.zeros(shape: [3, 2, 2]))
        }
        let group = try trained(GroupNorm<Double>(numGroups: 2, numChannels: 4), shape: [2, 4, 3])
        expectUnchanged(group, throwing: .wrongChannelCount(layer: "GroupNorm", expected: 4, actual: 6)) {
            try group(.zeros(shape: [2, 6, 3]))
        }
    }

    @Test func oneValuePerChannelInTraining() throws {
        let bn = try trained(BatchNorm1d<Double>(numFeatures: 3), shape: [4, 3])
        let error = NormError.tooFewValuesPerChannel(shape: [1, 3])
        expectUnchanged(bn, throwing: error) { try bn(.ones(shape: [1, 3])) }
        #expect(error.description == "Expected more than 1 value per channel when training, got input size [1, 3]")
        let bn2 = try trained(BatchNorm2d<Double>(numFeatures: 2), shape: [2, 2, 2, 2])
        expectUnchanged(bn2, throwing: .tooFewValuesPerChannel(shape: [1, 2, 1, 1])) { try bn2(.ones(shape: [1, 2, 1, 1])) }
        // Eval mode takes a single value, as PyTorch does.
        bn.eval()
        #expect(throws: Never.self) { try bn(.ones(shape: [1, 3])) }
        let instance = InstanceNorm1d<Double>(numFeatures: 2)
        assertThrows(.tooFewSpatialElements(shape: [3, 2, 1])) { try instance(.ones(shape: [3, 2, 1])) }
    }

    @Test func groupsMustDivideChannels() throws {
        let group = GroupNorm<Double>(numGroups: 3, numChannels: 4)
        let error = NormError.groupsDoNotDivideChannels(groups: 3, channels: 4)
        expectUnchanged(group, throwing: error) { try group(.zeros(shape: [2, 4, 5])) }
        #expect(error.description.contains("divisible by num_groups"))
        assertThrows(.groupsDoNotDivideChannels(groups: 0, channels: 4)) {
            try Functional.groupNorm(Tensor<Double>.zeros(shape: [2, 4]), numGroups: 0)
        }
    }

    @Test func normalizedShapeMustMatchTrailingDimensions() throws {
        let norm = try trained(LayerNorm<Double>(normalizedShape: [3, 4]), shape: [2, 3, 4])
        let error = NormError.normalizedShapeMismatch(normalizedShape: [3, 4], inputShape: [2, 4, 3])
        expectUnchanged(norm, throwing: error) { try norm(.zeros(shape: [2, 4, 3])) }
        #expect(error.description == "Given normalized_shape=[3, 4], expected input with shape [*, 3, 4], but got input of size [2, 4, 3]")
        let rms = try trained(RMSNorm<Double>(normalizedShape: [5]), shape: [2, 5])
        expectUnchanged(rms, throwing: .normalizedShapeMismatch(normalizedShape: [5], inputShape: [2, 4])) {
            try rms(.zeros(shape: [2, 4]))
        }
        assertThrows(.normalizedShapeMismatch(normalizedShape: [3, 4], inputShape: [4])) {
            try LayerNorm<Double>(normalizedShape: [3, 4])(.zeros(shape: [4]))
        }
    }

    @Test func backwardBeforeForward() {
        for layer in [BatchNorm2d<Double>(numFeatures: 2), GroupNorm(numGroups: 1, numChannels: 2),
                      LayerNorm(normalizedShape: [2]), RMSNorm(normalizedShape: [2]), InstanceNorm1d(numFeatures: 2)] as [NormalizationLayer<Double>] {
            let name = String(String(describing: type(of: layer)).prefix { $0 != "<" })
            expectUnchanged(layer, throwing: .backwardBeforeForward(layer: name)) { try layer.backward(.zeros(shape: [1, 2])) }
        }
    }

    @Test func backwardWithMismatchedShape() throws {
        let bn = try trained(BatchNorm2d<Double>(numFeatures: 2), shape: [2, 2, 2, 2])
        let error = NormError.gradientShapeMismatch(expected: [2, 2, 2, 2], actual: [2, 2, 4])
        expectUnchanged(bn, throwing: error) { try bn.backward(.zeros(shape: [2, 2, 4])) }
        // Same element count, other shape: still an error, and an unbatched InstanceNorm wants its own shape back.
        let instance = try trained(InstanceNorm1d<Double>(numFeatures: 2, affine: true), shape: [2, 3])
        expectUnchanged(instance, throwing: .gradientShapeMismatch(expected: [2, 3], actual: [1, 2, 3])) {
            try instance.backward(.zeros(shape: [1, 2, 3]))
        }
    }

    @Test func stateDictWithWrongShapesOrKeys() throws {
        let bn = try trained(BatchNorm2d<Double>(numFeatures: 2), shape: [2, 2, 2, 2])
        expectUnchanged(bn, throwing: .stateShapeMismatch(key: "running_var", expected: [2], actual: [3])) {
            // A valid entry beside the bad one must not be written either.
            try bn.loadStateDict(["running_mean": .ones(shape: [2]), "running_var": .ones(shape: [3])], strict: false)
        }
        expectUnchanged(bn, throwing: .stateDictKeyMismatch(missing: ["bias", "running_mean", "running_var", "weight"],
                                                           unexpected: ["gamma"])) {
            try bn.loadStateDict(["gamma": .ones(shape: [2])])
        }
        expectUnchanged(bn, throwing: .invalidStateValue(key: "num_batches_tracked", expected: "an integer in 0...9007199254740992", actual: "-1.0")) {
            try bn.loadStateDict(["num_batches_tracked": Tensor(repeating: -1, shape: [])], strict: false)
        }
        let description = NormError.stateDictKeyMismatch(missing: ["weight"], unexpected: ["gamma"]).description
        #expect(description == "Error(s) in loading state_dict: Missing key(s) in state_dict: \"weight\". Unexpected key(s) in state_dict: \"gamma\".")
        #expect(NormError.stateShapeMismatch(key: "weight", expected: [2], actual: [3]).description
                == "size mismatch for weight: copying a param with shape [3] from checkpoint, the shape in current model is [2]")
    }

    @Test func functionalArgumentChecks() {
        let x = Tensor<Double>.zeros(shape: [2, 3])
        assertThrows(.argumentShapeMismatch(argument: "weight", expected: [3], actual: [2])) {
            try Functional.batchNorm(x, runningMean: nil, runningVar: nil, weight: .ones(shape: [2]), bias: nil, training: true)
        }
        assertThrows(.invalidArgument(name: "running_mean", expected: "given when training is false", actual: "nil")) {
            try Functional.batchNorm(x, runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: false)
        }
        assertThrows(.rankTooSmall(layer: "batch_norm", minimum: 2, actual: 1)) {
            try Functional.batchNorm(Tensor<Double>.zeros(shape: [3]), runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true)
        }
    }
}
