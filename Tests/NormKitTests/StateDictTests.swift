import Testing
@testable import NormKit
import NormKitTestSupport

/// Typed state dicts: each entry in its own dtype, `num_batches_tracked` as exact `I64`, dtype
/// conversion on load as PyTorch's `copy_`, and the keys a non-strict load reports.
@Suite struct StateDictTests {
    @Test func entriesKeepTheirOwnDTypes() throws {
        let state = BatchNorm2d<Float>(numFeatures: 2).typedStateDict()
        #expect(state.mapValues(\.dtype) == ["weight": .float32, "bias": .float32, "running_mean": .float32,
                                             "running_var": .float32, "num_batches_tracked": .int64])
        #expect(state["num_batches_tracked"] == StateTensor(int64: 0))
        #expect(BatchNorm1d<Double>(numFeatures: 2).typedStateDict()["running_var"]!.elements == .float64([1, 1]))
        let model = Sequential<Double>(GroupNorm(numGroups: 1, numChannels: 2), Sequential<Double>(BatchNorm1d(numFeatures: 2)))
        #expect(model.typedStateDict()["1.0.num_batches_tracked"]?.dtype == .int64)
        #expect(Set(model.typedStateDict().keys) == Set(model.stateDict().keys))
    }

    @Test func batchCountsAboveFloatPrecisionSurviveExactly() throws {
        let count = (1 << 24) + 1   // not a Float
        let bn = BatchNorm1d<Float>(numFeatures: 1)
        try bn.loadStateDict(["num_batches_tracked": StateTensor(int64: Int64(count))], strict: false)
        #expect(bn.numBatchesTracked == count)
        #expect(bn.typedStateDict()["num_batches_tracked"] == StateTensor(int64: Int64(count)))
        let copy = BatchNorm1d<Float>(numFeatures: 1)
        try copy.loadStateDict(bn.typedStateDict())
        #expect(copy.numBatchesTracked == count)
        // The Tensor<Float> view rounds it, as its documentation says.
        #expect(bn.stateDict()["num_batches_tracked"]!.scalars == [Float(count)])
    }

    /// PyTorch loads a one-element 1-D entry into a 0-D buffer (checkpoints of its 0.3 versions).
    @Test func oneElementCountsLoadAsScalarsAsInPyTorch() throws {
        let bn = BatchNorm1d<Float>(numFeatures: 1)
        try bn.loadStateDict(["num_batches_tracked": StateTensor(shape: [1], elements: .int64([7]))], strict: false)
        #expect(bn.numBatchesTracked == 7)
    }

    @Test func floatingPointEntriesConvertAsTorchCopyDoes() throws {
        let bn = BatchNorm1d<Float>(numFeatures: 2)
        let oneThird = 1.0 / 3.0
        try bn.loadStateDict([
            "weight": StateTensor(shape: [2], elements: .float64([oneThird, -2])),
            "bias": StateTensor(shape: [2], elements: .float16(bits: [0x3C00, 0xC000])),      // 1, -2
            "running_mean": StateTensor(shape: [2], elements: .bfloat16(bits: [0x3FC0, 0x0000])),  // 1.5, 0
            "running_var": StateTensor(shape: [2], elements: .int64([3, 4])),
            "num_batches_tracked": StateTensor(shape: [], elements: .float32([5])),
        ])
        #expect(bn.weight!.scalars == [Float(oneThird), -2])
        #expect(bn.bias!.scalars == [1, -2])
        #expect(bn.runningMean!.scalars == [1.5, 0])
        #expect(bn.runningVar!.scalars == [3, 4])
        #expect(bn.numBatchesTracked == 5)
    }

    @Test func batchCountsOutsideTheCounterAreRefused() throws {
        let bn = BatchNorm2d<Float>(numFeatures: 1)
        let expected = "an integer in 0...9007199254740992"
        let cases: [(StateTensor, String)] = [
            (StateTensor(int64: -1), "-1"),
            (StateTensor(int64: (1 << 53) + 1), "9007199254740993"),
            (StateTensor(int64: .max), "9223372036854775807"),
            (try StateTensor(shape: [], elements: .float32([2.5])), "2.5"),
            (try StateTensor(shape: [], elements: .float64([.nan])), "nan"),
            (try StateTensor(shape: [], elements: .float16(bits: [0x7C00])), "inf"),
            (try StateTensor(shape: [], elements: .bfloat16(bits: [0xBF80])), "-1.0"),
        ]
        for (value, actual) in cases {
            expectThrowsLeavingUnchanged(bn, .invalidStateValue(key: "num_batches_tracked", expected: expected, actual: actual)) {
                try bn.loadStateDict(["weight": StateTensor(Tensor<Float>.zeros(shape: [1])), "num_batches_tracked": value],
                                     strict: false)
            }
        }
        expectThrowsLeavingUnchanged(bn, .stateShapeMismatch(key: "num_batches_tracked", expected: [], actual: [2])) {
            try bn.loadStateDict(["num_batches_tracked": StateTensor(shape: [2], elements: .int64([1, 2]))], strict: false)
        }
        try bn.loadStateDict(["num_batches_tracked": StateTensor(int64: 1 << 53)], strict: false)
        #expect(bn.numBatchesTracked == 1 << 53)
    }

    @Test func nonStrictLoadsReturnTheKeysTheyLeftOut() throws {
        let model = Sequential<Float>(BatchNorm1d(numFeatures: 2), Sequential<Float>(LayerNorm(normalizedShape: [2])))
        var state = model.typedStateDict()
        state["1.0.bias"] = nil
        state["0.running_var"] = nil
        state["2.weight"] = StateTensor(int64: 1)
        state["1.0.gamma"] = StateTensor(int64: 1)
        state["0.weight"] = try StateTensor(shape: [2], elements: .float32([7, 8]))
        let keys = try model.loadStateDict(state, strict: false)
        #expect(keys == IncompatibleKeys(missingKeys: ["0.running_var", "1.0.bias"], unexpectedKeys: ["1.0.gamma", "2.weight"]))
        #expect(keys.description == #"IncompatibleKeys(missingKeys: ["0.running_var", "1.0.bias"], unexpectedKeys: ["1.0.gamma", "2.weight"])"#)
        #expect(model.stateDict()["0.weight"]!.scalars == [7, 8], "the matching keys were loaded")
        let all = try model.loadStateDict(model.typedStateDict())
        #expect(all.isEmpty && all.description == "<All keys matched successfully>")
        // The Tensor<Scalar> form reports the same way.
        #expect(try model.loadStateDict(["0.weight": Tensor([1, 2])], strict: false).missingKeys.count == 5)
    }

    @Test func strictLoadsRefuseMismatchedKeysAndChangeNothing() throws {
        let model = Sequential<Float>(BatchNorm1d(numFeatures: 2), LayerNorm(normalizedShape: [2]))
        var state = model.typedStateDict()
        state["1.bias"] = nil
        state["0.weight"] = try StateTensor(shape: [2], elements: .float64([3, 4]))
        state["extra"] = StateTensor(int64: 0)
        expectThrowsLeavingUnchanged(model, .stateDictKeyMismatch(missing: ["1.bias"], unexpected: ["extra"])) {
            try model.loadStateDict(state)
        }
        state["1.bias"] = try StateTensor(shape: [3], elements: .float32([0, 0, 0]))
        expectThrowsLeavingUnchanged(model, .stateShapeMismatch(key: "1.bias", expected: [2], actual: [3])) {
            try model.loadStateDict(state, strict: false)
        }
    }

    @Test func stateTensorsCheckTheirShapeAndConvert() throws {
        assertThrows(.scalarCountMismatch(shape: [2, 2], expected: 4, actual: 3)) {
            try StateTensor(shape: [2, 2], elements: .int64([1, 2, 3]))
        }
        assertThrows(.invalidShape([-1])) { try StateTensor(shape: [-1], elements: .float32([])) }
        let values = try Tensor<Double>(shape: [3], scalars: [1, 1.0009765625, 65520])
        #expect(try StateTensor(values, dtype: .float16).elements == .float16(bits: [0x3C00, 0x3C01, 0x7C00]))
        #expect(try StateTensor(values, dtype: .bfloat16).elements == .bfloat16(bits: [0x3F80, 0x3F80, 0x4780]))
        assertThrows(.invalidArgument(name: "a value stored as I64", expected: "an integer in Int64's range", actual: "1.0009765625")) {
            try StateTensor(values, dtype: .int64)
        }
        let channelsLast = try Tensor<Float>(shape: [1, 2, 1, 2], scalars: [1, 2, 3, 4]).withMemoryFormat(.channelsLast)
        #expect(StateTensor(channelsLast).elements == .float32([1, 2, 3, 4]), "row-major whatever the memory format")
    }
}
