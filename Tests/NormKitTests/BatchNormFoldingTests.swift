import Testing
@testable import NormKit
import NormKitTestSupport

/// BatchNorm folding against PyTorch's `torch.nn.utils.fusion`, elementwise in Float and Double.
@Suite struct BatchNormFoldingFixtureTests {
    /// The functional forms, given the statistics, and the layer overloads, which read the same
    /// statistics from an eval-mode BatchNorm2d: Double against torch's float64 results, Float
    /// against its float32 ones.
    @Test(arguments: FoldingFixture.all, [false, true])
    func matchesTorch(_ fixture: FoldingFixture, throughLayer: Bool) throws {
        try check(fixture, as: Double.self, against: "float64", tolerance: .forType(Double.self), throughLayer: throughLayer)
        try check(fixture, as: Float.self, against: "float32", tolerance: .forType(Float.self), throughLayer: throughLayer)
    }

    /// A channels-last convolution weight folds to the same values, and stays channels-last.
    @Test(arguments: FoldingFixture.all.filter { $0.layerWeight.shape.count >= 3 })
    func channelsLastWeight(_ fixture: FoldingFixture) throws {
        let weight = fixture.layerWeight.tensor(Double.self).withMemoryFormat(.channelsLast)
        let folded = try fold(fixture, weight: weight, as: Double.self, throughLayer: false)
        #expect(folded.weight.memoryFormat == .channelsLast)
        assertClose(folded.weight.scalars, fixture.expected["float64"]!.weight.data, .forType(Double.self), "\(fixture) weight")
    }

    func check<Scalar: NormScalar>(
        _ fixture: FoldingFixture, as _: Scalar.Type, against dtype: String, tolerance: Tolerance, throughLayer: Bool
    ) throws {
        let folded = try fold(fixture, weight: fixture.layerWeight.tensor(Scalar.self), as: Scalar.self, throughLayer: throughLayer)
        let expected = fixture.expected[dtype]!
        let context = "\(fixture) \(Scalar.self)\(throughLayer ? " through the layer" : "")"
        #expect(folded.weight.shape == expected.weight.shape, "\(context): weight shape")
        #expect(folded.bias.shape == expected.bias.shape, "\(context): bias shape")
        assertClose(folded.weight.scalars, expected.weight.data, tolerance, "\(context) weight")
        assertClose(folded.bias.scalars, expected.bias.data, tolerance, "\(context) bias")
    }

    func fold<Scalar: NormScalar>(
        _ fixture: FoldingFixture, weight: Tensor<Scalar>, as _: Scalar.Type, throughLayer: Bool
    ) throws -> (weight: Tensor<Scalar>, bias: Tensor<Scalar>) {
        let bias = fixture.layerBias?.tensor(Scalar.self)
        if throughLayer {
            let batchNorm = try fixture.makeBatchNorm(Scalar.self)
            return fixture.kind == "conv"
                ? try fuseConvBatchNorm(convWeight: weight, convBias: bias, batchNorm: batchNorm, transposed: fixture.transposed)
                : try fuseLinearBatchNorm(linearWeight: weight, linearBias: bias, batchNorm: batchNorm)
        }
        let (mean, variance) = (fixture.runningMean.tensor(Scalar.self), fixture.runningVar.tensor(Scalar.self))
        let (gamma, beta) = (fixture.batchNormWeight?.tensor(Scalar.self), fixture.batchNormBias?.tensor(Scalar.self))
        return fixture.kind == "conv"
            ? try Functional.fuseConvBatchNorm(convWeight: weight, convBias: bias, runningMean: mean, runningVar: variance,
                                               eps: fixture.eps, weight: gamma, bias: beta, transposed: fixture.transposed)
            : try Functional.fuseLinearBatchNorm(linearWeight: weight, linearBias: bias, runningMean: mean,
                                                 runningVar: variance, eps: fixture.eps, weight: gamma, bias: beta)
    }
}

