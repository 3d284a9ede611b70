import Foundation
import NormKit
import NormKitTestSupport
import Testing
@testable import NormKitLab

/// ``assertClose(_:_:_:_:sourceLocation:)`` with the tolerance spelled out.
func expectClose<A: Sequence, B: Sequence>(
    _ actual: A, _ expected: B, absolute: Double, relative: Double, _ context: @autoclosure () -> String,
    sourceLocation: SourceLocation = #_sourceLocation
) where A.Element: BinaryFloatingPoint, B.Element: BinaryFloatingPoint {
    assertClose(actual, expected, Tolerance(absolute: absolute, relative: relative), context(), sourceLocation: sourceLocation)
}

/// A seeded normal tensor.
func randomTensor<S: LabScalar>(_ shape: [Int], seed: UInt64, as _: S.Type = S.self) -> Tensor<S> {
    var generator = SeededGenerator(seed: seed)
    return Tensor<S>.randomNormal(shape: shape, using: &generator)
}

/// Central finite differences of L = Σ g · module(x) for a random upstream g, in Double.
struct FiniteDifferences {
    let module: any Module<Double>
    let input: Tensor<Double>
    let upstream: Tensor<Double>
    var step = 1e-6

    func loss(_ x: Tensor<Double>) throws -> Double {
        zip(try module(x).scalars, upstream.scalars).map(*).reduce(0, +)
    }

    func inputGradient() throws -> [Double] {
        try input.scalars.indices.map { i in
            var plus = input.scalars, minus = input.scalars
            plus[i] += step
            minus[i] -= step
            return (try loss(Tensor(shape: input.shape, scalars: plus))
                - loss(Tensor(shape: input.shape, scalars: minus))) / (2 * step)
        }
    }

    func parameterGradient(_ name: String) throws -> [Double] {
        let original = module.namedParameters().first { $0.name == name }!.value
        defer { try! module.setParameter(named: name, to: original) }
        return try original.scalars.indices.map { i in
            var plus = original.scalars, minus = original.scalars
            plus[i] += step
            minus[i] -= step
            try module.setParameter(named: name, to: Tensor(shape: original.shape, scalars: plus))
            let up = try loss(input)
            try module.setParameter(named: name, to: Tensor(shape: original.shape, scalars: minus))
            return (up - (try loss(input))) / (2 * step)
        }
    }

    /// Compares the analytic input gradient and every parameter gradient with finite differences.
    func check(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        module.zeroGrad()
        let output = try module(input)
        #expect(output.shape == upstream.shape, "\(name): output shape", sourceLocation: sourceLocation)
        let analytic = try module.backward(upstream)
        #expect(analytic.shape == input.shape, "\(name): input gradient shape", sourceLocation: sourceLocation)
        let gradients = module.gradients()
        expectClose(analytic.scalars, try inputGradient(), absolute: 1e-7, relative: 1e-6, "\(name) ∂L/∂x",
                    sourceLocation: sourceLocation)
        for (parameter, _) in module.namedParameters() {
            expectClose(gradients[parameter]!.scalars, try parameterGradient(parameter), absolute: 1e-7, relative: 1e-6,
                        "\(name) ∂L/∂\(parameter)", sourceLocation: sourceLocation)
        }
    }
}
