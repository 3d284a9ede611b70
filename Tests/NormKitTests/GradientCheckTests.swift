import Testing
@testable import NormKit
import NormKitTestSupport

/// Finite-difference checks in Double of every layer, mode and option: the analytic input,
/// weight and bias gradients against central differences of Σ g·y for a random g.
@Suite struct GradientCheckTests {
    struct Case: CustomStringConvertible, Sendable {
        let description: String
        let shape: [Int]
        let training: Bool
        let make: @Sendable () -> NormalizationLayer<Double>
    }

    static let cases: [Case] = {
        var cases: [Case] = []
        for training in [true, false] {
            let mode = training ? "train" : "eval"
            for affine in [true, false] {
                for track in [true, false] {
                    for momentum in [0.1, nil] as [Double?] {
                        let tag = "\(mode) affine=\(affine) track=\(track) momentum=\(momentum.map { "\($0)" } ?? "nil")"
                        cases.append(Case(description: "BatchNorm1d (N,C) \(tag)", shape: [4, 3], training: training) {
                            BatchNorm1d(numFeatures: 3, momentum: momentum, affine: affine, trackRunningStats: track)
                        })
                        cases.append(Case(description: "BatchNorm2d \(tag)", shape: [2, 2, 2, 3], training: training) {
                            BatchNorm2d(numFeatures: 2, momentum: momentum, affine: affine, trackRunningStats: track)
                        })
                    }
                    cases.append(Case(description: "InstanceNorm2d \(mode) affine=\(affine) track=\(track)", shape: [2, 2, 2, 3], training: training) {
                        InstanceNorm2d(numFeatures: 2, affine: affine, trackRunningStats: track)
                    })
                    cases.append(Case(description: "InstanceNorm1d unbatched \(mode) affine=\(affine) track=\(track)", shape: [3, 4], training: training) {
                        InstanceNorm1d(numFeatures: 3, affine: affine, trackRunningStats: track)
                    })
                }
                cases.append(Case(description: "GroupNorm 2 groups \(mode) affine=\(affine)", shape: [2, 4, 3], training: training) {
                    GroupNorm(numGroups: 2, numChannels: 4, affine: affine)
                })
                cases.append(Case(description: "LayerNorm [2,3] \(mode) affine=\(affine)", shape: [3, 2, 3], training: training) {
                    LayerNorm(normalizedShape: [2, 3], elementwiseAffine: affine)
                })
                cases.append(Case(description: "RMSNorm [5] \(mode) affine=\(affine)", shape: [3, 5], training: training) {
                    RMSNorm(normalizedShape: [5], elementwiseAffine: affine)
                })
            }
        }
        cases.append(Case(description: "BatchNorm1d (N,C,L) eps=1e-3", shape: [2, 3, 3], training: true) {
            BatchNorm1d(numFeatures: 3, eps: 1e-3)
        })
        cases.append(Case(description: "BatchNorm3d", shape: [2, 2, 2, 1, 2], training: true) { BatchNorm3d(numFeatures: 2) })
        cases.append(Case(description: "BatchNorm3d eval", shape: [1, 2, 2, 1, 2], training: false) { BatchNorm3d(numFeatures: 2) })
        cases.append(Case(description: "InstanceNorm3d", shape: [1, 2, 2, 2, 2], training: true) { InstanceNorm3d(numFeatures: 2, affine: true) })
        cases.append(Case(description: "GroupNorm 1 group", shape: [2, 3, 2], training: true) { GroupNorm(numGroups: 1, numChannels: 3) })
        cases.append(Case(description: "GroupNorm one group per channel", shape: [2, 3, 4], training: true) { GroupNorm(numGroups: 3, numChannels: 3) })
        cases.append(Case(description: "LayerNorm without bias", shape: [2, 6], training: true) { LayerNorm(normalizedShape: [6], bias: false) })
        cases.append(Case(description: "RMSNorm eps=1e-2 [2,3]", shape: [2, 2, 3], training: true) { RMSNorm(normalizedShape: [2, 3], eps: 1e-2) })
        return cases
    }()

    @Test(arguments: cases)
    func analyticMatchesNumerical(_ testCase: Case) throws {
        try check(testCase, format: .contiguous)
    }

    /// The same checks with channels-last inputs and upstream gradients (rank 3 and more).
    @Test(arguments: cases.filter { $0.shape.count >= 3 })
    func analyticMatchesNumericalChannelsLast(_ testCase: Case) throws {
        try check(testCase, format: .channelsLast)
    }

    func check(_ testCase: Case, format: MemoryFormat) throws {
        var random = SeededRandom(seed: UInt64(testCase.description.utf8.reduce(7) { $0 &* 31 &+ UInt64($1) }))
        let layer = testCase.make()
        // A random state: γ around 1, β around 0, running statistics away from the defaults.
        var state = layer.stateDict()
        for (name, value) in state where name != "num_batches_tracked" {
            let shift = name == "running_var" ? 1.0 : (name == "weight" ? 1.0 : 0.0)
            state[name] = try Tensor(shape: value.shape, scalars: value.scalars.map { _ in
                name == "running_var" ? 0.5 + abs(random.normal()) : shift + 0.5 * random.normal() })
        }
        try layer.loadStateDict(state)
        layer.train(testCase.training)

        let input = (random.tensor(testCase.shape) as Tensor<Double>).withMemoryFormat(format)
        let gradOutput = (random.tensor(testCase.shape) as Tensor<Double>).withMemoryFormat(format)
        let check = FiniteDifferenceCheck(layer: layer, input: input, gradOutput: gradOutput)
        let tolerance = Tolerance(absolute: 2e-7, relative: 2e-6)

        let numericalInput = try check.numericalInputGradient()
        let numericalParameters = try layer.namedParameters().map { ($0.name, try check.numericalParameterGradient($0.name)) }

        layer.zeroGrad()
        _ = try layer(input)
        let gradInput = try layer.backward(gradOutput)
        #expect(gradInput.memoryFormat == input.memoryFormat, "\(testCase): input gradient in the input's memory format")
        assertClose(gradInput.scalars, numericalInput, tolerance, "\(testCase) input gradient")
        for (name, numerical) in numericalParameters {
            assertClose(layer.gradients()[name]!.scalars, numerical, tolerance, "\(testCase) \(name) gradient")
        }
        #expect(layer.gradients().count == layer.namedParameters().count)
    }
}