/// The folded layer computes what the layer followed by an eval-mode BatchNorm computes: a
/// direct convolution (or matrix product) in Double, then NormKit's BatchNorm, against the same
/// convolution with the folded weight and bias.
@Suite struct BatchNormFoldingPropertyTests {
    struct Case: Sendable, CustomStringConvertible {
        var spatial: [Int]
        var kernel: [Int]
        var inputChannels: Int
        var outputChannels: Int
        var groups = 1
        var transposed = false
        var hasBias = true
        var affine = true
        var description: String {
            "\(transposed ? "transposed " : "")conv \(inputChannels)→\(outputChannels) groups \(groups) "
                + "kernel \(kernel) bias \(hasBias) affine \(affine)"
        }
    }

    static let cases: [Case] = [
        Case(spatial: [6, 5], kernel: [3, 3], inputChannels: 3, outputChannels: 4),
        Case(spatial: [6, 5], kernel: [3, 2], inputChannels: 4, outputChannels: 6, groups: 2, hasBias: false),
        Case(spatial: [5, 5], kernel: [3, 3], inputChannels: 3, outputChannels: 3, groups: 3, affine: false),
        Case(spatial: [7], kernel: [3], inputChannels: 2, outputChannels: 5),
        Case(spatial: [4, 4, 3], kernel: [2, 2, 2], inputChannels: 2, outputChannels: 3, hasBias: false),
        Case(spatial: [4, 3], kernel: [2, 3], inputChannels: 3, outputChannels: 4, transposed: true),
        Case(spatial: [4, 3], kernel: [2, 2], inputChannels: 4, outputChannels: 6, groups: 2, transposed: true),
        Case(spatial: [5], kernel: [3], inputChannels: 6, outputChannels: 4, groups: 2, transposed: true, hasBias: false),
        Case(spatial: [4, 4], kernel: [3, 3], inputChannels: 4, outputChannels: 4, groups: 4, transposed: true, affine: false),
    ]

    @Test(arguments: cases)
    func foldedConvolutionEqualsConvolutionThenBatchNorm(_ c: Case) throws {
        var random = SeededRandom(seed: 909)
        let weightShape = c.transposed ? [c.inputChannels, c.outputChannels / c.groups] + c.kernel
                                       : [c.outputChannels, c.inputChannels / c.groups] + c.kernel
        let weight: Tensor<Double> = random.tensor(weightShape, std: 0.3)
        let bias: Tensor<Double>? = c.hasBias ? random.tensor([c.outputChannels]) : nil
        let batchNorm = try Self.evalBatchNorm(channels: c.outputChannels, inputRank: 2 + c.spatial.count, affine: c.affine,
                                               eps: 1e-3, using: &random)
        let input: Tensor<Double> = random.tensor([2, c.inputChannels] + c.spatial)

        let convolved = NaiveConvolution.apply(input, weight: weight, bias: bias, groups: c.groups, transposed: c.transposed)
        let expected = try batchNorm(convolved)
        let folded = try fuseConvBatchNorm(convWeight: weight, convBias: bias, batchNorm: batchNorm, transposed: c.transposed)
        #expect(folded.weight.shape == weight.shape)
        let actual = NaiveConvolution.apply(input, weight: folded.weight, bias: folded.bias, groups: c.groups,
                                            transposed: c.transposed)
        assertClose(actual, expected, .forType(Double.self), "\(c)")
    }

