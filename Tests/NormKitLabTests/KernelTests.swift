import NormKit
import Testing
@testable import NormKitLab

/// The blocked SIMD matrix multiply against the definition, over shapes that cross every block
/// and tile edge (m, n, k not multiples of the 4 × 8 tile; k beyond the 256 block; n beyond the
/// 1,024 block; m beyond the 64 block) and all four transpose combinations, in Float and Double.
@Suite struct MatrixMultiplyTests {
    static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (3, 5, 7), (4, 8, 16), (5, 9, 300), (3, 1030, 2), (70, 9, 3), (8, 16, 1), (2, 3, 0),
    ]

    func check<S: LabScalar>(_: S.Type, tolerance: Double) {
        var seed: UInt64 = 1
        for (m, n, k) in Self.shapes {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    seed += 1
                    let a: [S] = randomTensor([m * k], seed: seed).scalars
                    let b: [S] = randomTensor([k * n], seed: seed + 100).scalars
                    let c = LabDispatch.matrixProduct(a, transposeA: transposeA, b, transposeB: transposeB, m: m, n: n, k: k)
                    var expected = [Double](repeating: 0, count: m * n)
                    for i in 0..<m {
                        for j in 0..<n {
                            for p in 0..<k {
                                let aValue = transposeA ? a[p * m + i] : a[i * k + p]
                                let bValue = transposeB ? b[j * k + p] : b[p * n + j]
                                expected[i * n + j] += Double(aValue) * Double(bValue)
                            }
                        }
                    }
                    expectClose(c, expected, absolute: tolerance * Double(max(k, 1)), relative: tolerance,
                                "\(S.self) \(m)×\(k) · \(k)×\(n), transposeA \(transposeA), transposeB \(transposeB)")
                }
            }
        }
    }

    @Test func float() { check(Float.self, tolerance: 1e-5) }
    @Test func double() { check(Double.self, tolerance: 1e-13) }
}

