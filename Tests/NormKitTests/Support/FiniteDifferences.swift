@testable import NormKit

/// Central finite differences of the scalar loss L = Σ g · layer(x) for a random upstream g.
///
/// The layer's state is restored before every evaluation, so running-statistics updates made by
/// training-mode forward passes never leak into the next evaluation.
struct FiniteDifferenceCheck {
    let layer: NormalizationLayer<Double>
    let input: Tensor<Double>
    let gradOutput: Tensor<Double>
    let step = 1e-6

    /// Σ g·y with the layer's state set to `state`.
    func loss(input: Tensor<Double>, state: [String: Tensor<Double>]) throws -> Double {
        try layer.loadStateDict(state)
        let output = try layer(input)
        return zip(output.scalars, gradOutput.scalars).map(*).reduce(0, +)
    }

    /// Numerical ∂L/∂x.
    func numericalInputGradient() throws -> [Double] {
        let state = layer.stateDict()
        var result: [Double] = []
        for i in input.scalars.indices {
            var plus = input, minus = input
            plus.scalars[i] += step
            minus.scalars[i] -= step
            result.append((try loss(input: plus, state: state) - loss(input: minus, state: state)) / (2 * step))
        }
        try layer.loadStateDict(state)
        return result
    }

    /// Numerical ∂L/∂(parameter `name`).
    func numericalParameterGradient(_ name: String) throws -> [Double] {
        let state = layer.stateDict()
        var result: [Double] = []
        for i in state[name]!.scalars.indices {
            var plus = state, minus = state
            plus[name]!.scalars[i] += step
            minus[name]!.scalars[i] -= step
            result.append((try loss(input: input, state: plus) - loss(input: input, state: minus)) / (2 * step))
        }
        try layer.loadStateDict(state)
        return result
    }
}
