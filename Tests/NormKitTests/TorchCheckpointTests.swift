import Foundation
import Testing
@testable import NormKit
import NormKitTestSupport

/// A nested model trained in PyTorch, saved with `safetensors.torch.save_file`, loaded strictly
/// and run in NormKit: torch's eval and train outputs, input gradient and state after the step
/// (scripts/make_checkpoint_fixtures.py).
@Suite struct TorchCheckpointTests {
    /// The fixture script's model, under the same dotted names.
    static func nestedModel() -> Sequential<Float> {
        Sequential<Float>(
            Sequential<Float>(BatchNorm2d(numFeatures: 3), GroupNorm(numGroups: 3, numChannels: 3)),
            Sequential<Float>(
                Sequential<Float>(BatchNorm2d(numFeatures: 3, momentum: nil),
                                  InstanceNorm2d(numFeatures: 3, affine: true, trackRunningStats: true)),
                LayerNorm(normalizedShape: [3, 4, 4])))
    }

    let io = SafeTensorsFixture.tensors("checkpoint_io").mapValues { $0.tensor(as: Float.self) }

    @Test func loadsTorchsCheckpointStrictlyAndReproducesItsOutputs() throws {
        let model = TorchCheckpointTests.nestedModel()
        #expect(try model.load(from: SafeTensorsFixture.url("checkpoint_model")).isEmpty)
        #expect((model[1] as! Sequential<Float>)[0].typedStateDict()["0.num_batches_tracked"] == StateTensor(int64: 3))

        model.eval()
        assertClose(try model(io["input"]!), io["eval_output"], .forType(Float.self), "eval output")

        model.train()
        assertClose(try model(io["input"]!), io["train_output"], .forType(Float.self), "train output")
        assertClose(try model.backward(io["grad_output"]!), io["train_grad_input"], Tolerance(absolute: 1e-4, relative: 1e-3),
                    "train input gradient")
        let expected = SafeTensorsFixture.tensors("checkpoint_after_train")
        let actual = model.typedStateDict()
        #expect(Set(actual.keys) == Set(expected.keys))
        for (key, value) in expected {
            #expect(actual[key]?.dtype == value.dtype, "\(key)")
            if value.dtype == .int64 {
                #expect(actual[key] == value, "\(key)")
            } else {
                assertClose(actual[key]?.tensor(as: Float.self), value.tensor(as: Float.self), .forType(Float.self), "state \(key)")
            }
        }
    }

    /// Writes what NormKit saves for `scripts/check_safetensors_roundtrip.py` to compare in
    /// PyTorch: into `$NORMKIT_CHECKPOINT_EXPORT` when it is set, a temporary folder otherwise.
    /// Either way the files must read back as written.
    @Test func writesFilesForThePythonRoundTripCheck() throws {
        let directory = ProcessInfo.processInfo.environment["NORMKIT_CHECKPOINT_EXPORT"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("normkit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer {
            if ProcessInfo.processInfo.environment["NORMKIT_CHECKPOINT_EXPORT"] == nil { try? FileManager.default.removeItem(at: directory) }
        }
        // The torch checkpoint after NormKit's own train-mode step: the Python check compares it
        // with torch's state after the same step.
        let model = TorchCheckpointTests.nestedModel()
        try model.load(from: SafeTensorsFixture.url("checkpoint_model"))
        _ = try model(io["input"]!)
        let modelURL = directory.appendingPathComponent("normkit_after_train.safetensors")
        try model.save(to: modelURL, metadata: ["written_by": "NormKit"])
        #expect(try SafeTensors(contentsOf: modelURL).tensors == model.typedStateDict())

        // Every dtype, with values the Python check recomputes.
        let values = (0..<12).map { Double($0) * 0.75 - 4 }
        let tensor = try Tensor<Double>(shape: [3, 4], scalars: values)
        let dtypes = SafeTensors(tensors: [
            "f32": try StateTensor(Tensor<Float>(shape: [3, 4], scalars: values.map(Float.init)), dtype: .float32),
            "f64": try StateTensor(tensor, dtype: .float64),
            "f16": try StateTensor(tensor, dtype: .float16),
            "bf16": try StateTensor(tensor, dtype: .bfloat16),
            "i64": try StateTensor(shape: [2], elements: .int64([-(1 << 62), (1 << 53) + 1])),
            "scalar": StateTensor(int64: 7),
            "empty": try StateTensor(shape: [0, 3], elements: .float32([])),
        ], metadata: ["format": "pt"])
        let dtypesURL = directory.appendingPathComponent("normkit_dtypes.safetensors")
        try dtypes.write(to: dtypesURL)
        #expect(try SafeTensors(contentsOf: dtypesURL) == dtypes)
    }
}
