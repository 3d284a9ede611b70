import Foundation
import Testing
@testable import NormKit
import NormKitTestSupport

/// The normalization layers of a small ResNet trained in PyTorch, loaded from the file that
/// `safetensors.torch.save_file(model.state_dict())` wrote, under PyTorch's dotted names
/// (`layer1.1.downsample.1.running_mean`); the file also holds the convolutions and the linear
/// head, which NormKit has no module for (scripts/make_checkpoint_fixtures.py, TinyResNet).
@Suite struct TorchResNetCheckpointTests {
    /// TinyResNet's normalization layers under TinyResNet's names.
    static func resnetNorms() throws -> Sequential<Float> {
        try Sequential<Float>(named: [
            ("bn1", BatchNorm2d(numFeatures: 4)),
            ("layer1", Sequential<Float>(
                Sequential<Float>(named: ["bn1": BatchNorm2d(numFeatures: 4), "bn2": GroupNorm(numGroups: 2, numChannels: 4)]),
                Sequential<Float>(named: [
                    "bn1": BatchNorm2d(numFeatures: 8), "bn2": GroupNorm(numGroups: 2, numChannels: 8),
                    "downsample": Sequential<Float>(named: ["1": BatchNorm2d(numFeatures: 8)]),
                ]))),
            ("norm", LayerNorm(normalizedShape: [8])),
        ])
    }

    /// The keys of the file that belong to TinyResNet's convolutions and linear head.
    static let nonNormKeys = ["conv1.weight", "fc.bias", "fc.weight", "layer1.0.conv1.weight", "layer1.0.conv2.weight",
                              "layer1.1.conv1.weight", "layer1.1.conv2.weight", "layer1.1.downsample.0.weight"]
    static let normLayers = ["bn1", "layer1.0.bn1", "layer1.0.bn2", "layer1.1.bn1", "layer1.1.bn2",
                             "layer1.1.downsample.1", "norm"]

    let file = SafeTensorsFixture.tensors("resnet_model")
    let io = SafeTensorsFixture.tensors("resnet_io").mapValues { $0.tensor(as: Float.self) }

    /// The descendant at a dotted path, as PyTorch's `get_submodule`.
    func submodule(_ path: String, of root: any Module<Float>) throws -> any Module<Float> {
        try path.split(separator: ".").reduce(root) { module, name in
            try #require(module.children.first { $0.name == name }?.module, "no child \(name) on the way to \(path)")
        }
    }

    /// Every normalization layer, in eval mode, on the input torch's layer saw: torch's output.
    func expectTorchsEvalOutputs(_ model: Sequential<Float>) throws {
        model.eval()
        for path in TorchResNetCheckpointTests.normLayers {
            let layer = try submodule(path, of: model)
            let input = try #require(io["\(path).input"], "fixture input of \(path)")
            assertClose(try layer(input), io["\(path).output"], .forType(Float.self), "\(path) eval output")
        }
    }

    @Test func loadsTheNormLayersOfTheFullFileNonStrictlyAndReportsExactlyTheConvAndLinearKeys() throws {
        let model = try TorchResNetCheckpointTests.resnetNorms()
        let untouched = model.typedStateDict()
        assertThrows(.stateDictKeyMismatch(missing: [], unexpected: TorchResNetCheckpointTests.nonNormKeys)) {
            try model.load(from: SafeTensorsFixture.url("resnet_model"))
        }
        #expect(model.typedStateDict() == untouched, "a refused strict load changes nothing")

        let keys = try model.load(from: SafeTensorsFixture.url("resnet_model"), strict: false)
        #expect(keys == IncompatibleKeys(missingKeys: [], unexpectedKeys: TorchResNetCheckpointTests.nonNormKeys))
        let state = model.typedStateDict()
        #expect(Set(state.keys) == Set(file.keys).subtracting(TorchResNetCheckpointTests.nonNormKeys))
        for (key, value) in state { #expect(value == file[key], "\(key) loaded exactly") }
        #expect(state["layer1.1.downsample.1.num_batches_tracked"] == StateTensor(int64: 3))
        try expectTorchsEvalOutputs(model)
    }

    @Test func loadsTheNormSubsetStrictlyAndReproducesTorchsEvalOutputs() throws {
        let model = try TorchResNetCheckpointTests.resnetNorms()
        let subset = file.filter { !TorchResNetCheckpointTests.nonNormKeys.contains($0.key) }
        #expect(try model.loadStateDict(subset).isEmpty)
        try expectTorchsEvalOutputs(model)
    }

    @Test func savesBackUnderTheSameDottedKeys() throws {
        let model = try TorchResNetCheckpointTests.resnetNorms()
        try model.load(from: SafeTensorsFixture.url("resnet_model"), strict: false)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("normkit-resnet-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try model.save(to: url)
        let written = try SafeTensors(contentsOf: url).tensors
        #expect(written == file.filter { !TorchResNetCheckpointTests.nonNormKeys.contains($0.key) })

        let reloaded = try TorchResNetCheckpointTests.resnetNorms()
        #expect(try reloaded.load(from: url).isEmpty)
        try expectTorchsEvalOutputs(reloaded)
    }
}
