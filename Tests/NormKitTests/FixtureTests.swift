import Testing
@testable import NormKit
import NormKitTestSupport

/// Every layer, option combination and mode against PyTorch, elementwise, in Float and Double.
@Suite struct TorchReferenceTests {
    @Test(arguments: TorchFixture.all)
    func matchesTorchInDouble(_ fixture: TorchFixture) throws {
        try replay(fixture, as: Double.self, against: "float64", tolerance: .forType(Double.self))
    }

    @Test(arguments: TorchFixture.all)
    func matchesTorchInFloat(_ fixture: TorchFixture) throws {
        // Inputs with mean 1e4 and std 0.1: PyTorch's float32 kernel folds the mean into a bias and
        // loses digits to cancellation; NormKit keeps them, so compare with PyTorch's float64
        // results on the very same Float inputs instead.
        let largeMean = fixture.name.contains("large_mean")
        try replay(fixture, as: Float.self, against: largeMean ? "float64" : "float32",
                   tolerance: largeMean ? Tolerance(absolute: 2e-4, relative: 2e-4) : .forType(Float.self))
    }

    /// Every fixture with an input of rank 3 or more, replayed with channels-last inputs and
    /// upstream gradients: the same expected values, the output in the input's memory format.
    @Test(arguments: TorchFixture.all.filter { $0.steps.allSatisfy { $0.input.shape.count >= 3 } })
    func matchesTorchChannelsLast(_ fixture: TorchFixture) throws {
        try replay(fixture, as: Double.self, against: "float64", tolerance: .forType(Double.self), format: .channelsLast)
        let largeMean = fixture.name.contains("large_mean")
        try replay(fixture, as: Float.self, against: largeMean ? "float64" : "float32",
                   tolerance: largeMean ? Tolerance(absolute: 2e-4, relative: 2e-4) : .forType(Float.self), format: .channelsLast)
    }

    func replay<Scalar: NormScalar>(
        _ fixture: TorchFixture, as _: Scalar.Type, against dtype: String, tolerance: Tolerance,
        format: MemoryFormat = .contiguous
    ) throws {
        let layer = fixture.makeLayer(Scalar.self)
        try layer.loadStateDict(fixture.initialState.mapValues { $0.tensor(Scalar.self) })
        for (index, step) in fixture.steps.enumerated() {
            let expected = fixture.expected[dtype]![index]
            let context = "\(fixture.name) \(Scalar.self) step \(index) (\(step.training ? "train" : "eval"))"
            layer.train(step.training)
            layer.zeroGrad()
            let output = try layer(step.input.tensor(Scalar.self).withMemoryFormat(format))
            #expect(output.shape == step.input.shape, "\(context): output shape")
            #expect(output.memoryFormat == format || output.rank < 3, "\(context): output memory format")
            assertClose(output.scalars, expected["output"]!, tolerance, "\(context) output")
            let gradInput = try layer.backward(step.gradOutput.tensor(Scalar.self).withMemoryFormat(format))
            assertClose(gradInput.scalars, expected["grad_input"]!, tolerance, "\(context) grad_input")
            let gradients = layer.gradients()
            for name in ["weight", "bias"] {
                #expect((gradients[name] != nil) == (expected["grad_" + name] != nil), "\(context): has \(name) gradient")
                if let actual = gradients[name], let reference = expected["grad_" + name] {
                    assertClose(actual.scalars, reference, tolerance, "\(context) grad_\(name)")
                }
            }
            let state = layer.stateDict()
            for name in ["running_mean", "running_var", "num_batches_tracked"] {
                #expect((state[name] != nil) == (expected[name] != nil), "\(context): has \(name)")
                if let actual = state[name], let reference = expected[name] {
                    assertClose(actual.scalars, reference, tolerance, "\(context) \(name)")
                }
            }
        }
    }
}
