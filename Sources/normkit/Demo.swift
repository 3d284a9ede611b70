import ArgumentParser
import NormKit

/// `normkit demo`: the classic BatchNorm2d example, step by step, then the same input through
/// the other normalizations so the reader sees which axes each one pools over.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Walk through BatchNorm2d's classic example, then compare the other normalizations.")

    func run() throws {
        print(try DemoWalkthrough().render())
    }
}

/// The numbers of the walkthrough, computed with NormKit, and their rendering.
struct DemoWalkthrough {
    /// `torch.manual_seed(42); torch.randn(1, 2, 2, 2)`.
    static let input: [Float] = [0.33669037, 0.12880941, 0.23446237, 0.23033303,
                                 -1.1228564, -0.18632829, 2.2082014, -0.63799703]

    let x: Tensor<Float>
    let batchMean: [Float]
    let biasedVariance: [Float]
    let unbiasedVariance: [Float]
    let runningMeanBefore: [Float]
    let runningVarBefore: [Float]
    let trainOutput: Tensor<Float>
    let runningMeanAfter: [Float]
    let runningVarAfter: [Float]
    let evalOutput: Tensor<Float>
    let instanceNormOutput: Tensor<Float>
    let layerNormOutput: Tensor<Float>
    let groupNormOutput: Tensor<Float>

    init() throws {
        let x = try Tensor<Float>(shape: [1, 2, 2, 2], scalars: Self.input)
        self.x = x
        // By hand, as the study note does: per channel over N, H and W.
        let channels = (0..<2).map { c in Array(Self.input[(c * 4)..<(c * 4 + 4)]) }
        let means = channels.map { $0.reduce(0, +) / 4 }
        let variances = zip(channels, means).map { values, mean in values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 4 }
        batchMean = means
        biasedVariance = variances
        unbiasedVariance = variances.map { $0 * 4 / 3 }

        let bn = BatchNorm2d<Float>(numFeatures: 2)
        try bn.loadStateDict(["running_mean": Tensor(repeating: 2, shape: [2]),
                              "running_var": Tensor(repeating: 1, shape: [2])], strict: false)
        runningMeanBefore = bn.runningMean!.scalars
        runningVarBefore = bn.runningVar!.scalars
        trainOutput = try bn(x)
        runningMeanAfter = bn.runningMean!.scalars
        runningVarAfter = bn.runningVar!.scalars
        bn.eval()
        evalOutput = try bn(x)

        instanceNormOutput = try InstanceNorm2d<Float>(numFeatures: 2)(x)
        layerNormOutput = try LayerNorm<Float>(normalizedShape: [2, 2, 2])(x)
        groupNormOutput = try GroupNorm<Float>(numGroups: 1, numChannels: 2)(x)
    }

    func render() -> String {
        func list(_ values: [Float]) -> String {
            "[" + values.map { format($0) }.joined(separator: ", ") + "]"
        }
        func grid(_ tensor: Tensor<Float>) -> String {
            (0..<2).map { c in
                "    channel \(c): " + (0..<2).map { h in list((0..<2).map { w in tensor[0, c, h, w] }) }.joined(separator: " ")
            }.joined(separator: "\n")
        }
        return """
        NormKit demo: BatchNorm2d(2) on the input of torch.manual_seed(42); torch.randn(1, 2, 2, 2)

        1. The input x, shape [1, 2, 2, 2] (N, C, H, W):
        \(grid(x))

        2. Batch statistics per channel, over N, H and W (4 values each):
            mean              \(list(batchMean))
            biased variance   \(list(biasedVariance))   (÷ n: used to normalize)
            unbiased variance \(list(unbiasedVariance))   (÷ (n − 1): used for running_var)

        3. Training mode: y = (x − mean) / √(biased variance + 1e-5) · γ + β, γ = 1, β = 0:
        \(grid(trainOutput))

        4. Running statistics, r ← (1 − 0.1)·r + 0.1·s:
            running_mean  \(list(runningMeanBefore)) → \(list(runningMeanAfter))   (s = mean)
            running_var   \(list(runningVarBefore)) → \(list(runningVarAfter))   (s = unbiased variance)

        5. Eval mode: the running statistics normalize instead:
        \(grid(evalOutput))

        6. The same x through the other normalizations (γ = 1, β = 0):
          InstanceNorm2d(2): per sample and channel, over H, W (with N = 1, the same pools as step 3)
        \(grid(instanceNormOutput))
          LayerNorm([2, 2, 2]): per sample, over C, H, W
        \(grid(layerNormOutput))
          GroupNorm(1 group, 2 channels): per sample and group of channels, over C/G, H, W
          (one group equals LayerNorm here; two groups would equal InstanceNorm)
        \(grid(groupNormOutput))
        """
    }

    private func format(_ value: Float) -> String {
        let scaled = (Double(value) * 10_000).rounded() / 10_000
        var text = String(scaled)
        if let dot = text.firstIndex(of: ".") {
            let decimals = text.distance(from: dot, to: text.endIndex) - 1
            text += String(repeating: "0", count: max(0, 4 - decimals))
        }
        return value < 0 || text.hasPrefix("-") ? text : " " + text
    }
}