    /// y = W′x + b′ against BatchNorm1d(Wx + b), for C = out and for a one-feature BatchNorm
    /// over `(N, 1, out)`.
    @Test(arguments: [(4, true), (4, false), (1, false), (1, true)])
    func foldedLinearEqualsLinearThenBatchNorm(features: Int, hasBias: Bool) throws {
        var random = SeededRandom(seed: 77)
        let (batch, inputs, outputs) = (5, 3, 4)
        let weight: Tensor<Double> = random.tensor([outputs, inputs])
        let bias: Tensor<Double>? = hasBias ? random.tensor([outputs]) : nil
        let batchNorm = try Self.evalBatchNorm(channels: features, inputRank: 2, affine: true, eps: 1e-5, using: &random)
        let input: Tensor<Double> = random.tensor([batch, inputs])
        func linear(_ w: Tensor<Double>, _ b: Tensor<Double>?) -> [Double] {
            (0..<batch).flatMap { n in
                (0..<outputs).map { o in (0..<inputs).reduce(b?[o] ?? 0) { $0 + w[o, $1] * input[n, $1] } }
            }
        }
        let shape = features == 1 ? [batch, 1, outputs] : [batch, outputs]
        let expected = try batchNorm(Tensor(shape: shape, scalars: linear(weight, bias)))
        let folded = try fuseLinearBatchNorm(linearWeight: weight, linearBias: bias, batchNorm: batchNorm)
        #expect(folded.bias.shape == [outputs])
        assertClose(linear(folded.weight, folded.bias), expected.scalars, .forType(Double.self), "features \(features)")
    }

    /// A BatchNorm for inputs of `inputRank` (BatchNorm1d, 2d or 3d) in eval mode, with random
    /// running statistics (variances in [0.05, 2.05]) and, with `affine`, random γ and β.
    static func evalBatchNorm(channels: Int, inputRank: Int, affine: Bool, eps: Double,
                              using random: inout SeededRandom) throws -> BatchNorm<Double> {
        let layer: BatchNorm<Double> = switch inputRank {
        case 4: BatchNorm2d(numFeatures: channels, eps: eps, affine: affine)
        case 5: BatchNorm3d(numFeatures: channels, eps: eps, affine: affine)
        default: BatchNorm1d(numFeatures: channels, eps: eps, affine: affine)
        }
        var state: [String: Tensor<Double>] = [
            "running_mean": random.tensor([channels], std: 0.5),
            "running_var": .randomUniform(shape: [channels], in: 0.05..<2.05, using: &random),
        ]
        if affine {
            state["weight"] = random.tensor([channels], mean: 1, std: 0.5)
            state["bias"] = random.tensor([channels], std: 0.5)
        }
        try layer.loadStateDict(state)
        layer.eval()
        return layer
    }
}

/// Bad arguments get typed errors that say what was expected and what was given.
@Suite struct BatchNormFoldingErrorTests {
    let weight = Tensor<Float>.ones(shape: [4, 2, 3, 3])

    @Test func trainingModeLayerIsRefused() {
        let batchNorm = BatchNorm2d<Float>(numFeatures: 4)
        assertThrows(.foldingNeedsEvalMode(layer: "BatchNorm2d")) {
            try fuseConvBatchNorm(convWeight: weight, convBias: nil, batchNorm: batchNorm)
        }
        assertThrows(.foldingNeedsEvalMode(layer: "BatchNorm2d")) {
            try fuseLinearBatchNorm(linearWeight: .ones(shape: [4, 3]), linearBias: nil, batchNorm: batchNorm)
        }
        #expect(NormError.foldingNeedsEvalMode(layer: "BatchNorm2d").description.contains("train(false)"))
    }

    @Test func layerWithoutRunningStatisticsIsRefused() {
        let batchNorm = BatchNorm2d<Float>(numFeatures: 4, trackRunningStats: false)
        batchNorm.eval()
        assertThrows(.foldingNeedsRunningStatistics(layer: "BatchNorm2d")) {
            try fuseConvBatchNorm(convWeight: weight, convBias: nil, batchNorm: batchNorm)
        }
        batchNorm.train()
        assertThrows(.foldingNeedsRunningStatistics(layer: "BatchNorm2d")) {
            try fuseConvBatchNorm(convWeight: weight, convBias: nil, batchNorm: batchNorm)
        }
    }

