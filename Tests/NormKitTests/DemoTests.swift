import Testing
@testable import normkit
@testable import NormKit
import NormKitTestSupport

/// The numbers `normkit demo` prints, against PyTorch's for the same example.
@Suite struct DemoTests {
    let demo: DemoWalkthrough

    init() throws { demo = try DemoWalkthrough() }

    private let fourDecimals = Tolerance(absolute: 5e-5, relative: 0)

    @Test func batchStatistics() {
        assertClose(demo.batchMean, [0.2326, 0.0653], fourDecimals, "batch mean")
        // The study note's "biased" numbers are in fact the unbiased variance.
        assertClose(demo.unbiasedVariance, [0.0072, 2.1872], fourDecimals, "unbiased variance")
        assertClose(demo.biasedVariance, [0.0054, 1.6404], fourDecimals, "biased variance")
    }

    @Test func trainingOutputUsesTheBiasedVariance() {
        assertClose(demo.trainOutput.scalars,
                    [1.4150, -1.4102, 0.0257, -0.0305, -0.9276, -0.1964, 1.6731, -0.5491],
                    fourDecimals, "training output")
    }

    @Test func runningStatisticsUseTheUnbiasedVariance() {
        #expect(demo.runningMeanBefore == [2, 2])
        #expect(demo.runningVarBefore == [1, 1])
        assertClose(demo.runningMeanAfter, [1.8233, 1.8065], fourDecimals, "running_mean")
        assertClose(demo.runningVarAfter, [0.9007, 1.1187], fourDecimals, "running_var")
    }

    @Test func evalOutputUsesTheRunningStatistics() {
        let expected = demo.x.scalars.enumerated().map { i, x in
            let c = i / 4
            return (x - demo.runningMeanAfter[c]) / (demo.runningVarAfter[c] + 1e-5).squareRoot()
        }
        assertClose(demo.evalOutput.scalars, expected, Tolerance(absolute: 1e-6, relative: 1e-6), "eval output")
        assertClose(demo.evalOutput.scalars.prefix(2), [-1.5663, -1.7854], fourDecimals, "eval output")
    }

    @Test func otherNormalizationsPoolOverTheirAxes() {
        // One sample: InstanceNorm pools like BatchNorm, and one group is LayerNorm.
        assertClose(demo.instanceNormOutput.scalars, demo.trainOutput.scalars, Tolerance(absolute: 1e-6, relative: 0), "instance norm")
        assertClose(demo.groupNormOutput.scalars, demo.layerNormOutput.scalars, Tolerance(absolute: 1e-6, relative: 0), "group norm")
        assertClose(demo.layerNormOutput.scalars.prefix(2), [0.2061, -0.0221], fourDecimals, "layer norm")
    }

    @Test func rendersEveryStep() {
        let text = demo.render()
        for needle in ["1.4150", "1.8233", "0.9007", "1.1187", "InstanceNorm2d", "LayerNorm", "GroupNorm", "Eval mode"] {
            #expect(text.contains(needle), "demo output lacks \(needle)")
        }
    }
}
