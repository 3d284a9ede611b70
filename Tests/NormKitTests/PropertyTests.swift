import Testing
@testable import NormKit
import NormKitTestSupport

/// Symmetries between the layers, and the engine against a naive reference on seeded random
/// shapes, including odd sizes.
@Suite struct PropertyTests {
    /// Seeded shapes with odd and unit sizes.
    static let seeds: [UInt64] = Array(1...12)

    static func randomShape(_ random: inout SeededRandom, rank: Int) -> [Int] {
        (0..<rank).map { axis in axis == 0 ? Int.random(in: 1...4, using: &random) : Int.random(in: 1...7, using: &random) }
    }

    @Test(arguments: seeds)
    func batchNormMatchesTheReference(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        var shape = Self.randomShape(&random, rank: Int.random(in: 2...5, using: &random))
        shape[0] = max(shape[0], 2)
        let x: Tensor<Double> = random.tensor(shape, mean: 3, std: 2)
        let weight: Tensor<Double> = random.tensor([shape[1]]), bias: Tensor<Double> = random.tensor([shape[1]])
        let result = try Functional.batchNorm(x, runningMean: nil, runningVar: nil, weight: weight, bias: bias, training: true)
        let expected = ReferenceNormalization.normalize(
            x.scalars, shape: shape, eps: 1e-5, key: { [$0[1]] }, parameterIndex: { $0[1] },
            weight: weight.scalars, bias: bias.scalars)
        assertClose(result.output.scalars, expected, Tolerance(absolute: 1e-12, relative: 1e-10), "shape \(shape)")
    }

    @Test(arguments: seeds)
    func groupNormMatchesTheReference(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        let groups = Int.random(in: 1...3, using: &random)
        var shape = Self.randomShape(&random, rank: Int.random(in: 2...4, using: &random))
        shape[1] = groups * Int.random(in: 1...3, using: &random)
        let perGroup = shape[1] / groups
        let x: Tensor<Double> = random.tensor(shape, mean: -5, std: 3)
        let weight: Tensor<Double> = random.tensor([shape[1]]), bias: Tensor<Double> = random.tensor([shape[1]])
        let result = try Functional.groupNorm(x, numGroups: groups, weight: weight, bias: bias)
        let expected = ReferenceNormalization.normalize(
            x.scalars, shape: shape, eps: 1e-5, key: { [$0[0], $0[1] / perGroup] }, parameterIndex: { $0[1] },
            weight: weight.scalars, bias: bias.scalars)
        assertClose(result.output.scalars, expected, Tolerance(absolute: 1e-12, relative: 1e-10), "shape \(shape), \(groups) groups")
    }

    @Test(arguments: seeds)
    func layerAndRMSNormMatchTheReference(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        let shape = Self.randomShape(&random, rank: Int.random(in: 1...4, using: &random))
        let k = Int.random(in: 1...shape.count, using: &random)
        let normalized = Array(shape.suffix(k))
        let lead = shape.count - k
        let x: Tensor<Double> = random.tensor(shape, mean: 1, std: 2)
        let weight: Tensor<Double> = random.tensor(normalized), bias: Tensor<Double> = random.tensor(normalized)
        func flatParameter(_ index: [Int]) -> Int { index.suffix(k).enumerated().reduce(0) { $0 * normalized[$1.offset] + $1.element } }
        let layer = try Functional.layerNorm(x, normalizedShape: normalized, weight: weight, bias: bias)
        assertClose(layer.output.scalars, ReferenceNormalization.normalize(
            x.scalars, shape: shape, eps: 1e-5, key: { Array($0.prefix(lead)) }, parameterIndex: flatParameter,
            weight: weight.scalars, bias: bias.scalars), Tolerance(absolute: 1e-12, relative: 1e-10), "LayerNorm \(shape)")
        let rms = try Functional.rmsNorm(x, normalizedShape: normalized, weight: weight, eps: 1e-6)
        assertClose(rms.output.scalars, ReferenceNormalization.normalize(
            x.scalars, shape: shape, eps: 1e-6, centered: false, key: { Array($0.prefix(lead)) },
            parameterIndex: flatParameter, weight: weight.scalars, bias: nil),
            Tolerance(absolute: 1e-12, relative: 1e-10), "RMSNorm \(shape)")
    }

    @Test func groupNormWithOneGroupPerChannelIsInstanceNorm() throws {
        var random = SeededRandom(seed: 5)
        let group = GroupNorm<Double>(numGroups: 3, numChannels: 3)
        let instance = InstanceNorm2d<Double>(numFeatures: 3, affine: true)
        let state = ["weight": random.tensor([3]), "bias": random.tensor([3])] as [String: Tensor<Double>]
        try group.loadStateDict(state)
        try instance.loadStateDict(state)
        let x: Tensor<Double> = random.tensor([2, 3, 4, 5]), g: Tensor<Double> = random.tensor([2, 3, 4, 5])
        assertClose(try group(x).scalars, try instance(x).scalars, Tolerance(absolute: 1e-14, relative: 0), "output")
        assertClose(try group.backward(g).scalars, try instance.backward(g).scalars, Tolerance(absolute: 1e-14, relative: 0), "grad_input")
        assertClose(group.gradients()["weight"]!.scalars, instance.gradients()["weight"]!.scalars, Tolerance(absolute: 1e-13, relative: 0), "grad_weight")
    }

    @Test func groupNormWithOneGroupIsLayerNormWithoutAffine() throws {
        var random = SeededRandom(seed: 6)
        let x: Tensor<Double> = random.tensor([3, 4, 5])
        let group = try Functional.groupNorm(x, numGroups: 1)
        let layer = try Functional.layerNorm(x, normalizedShape: [4, 5])
        assertClose(group.output.scalars, layer.output.scalars, Tolerance(absolute: 1e-14, relative: 0), "output")
    }

    @Test func batchNormOfOneSampleEqualsInstanceNormPerChannel() throws {
        var random = SeededRandom(seed: 7)
        let x: Tensor<Double> = random.tensor([1, 3, 4, 4])
        let batch = try BatchNorm2d<Double>(numFeatures: 3, affine: false)(x)
        let instance = try InstanceNorm2d<Double>(numFeatures: 3)(x)
        assertClose(batch.scalars, instance.scalars, Tolerance(absolute: 1e-14, relative: 0), "output")
    }

    @Test func floatKeepsItsDigitsWithALargeMean() throws {
        // mean 1e4, std 0.1: the one-pass E[x²] − E[x]² would cancel to garbage in Float.
        var random = SeededRandom(seed: 8)
        let x: Tensor<Float> = random.tensor([8, 3, 5, 7], mean: 1e4, std: 0.1)
        let float = try BatchNorm2d<Float>(numFeatures: 3)(x)
        let double = try BatchNorm2d<Double>(numFeatures: 3)(x.converted(to: Double.self))
        assertClose(float.scalars, double.scalars, Tolerance(absolute: 2e-5, relative: 1e-5), "BatchNorm2d Float vs Double")
        let layer = try LayerNorm<Float>(normalizedShape: [35])(x.reshaped(to: [24, 35]))
        let layerDouble = try LayerNorm<Double>(normalizedShape: [35])(x.converted(to: Double.self).reshaped(to: [24, 35]))
        assertClose(layer.scalars, layerDouble.scalars, Tolerance(absolute: 2e-5, relative: 1e-5), "LayerNorm Float vs Double")
    }
}
