import Foundation
import Testing
@testable import NormKit
import NormKitTestSupport

/// Containers with named children: `Sequential(named:)` as `nn.Sequential(OrderedDict(...))`,
/// and a ``ModuleContainer`` of one's own as an `nn.Module` with submodule attributes.
@Suite struct NamedChildrenTests {
    /// bn1 → block (gn → "1": LayerNorm), in that order.
    static func namedTree() throws -> Sequential<Float> {
        try Sequential<Float>(named: [
            ("bn1", BatchNorm2d(numFeatures: 3)),
            ("block", Sequential<Float>(named: ["gn": GroupNorm(numGroups: 1, numChannels: 3),
                                                "1": LayerNorm(normalizedShape: [3, 2, 2])])),
        ])
    }

    static func input(seed: UInt64 = 1) -> Tensor<Float> {
        var rng = SeededRandom(seed: seed)
        return rng.tensor([2, 3, 2, 2], mean: 0.5, std: 1.5)
    }

    @Test func keysNestWithDotsAsPyTorchAndNamesLookUpChildren() throws {
        let model = try NamedChildrenTests.namedTree()
        #expect(model.names == ["bn1", "block"])
        #expect(model.namedParameters().map(\.name) == ["bn1.weight", "bn1.bias", "block.gn.weight", "block.gn.bias",
                                                         "block.1.weight", "block.1.bias"])
        #expect(model.namedBuffers().map(\.name) == ["bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"])
        #expect(model.typedStateDict()["bn1.num_batches_tracked"]?.dtype == .int64)
        #expect(model["bn1"] is BatchNorm2d<Float>)
        #expect((model["block"] as? Sequential<Float>)?["1"] is LayerNorm<Float>)
        #expect(model["missing"] == nil)
        #expect(model[1] === model["block"])
        #expect(Sequential<Float>(BatchNorm2d(numFeatures: 3))["0"] is BatchNorm2d<Float>)

        let block = try #require(model["block"] as? Sequential<Float>)
        #expect(model.description == """
            Sequential(
              (bn1): \(model[0])
              (block): Sequential(
                (gn): \(block[0])
                (1): \(block[1])
              )
            )
            """)
    }

    @Test func refusesEmptyDottedAndRepeatedNamesAsPyTorchsAddModuleDoes() {
        let bn = BatchNorm2d<Float>(numFeatures: 3)
        assertThrows(.invalidArgument(name: "child name", expected: "a non-empty name without \".\"", actual: "\"\"")) {
            _ = try Sequential<Float>(named: [("", bn)])
        }
        assertThrows(.invalidArgument(name: "child name", expected: "a non-empty name without \".\"", actual: "\"layer1.0\"")) {
            _ = try Sequential<Float>(named: ["ok": bn, "layer1.0": BatchNorm2d(numFeatures: 3)])
        }
        assertThrows(.invalidArgument(name: "child name", expected: "unique among the children", actual: "\"bn\" twice")) {
            _ = try Sequential<Float>(named: [("bn", bn), ("gn", GroupNorm(numGroups: 1, numChannels: 3)), ("bn", bn)])
        }
        #expect(throws: Never.self) { _ = try Sequential<Float>(named: [("0", bn), ("downsample", Sequential<Float>([]))]) }
    }

    @Test func forwardRunsChildrenInTheGivenOrderAndBackwardInReverse() throws {
        // Names in reverse alphabetical order: the order given, not the names, decides.
        let ln = LayerNorm<Float>(normalizedShape: [3, 2, 2]), bn = BatchNorm2d<Float>(numFeatures: 3)
        let model = try Sequential<Float>(named: ["z_ln": ln, "a_bn": bn])
        let lnAlone = LayerNorm<Float>(normalizedShape: [3, 2, 2]), bnAlone = BatchNorm2d<Float>(numFeatures: 3)
        let x = NamedChildrenTests.input(), dy = NamedChildrenTests.input(seed: 2)

        let y = try model(x)
        #expect(y == (try bnAlone(lnAlone(x))))
        #expect(try model.backward(dy) == (try lnAlone.backward(bnAlone.backward(dy))))
        #expect(model.gradients()["a_bn.weight"] == bnAlone.gradients()["weight"])
        #expect(model.gradients()["z_ln.bias"] == lnAlone.gradients()["bias"])
        #expect(Set(model.gradients().keys) == ["z_ln.weight", "z_ln.bias", "a_bn.weight", "a_bn.bias"])
        model.zeroGrad()
        #expect(model.gradients().values.allSatisfy { $0.scalars.allSatisfy { $0 == 0 } })

        model.eval()
        #expect(!ln.isTraining && !bn.isTraining)
    }

    @Test func errorsNameTheDottedPathOfTheChild() throws {
        let model = try NamedChildrenTests.namedTree()
        let x3d = try Tensor<Float>(shape: [2, 3, 4], scalars: Array(repeating: 1, count: 24))
        assertThrows(.inSubmodule(path: "bn1", module: "BatchNorm2d", underlying: .wrongRank(layer: "BatchNorm2d", expected: [4], actual: 3))) {
            _ = try model(x3d)
        }
        // bn1 accepts the input; block.1 (a LayerNorm over [3, 2, 2]) refuses [2, 3, 1, 4].
        let x = try Tensor<Float>(shape: [2, 3, 1, 4], scalars: (0..<24).map { Float($0) })
        #expect(throws: NormError.self) { _ = try model(x) }
        do {
            _ = try model(x)
        } catch let error as NormError {
            guard case let .inSubmodule(path, module, _) = error else { Issue.record("\(error)"); return }
            #expect(path == "block.1" && module == "LayerNorm")
            #expect(error.description.hasPrefix("block.1: LayerNorm"))
        }
    }

    @Test func loadsAndSetsParametersByDottedNamesAndFailsWithoutChangingAnything() throws {
        let model = try NamedChildrenTests.namedTree()
        let source = try NamedChildrenTests.namedTree()
        _ = try source(NamedChildrenTests.input())   // running statistics and count move
        try source.setParameter(named: "block.gn.weight", to: Tensor(shape: [3], scalars: [2, -1, 0.5]))
        #expect(source.stateDict()["block.gn.weight"]?.scalars == [2, -1, 0.5])

        var partial = source.typedStateDict()
        partial["bn1.running_var"] = nil
        partial["conv1.weight"] = StateTensor(Tensor<Float>.zeros(shape: [3, 3, 1, 1]))
        partial["block.gn.extra"] = StateTensor(int64: 1)
        let keys = try model.loadStateDict(partial, strict: false)
        #expect(keys == IncompatibleKeys(missingKeys: ["bn1.running_var"], unexpectedKeys: ["block.gn.extra", "conv1.weight"]))
        #expect(model.stateDict()["block.gn.weight"]?.scalars == [2, -1, 0.5])
        #expect(model.typedStateDict()["bn1.num_batches_tracked"] == StateTensor(int64: 1))

        let before = model.typedStateDict()
        var wrong = source.typedStateDict()
        wrong["block.1.bias"] = StateTensor(Tensor<Float>.zeros(shape: [4]))
        assertThrows(.stateShapeMismatch(key: "block.1.bias", expected: [3, 2, 2], actual: [4])) {
            try model.loadStateDict(wrong)
        }
        assertThrows(.stateShapeMismatch(key: "block.gn.weight", expected: [3], actual: [5])) {
            try model.setParameter(named: "block.gn.weight", to: .zeros(shape: [5]))
        }
        assertThrows(.invalidArgument(name: "parameter name", expected: "one of \(model.namedParameters().map(\.name))",
                                      actual: "\"bn1.running_mean\"")) {
            try model.setParameter(named: "bn1.running_mean", to: .zeros(shape: [3]))
        }
        #expect(model.typedStateDict() == before)
    }

    /// The ``ModuleContainer`` documentation's example: an `nn.Module` with attributes.
    final class BasicBlock: ModuleContainer {
        var isTraining = true
        private(set) var bn1: any Module<Float> = BatchNorm2d(numFeatures: 3)
        private(set) var bn2: any Module<Float> = GroupNorm(numGroups: 1, numChannels: 3)
        var children: [(name: String, module: any Module<Float>)] { [("bn1", bn1), ("bn2", bn2)] }
        func replaceChildren(_ transform: (any Module<Float>) -> any Module<Float>) {
            bn1 = transform(bn1); bn2 = transform(bn2)
        }
        func callAsFunction(_ x: Tensor<Float>) throws -> Tensor<Float> { try bn2(bn1(x)) }
        func backward(_ dy: Tensor<Float>) throws -> Tensor<Float> { try bn1.backward(bn2.backward(dy)) }
    }

    @Test func aContainerOfOnesOwnGetsDottedKeysLoadingAndTreeRewrites() throws {
        let model = try Sequential<Float>(named: ["layer1": Sequential<Float>(BasicBlock(), BasicBlock())])
        #expect(model.typedStateDict().keys.sorted() == [
            "layer1.0.bn1.bias", "layer1.0.bn1.num_batches_tracked", "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var",
            "layer1.0.bn1.weight", "layer1.0.bn2.bias", "layer1.0.bn2.weight",
            "layer1.1.bn1.bias", "layer1.1.bn1.num_batches_tracked", "layer1.1.bn1.running_mean", "layer1.1.bn1.running_var",
            "layer1.1.bn1.weight", "layer1.1.bn2.bias", "layer1.1.bn2.weight",
        ])
        try model.setParameter(named: "layer1.1.bn2.bias", to: Tensor(shape: [3], scalars: [1, 2, 3]))
        #expect(model.stateDict()["layer1.1.bn2.bias"]?.scalars == [1, 2, 3])

        let copy = try Sequential<Float>(named: ["layer1": Sequential<Float>(BasicBlock(), BasicBlock())])
        #expect(try copy.loadStateDict(model.typedStateDict()).isEmpty)
        #expect(copy.typedStateDict() == model.typedStateDict())

        let converted = convertSyncBatchNorm(model, processGroup: nil)
        let block = try #require((converted as? Sequential<Float>)?["layer1"] as? Sequential<Float>)
        #expect((block[1] as? BasicBlock)?.bn1 is SyncBatchNorm<Float>)
        #expect(converted.typedStateDict() == copy.typedStateDict())
    }

    /// The README's named-children snippet, on a file with its norm entries and torchvision's
    /// convolution and linear keys.
    @Test func readmeResNetSnippetRuns() throws {
        func block(_ channels: Int, downsample: Bool) throws -> Sequential<Float> {
            var children: [(String, any Module<Float>)] = [
                ("bn1", BatchNorm2d(numFeatures: channels)), ("bn2", BatchNorm2d(numFeatures: channels))]
            if downsample {   // torchvision's downsample = Sequential(conv1x1, BatchNorm2d): the norm is "1"
                children.append(("downsample", try Sequential<Float>(named: [("1", BatchNorm2d(numFeatures: channels))])))
            }
            return try Sequential<Float>(named: children)
        }
        let norms = try Sequential<Float>(named: [
            ("bn1", BatchNorm2d(numFeatures: 64)),
            ("layer1", Sequential<Float>(block(64, downsample: false), block(64, downsample: false))),
            ("layer2", Sequential<Float>(block(128, downsample: true), block(128, downsample: false))),
        ])

        let convKeys = ["conv1.weight", "fc.bias", "fc.weight", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight"]
        var file = norms.typedStateDict()
        #expect(file["layer2.0.downsample.1.running_mean"]?.shape == [128])
        for key in convKeys { file[key] = StateTensor(Tensor<Float>.zeros(shape: [1])) }
        file["layer2.1.bn2.running_var"] = StateTensor(Tensor<Float>(repeating: 4, shape: [128]))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("normkit-readme-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafeTensors(tensors: file).write(to: url)

        let keys = try norms.load(from: url, strict: false)
        #expect(keys.missingKeys == [] && keys.unexpectedKeys == convKeys)
        #expect(norms["layer2"] is Sequential<Float>)
        #expect(norms.stateDict()["layer2.1.bn2.running_var"]?.scalars.allSatisfy { $0 == 4 } == true)
    }

    /// A dotted path reaches a descendant, as PyTorch's get_submodule; a wrong name says which
    /// children there are.
    @Test func submodulesAreFoundByDottedPath() throws {
        let bn = BatchNorm2d<Float>(numFeatures: 3)
        let model = try Sequential<Float>(named: ["layer1": Sequential<Float>(try Sequential<Float>(named: ["bn1": bn]))])
        #expect(try model.submodule("layer1.0.bn1") === bn)
        #expect(try model.submodule("") === model)
        #expect(throws: NormError.invalidArgument(name: "path", expected: "a child of \"layer1.0\": bn1",
                                                  actual: "\"bn2\" in \"layer1.0.bn2\"")) {
            try model.submodule("layer1.0.bn2")
        }
        #expect(throws: NormError.invalidArgument(name: "path", expected: "a child of \"layer1.0.bn1\": none",
                                                  actual: "\"x\" in \"layer1.0.bn1.x\"")) {
            try model.submodule("layer1.0.bn1.x")
        }
    }
}