/// SGD against PyTorch's update rule, worked by hand, through `setParameter(named:to:)` on the
/// lab's layers and NormKit's normalization layers inside a `Sequential`.
@Suite struct SGDTests {
    @Test func twoStepsWithMomentumAndWeightDecay() throws {
        var generator = SeededGenerator(seed: 1)
        let model = Sequential<Double>(Linear<Double>(inFeatures: 2, outFeatures: 1, bias: false, using: &generator),
                                       BatchNorm1d<Double>(numFeatures: 1))
        try model.setParameter(named: "0.weight", to: Tensor(shape: [1, 2], scalars: [1, -2]))
        let optimizer = SGD<Double>(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
        func gradients(_ w: [Double], _ gamma: Double, _ beta: Double) throws -> [String: Tensor<Double>] {
            ["0.weight": try Tensor(shape: [1, 2], scalars: w), "1.weight": try Tensor(shape: [1], scalars: [gamma]),
             "1.bias": try Tensor(shape: [1], scalars: [beta])]
        }
        try optimizer.step(model, gradients: gradients([0.5, 0.25], 1, -1))
        // d = g + λp = (0.51, 0.23); v = d; p − η·v.
        expectClose(model.stateDict()["0.weight"]!.scalars, [0.949, -2.023], absolute: 1e-15, relative: 0, "step 1")
        // γ: d = 1 + 0.01·1 = 1.01 → 1 − 0.101; β: d = −1 → 0 + 0.1.
        expectClose(model.stateDict()["1.weight"]!.scalars, [0.899], absolute: 1e-15, relative: 0, "γ after step 1")
        expectClose(model.stateDict()["1.bias"]!.scalars, [0.1], absolute: 1e-15, relative: 0, "β after step 1")
        try optimizer.step(model, gradients: gradients([-0.1, 0.2], 0, 0))
        // d = (−0.1 + 0.00949, 0.2 − 0.02023); v = 0.9·(0.51, 0.23) + d = (0.36849, 0.38677).
        expectClose(model.stateDict()["0.weight"]!.scalars, [0.912151, -2.061677], absolute: 1e-15, relative: 0, "step 2")
        expectClose(optimizer.velocity["0.weight"]!, [0.36849, 0.38677], absolute: 1e-15, relative: 0, "velocity")
    }

    @Test func aMissingGradientThrowsAndNamesTheParameter() throws {
        var generator = SeededGenerator(seed: 1)
        let model = Sequential<Float>(Linear<Float>(inFeatures: 2, outFeatures: 1, using: &generator))
        #expect(throws: NormError.self) { try SGD<Float>(learningRate: 0.1).step(model, gradients: [:]) }
    }
}

/// Layer errors are NormError with PyTorch-like messages, and a failed call changes nothing.
@Suite struct LabLayerErrorTests {
    @Test func wrongInputs() throws {
        var generator = SeededGenerator(seed: 1)
        let conv = Conv2d<Float>(inChannels: 2, outChannels: 3, kernelSize: 3, using: &generator)
        #expect(throws: NormError.wrongRank(layer: "Conv2d", expected: [4], actual: 3)) {
            try conv(Tensor(repeating: 0, shape: [2, 4, 4]))
        }
        #expect(throws: NormError.wrongChannelCount(layer: "Conv2d", expected: 2, actual: 1)) {
            try conv(Tensor(repeating: 0, shape: [1, 1, 4, 4]))
        }
        #expect(throws: NormError.backwardBeforeForward(layer: "Conv2d")) { try conv.backward(Tensor(repeating: 0, shape: [1])) }
        _ = try conv(Tensor(repeating: 1, shape: [1, 2, 4, 4]))
        #expect(throws: NormError.gradientShapeMismatch(expected: [1, 3, 2, 2], actual: [1, 3, 4, 4])) {
            try conv.backward(Tensor(repeating: 0, shape: [1, 3, 4, 4]))
        }
        #expect(throws: NormError.stateShapeMismatch(key: "weight", expected: [3, 2, 3, 3], actual: [3])) {
            try conv.setParameter(named: "weight", to: Tensor(repeating: 0, shape: [3]))
        }
        #expect(throws: NormError.invalidArgument(name: "parameter name", expected: "one of [\"weight\", \"bias\"]",
                                                  actual: "\"running_mean\"")) {
            try conv.setParameter(named: "running_mean", to: Tensor(repeating: 0, shape: [3]))
        }
        // The same contract through NormKit's `Module.setParameter(named:to:)`.
        let asModule: any Module<Float> = conv
        #expect(throws: NormError.self) { try asModule.setParameter(named: "running_mean", to: Tensor(repeating: 0, shape: [3])) }
        try asModule.setParameter(named: "bias", to: Tensor(repeating: 2, shape: [3]))
        #expect(conv.bias!.scalars == [2, 2, 2])
        #expect(throws: NormError.self) {
            try SoftmaxCrossEntropy<Float>()(Tensor(repeating: 0, shape: [2, 3]), labels: [0, 3])
        }
        #expect(throws: NormError.self) { try MaxPool2d<Float>(kernelSize: 3)(Tensor(repeating: 0, shape: [1, 1, 2, 2])) }
    }

    @Test func stateDictRoundTrip() throws {
        var generator = SeededGenerator(seed: 2)
        let a: Sequential<Float> = makeNetwork(.groupNorm, NetworkConfiguration(inputShape: [1, 4, 4], classes: 3, widths: [2, 4, 4]),
                                               seed: 1)
        let b: Sequential<Float> = makeNetwork(.groupNorm, NetworkConfiguration(inputShape: [1, 4, 4], classes: 3, widths: [2, 4, 4]),
                                               seed: 2)
        _ = generator.next()
        #expect(a.stateDict()["0.weight"] != b.stateDict()["0.weight"])
        try b.loadStateDict(a.stateDict())
        #expect(a.stateDict() == b.stateDict())
        #expect(a.namedParameters().map(\.name) == ["0.weight", "1.weight", "1.bias", "3.weight", "4.weight", "4.bias",
                                                    "7.weight", "8.weight", "8.bias", "12.weight", "12.bias"])
    }
}