    @Test func invalidLayerReportsItsConfigurationError() {
        let batchNorm = BatchNorm1d<Float>(numFeatures: -1)
        batchNorm.eval()
        assertThrows(batchNorm.configurationError!) {
            try fuseLinearBatchNorm(linearWeight: .ones(shape: [4, 3]), linearBias: nil, batchNorm: batchNorm)
        }
    }

    @Test func convolutionShapesAreChecked() {
        let (mean, variance) = (Tensor<Float>.zeros(shape: [4]), Tensor<Float>.ones(shape: [4]))
        func fold(_ w: Tensor<Float>, bias: Tensor<Float>? = nil, transposed: Bool = false) throws {
            _ = try Functional.fuseConvBatchNorm(convWeight: w, convBias: bias, runningMean: mean, runningVar: variance,
                                                 weight: nil, bias: nil, transposed: transposed)
        }
        assertThrows(.invalidArgument(name: "convWeight", expected: "a tensor of rank 2 or more, [C, Cin/groups, k…]",
                                      actual: "shape [4]")) { try fold(.ones(shape: [4])) }
        assertThrows(.invalidArgument(name: "convWeight", expected: "[C, Cin/groups, k…] with the BatchNorm's 4 channels in dimension 0",
                                      actual: "shape [6, 2, 3, 3]")) { try fold(.ones(shape: [6, 2, 3, 3])) }
        assertThrows(.argumentShapeMismatch(argument: "convBias", expected: [4], actual: [6])) {
            try fold(weight, bias: .zeros(shape: [6]))
        }
        // Transposed: C/groups = 3 does not divide 4; C/groups = 2 gives 2 groups, which do not divide Cin = 3.
        for shape in [[2, 3, 3, 3], [3, 2, 3, 3]] {
            assertThrows(.invalidArgument(
                name: "convWeight", expected: "[Cin, C/groups, k…] with C/groups in dimension 1 dividing the BatchNorm's "
                    + "4 channels into groups that also divide Cin (dimension 0)", actual: "shape \(shape)")) {
                try fold(.ones(shape: shape), transposed: true)
            }
        }
    }

    @Test func batchNormArgumentsAreChecked() {
        func fold(mean: Tensor<Double> = .zeros(shape: [4]), variance: Tensor<Double> = .ones(shape: [4]),
                  gamma: Tensor<Double>? = nil, eps: Double = 1e-5) throws {
            _ = try Functional.fuseConvBatchNorm(convWeight: .ones(shape: [4, 1, 2]), convBias: nil, runningMean: mean,
                                                 runningVar: variance, eps: eps, weight: gamma, bias: nil)
        }
        assertThrows(.invalidArgument(name: "running_mean", expected: "a tensor of shape [C]", actual: "shape [2, 2]")) {
            try fold(mean: .zeros(shape: [2, 2]))
        }
        assertThrows(.argumentShapeMismatch(argument: "running_var", expected: [4], actual: [3])) { try fold(variance: .ones(shape: [3])) }
        assertThrows(.argumentShapeMismatch(argument: "weight", expected: [4], actual: [5])) { try fold(gamma: .ones(shape: [5])) }
        let expectation = "such that running_var + eps is a positive finite number in every channel"
        assertThrows(.invalidArgument(name: "running_var", expected: expectation, actual: "running_var[2] = -1.0 with eps = 1e-05")) {
            try fold(variance: [1, 1, -1, 1])
        }
        assertThrows(.invalidArgument(name: "running_var", expected: expectation, actual: "running_var[0] = 0.0 with eps = 0.0")) {
            try fold(variance: [0, 1, 1, 1], eps: 0)
        }
        assertThrows(.invalidArgument(name: "running_var", expected: expectation, actual: "running_var[1] = nan with eps = 1e-05")) {
            try fold(variance: [1, .nan, 1, 1])
        }
    }

