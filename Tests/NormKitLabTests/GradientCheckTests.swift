import NormKit
import Testing
@testable import NormKitLab

/// Every layer of the training stack against central finite differences in Double, with random
/// upstream gradients (L = Σ g·y for a seeded normal g), for the input and every parameter.
@Suite struct LabGradientCheckTests {
    struct ConvCase: CustomTestStringConvertible, Sendable {
        var input: [Int], outChannels: Int, kernel: Int, stride: Int, padding: Int, bias: Bool
        var testDescription: String { "x\(input) → \(outChannels) k\(kernel) s\(stride) p\(padding)\(bias ? " bias" : "")" }
    }

    static let convCases = [
        ConvCase(input: [2, 3, 5, 5], outChannels: 4, kernel: 3, stride: 1, padding: 1, bias: true),
        ConvCase(input: [2, 2, 6, 5], outChannels: 3, kernel: 3, stride: 2, padding: 0, bias: false),
        ConvCase(input: [1, 2, 7, 6], outChannels: 5, kernel: 3, stride: 2, padding: 1, bias: true),
        ConvCase(input: [3, 1, 4, 4], outChannels: 2, kernel: 1, stride: 1, padding: 0, bias: true),
        ConvCase(input: [1, 2, 3, 3], outChannels: 2, kernel: 2, stride: 1, padding: 2, bias: true),
    ]

    @Test(arguments: convCases)
    func conv2d(_ c: ConvCase) throws {
        var generator = SeededGenerator(seed: 7)
        let conv = Conv2d<Double>(inChannels: c.input[1], outChannels: c.outChannels, kernelSize: c.kernel,
                                  stride: c.stride, padding: c.padding, bias: c.bias, using: &generator)
        if c.bias { try conv.setParameter(named: "bias", to: randomTensor([c.outChannels], seed: 8)) }
        let outputShape = conv.outputShape(for: c.input)
        try FiniteDifferences(module: conv, input: randomTensor(c.input, seed: 1), upstream: randomTensor(outputShape, seed: 2))
            .check("Conv2d \(c.testDescription)")
    }

    @Test func conv2dMatchesADirectSum() throws {
        var generator = SeededGenerator(seed: 3)
        let conv = Conv2d<Double>(inChannels: 2, outChannels: 3, kernelSize: 3, stride: 2, padding: 1, using: &generator)
        try conv.setParameter(named: "bias", to: randomTensor([3], seed: 4))
        let x: Tensor<Double> = randomTensor([2, 2, 5, 4], seed: 5)
        let y = try conv(x)
        #expect(y.shape == [2, 3, 3, 2])
        let w = conv.weight, b = conv.bias!
        var expected: [Double] = []
        for n in 0..<2 { for o in 0..<3 { for i in 0..<3 { for j in 0..<2 {
            var sum = b[o]
            for c in 0..<2 { for u in 0..<3 { for v in 0..<3 {
                let row = i * 2 - 1 + u, column = j * 2 - 1 + v
                if (0..<5).contains(row) && (0..<4).contains(column) { sum += w[o, c, u, v] * x[n, c, row, column] }
            } } }
            expected.append(sum)
        } } } }
        expectClose(y.scalars, expected, absolute: 1e-12, relative: 1e-12, "Conv2d against the definition")
    }

    @Test func linear() throws {
        var generator = SeededGenerator(seed: 11)
        let linear = Linear<Double>(inFeatures: 5, outFeatures: 3, using: &generator)
        try linear.setParameter(named: "bias", to: randomTensor([3], seed: 12))
        try FiniteDifferences(module: linear, input: randomTensor([4, 5], seed: 13), upstream: randomTensor([4, 3], seed: 14))
            .check("Linear")
    }

    @Test func relu() throws {
        // Inputs away from the kink at 0, where the derivative is undefined.
        let x = randomTensor([2, 3, 4], seed: 21, as: Double.self).scalars.map { $0 + ($0 >= 0 ? 0.05 : -0.05) }
        try FiniteDifferences(module: ReLU<Double>(), input: Tensor(shape: [2, 3, 4], scalars: x),
                              upstream: randomTensor([2, 3, 4], seed: 22)).check("ReLU")
    }

    @Test(arguments: [(2, 2, [2, 3, 4, 6]), (3, 2, [1, 2, 7, 5]), (2, 1, [2, 1, 3, 3])])
    func maxPool(kernel: Int, stride: Int, shape: [Int]) throws {
        let pool = MaxPool2d<Double>(kernelSize: kernel, stride: stride)
        let x: Tensor<Double> = randomTensor(shape, seed: 31)  // distinct values: no ties within a window
        let outputShape = [shape[0], shape[1], (shape[2] - kernel) / stride + 1, (shape[3] - kernel) / stride + 1]
        try FiniteDifferences(module: pool, input: x, upstream: randomTensor(outputShape, seed: 32))
            .check("MaxPool2d k\(kernel) s\(stride)")
    }

    @Test func globalAveragePool() throws {
        try FiniteDifferences(module: GlobalAvgPool2d<Double>(), input: randomTensor([2, 3, 3, 4], seed: 41),
                              upstream: randomTensor([2, 3, 1, 1], seed: 42)).check("GlobalAvgPool2d")
    }

    @Test func flatten() throws {
        try FiniteDifferences(module: Flatten<Double>(), input: randomTensor([2, 3, 2, 2], seed: 51),
                              upstream: randomTensor([2, 12], seed: 52)).check("Flatten")
    }

    @Test func softmaxCrossEntropy() throws {
        let logits: Tensor<Double> = randomTensor([4, 5], seed: 61)
        let labels = [0, 3, 4, 3]
        let upstream = 0.7317  // a random upstream gradient of the scalar loss
        let loss = SoftmaxCrossEntropy<Double>()
        _ = try loss(logits, labels: labels)
        let analytic = try loss.backward(scale: upstream)
        let numerical = try logits.scalars.indices.map { i in
            var plus = logits.scalars, minus = logits.scalars
            plus[i] += 1e-6
            minus[i] -= 1e-6
            return upstream * (try loss(Tensor(shape: [4, 5], scalars: plus), labels: labels)
                - loss(Tensor(shape: [4, 5], scalars: minus), labels: labels)) / 2e-6
        }
        expectClose(analytic.scalars, numerical, absolute: 1e-8, relative: 1e-6, "CrossEntropy ∂L/∂z")
        // The value itself: log Σ exp z − z[label], averaged.
        let value = try loss(logits, labels: labels)
        let expected = (0..<4).map { n in
            let row = (0..<5).map { logits[n, $0] }
            return log(row.map(exp).reduce(0, +)) - row[labels[n]]
        }.reduce(0, +) / 4
        #expect(abs(value - expected) < 1e-12)
        #expect(SoftmaxCrossEntropy<Double>.correctCount(logits, labels: labels)
                == (0..<4).filter { n in (0..<5).max { logits[n, $0] < logits[n, $1] } == labels[n] }.count)
    }

    /// The whole network, with each normalization, in training mode: the layers compose.
    @Test(arguments: Normalization.allCases.filter { $0 != .syncBatchNorm })
    func network(_ normalization: Normalization) throws {
        let model: Sequential<Double> = makeNetwork(
            normalization, NetworkConfiguration(inputShape: [1, 4, 4], classes: 3, widths: [2, 4, 2], groupNormGroups: 2),
            seed: 5)
        try FiniteDifferences(module: model, input: randomTensor([3, 1, 4, 4], seed: 71), upstream: randomTensor([3, 3], seed: 72))
            .check("network with \(normalization.displayName)")
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