    /// Empty weights whose other dimensions are huge fold at once, without a loop over those
    /// dimensions; a transposed weight against a BatchNorm of no channels is refused, not divided
    /// by zero; a folded bias too large for memory is refused, not allocated.
    @Test func hostileEmptyWeightsFoldOrThrowAtOnce() throws {
        let none = (mean: Tensor<Float>.zeros(shape: [0]), variance: Tensor<Float>.ones(shape: [0]))
        #expect(throws: NormError.self) {
            try Functional.fuseConvBatchNorm(convWeight: .ones(shape: [4, 3, 1, 1]), convBias: nil, runningMean: none.mean,
                                             runningVar: none.variance, weight: nil, bias: nil, transposed: true)
        }
        let one = (mean: Tensor<Float>.zeros(shape: [1]), variance: Tensor<Float>.ones(shape: [1]))
        let wide = try Tensor<Float>(shape: [1, 1 << 40, 0], scalars: [])
        let conv = try Functional.fuseConvBatchNorm(convWeight: wide, convBias: nil, runningMean: one.mean,
                                                    runningVar: one.variance, weight: nil, bias: nil)
        #expect(conv.weight.shape == [1, 1 << 40, 0] && conv.bias.shape == [1])
        let transposed = try Functional.fuseConvBatchNorm(convWeight: Tensor<Float>(shape: [1 << 50, 1, 0], scalars: []), convBias: nil,
                                                          runningMean: one.mean, runningVar: one.variance, weight: nil, bias: nil,
                                                          transposed: true)
        #expect(transposed.weight.shape == [1 << 50, 1, 0])
        #expect(throws: NormError.self) {
            try Functional.fuseLinearBatchNorm(linearWeight: Tensor<Float>(shape: [1 << 60, 0], scalars: []), linearBias: nil,
                                               runningMean: one.mean, runningVar: one.variance, weight: nil, bias: nil)
        }
        let linear = try Functional.fuseLinearBatchNorm(linearWeight: Tensor<Float>(shape: [3, 0], scalars: []), linearBias: nil,
                                                        runningMean: one.mean, runningVar: one.variance, weight: nil, bias: nil)
        #expect(linear.weight.shape == [3, 0] && linear.bias.shape == [3])
    }

    @Test func linearShapesAreChecked() {
        let (mean, variance) = (Tensor<Float>.zeros(shape: [4]), Tensor<Float>.ones(shape: [4]))
        func fold(_ w: Tensor<Float>, bias: Tensor<Float>? = nil) throws {
            _ = try Functional.fuseLinearBatchNorm(linearWeight: w, linearBias: bias, runningMean: mean, runningVar: variance,
                                                   weight: nil, bias: nil)
        }
        let expected = "[out, in] with out equal to the BatchNorm's 4 features (or a BatchNorm of 1 feature)"
        assertThrows(.invalidArgument(name: "linearWeight", expected: expected, actual: "shape [4, 3, 1]")) {
            try fold(.ones(shape: [4, 3, 1]))
        }
        assertThrows(.invalidArgument(name: "linearWeight", expected: expected, actual: "shape [5, 3]")) { try fold(.ones(shape: [5, 3])) }
        assertThrows(.argumentShapeMismatch(argument: "linearBias", expected: [4], actual: [5])) {
            try fold(.ones(shape: [4, 3]), bias: .zeros(shape: [5]))
        }
    }

    /// SyncBatchNorm is a BatchNorm: it folds with its running statistics like any other.
    @Test func syncBatchNormFolds() throws {
        let batchNorm = SyncBatchNorm<Double>(numFeatures: 4)
        batchNorm.eval()
        let folded = try fuseConvBatchNorm(convWeight: .ones(shape: [4, 1, 1]), convBias: nil, batchNorm: batchNorm)
        assertClose(folded.weight.scalars, Array(repeating: 1 / (1 + 1e-5).squareRoot(), count: 4), .forType(Double.self), "weight")
        assertClose(folded.bias.scalars, [0, 0, 0, 0], .forType(Double.self), "bias")
    }
}
