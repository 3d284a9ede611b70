import Foundation
import Testing
@testable import NormKit
import NormKitTestSupport

// Swift has no Float16 on macOS x86-64.
#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))

/// Every layer on float16 and bfloat16 inputs against PyTorch (scripts/make_half_fixtures.py),
/// forward and backward, on both of PyTorch's paths: a float32 module on half input ("mixed")
/// and a module converted to the half type ("half").
@Suite struct HalfPrecisionTests {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        let name: String
        let dtype: String
        let path: String
        let shape: [Int]
        let input: [Double]
        let grad_output: [Double]
        let parameters: [String: [Double]]
        let output: [Double]
        let grad_input: [Double]
        let grad_parameters: [String: [Double]]
        let running_mean: [Double]?
        let running_var: [Double]?
        let eval_output: [Double]?
        var testDescription: String { "\(name) \(dtype) \(path)" }
    }

    static let cases: [Case] = {
        struct File: Decodable { let cases: [Case] }
        let url = Bundle.module.url(forResource: "half_precision", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
    }()

    /// Two units in the last place of the half type, relative, plus as much absolute.
    static func tolerance(_ dtype: String, scale: Double = 1) -> Tolerance {
        dtype == "bfloat16" ? Tolerance(absolute: 2e-2 * scale, relative: 1.6e-2) : Tolerance(absolute: 2e-3 * scale, relative: 2e-3)
    }

    @Test(arguments: cases)
    func matchesPyTorch(_ c: Case) throws {
        if c.dtype == "bfloat16" { try check(c, BFloat16.self) } else { try check(c, Float16.self) }
    }

    func check<Half: HalfPrecisionScalar>(_ c: Case, _: Half.Type) throws {
        let x = try Tensor<Half>(shape: c.shape, scalars: c.input.map { Half($0) })
        let dy = try Tensor<Half>(shape: c.shape, scalars: c.grad_output.map { Half($0) })
        let tolerance = Self.tolerance(c.dtype)
        // The large-input case has outputs of order 1 but input gradients scaled by 1/400.
        let gradientTolerance = Self.tolerance(c.dtype, scale: c.name.hasSuffix("large") ? 1.0 / 400 : 1)
        if c.path == "mixed" {
            let layer: NormalizationLayer<Float> = try Self.layer(c)
            try load(c.parameters, into: layer)
            assertClose(try layer(x).scalars, c.output, tolerance, "\(c) output")
            assertClose(try layer.backward(dy).scalars, c.grad_input, gradientTolerance, "\(c) input gradient")
            try compareState(c, layer, tolerance: tolerance, statistics: Tolerance(absolute: 1e-4, relative: 1e-4))
            if let expected = c.eval_output {
                layer.eval()
                assertClose(try layer(x).scalars, expected, tolerance, "\(c) eval output")
            }
        } else {
            let layer: NormalizationLayer<Half> = try Self.layer(c)
            try load(c.parameters, into: layer)
            assertClose(try layer(x).scalars, c.output, tolerance, "\(c) output")
            assertClose(try layer.backward(dy).scalars, c.grad_input, gradientTolerance, "\(c) input gradient")
            try compareState(c, layer, tolerance: tolerance, statistics: tolerance)
            if let expected = c.eval_output {
                layer.eval()
                assertClose(try layer(x).scalars, expected, tolerance, "\(c) eval output")
            }
        }
    }

    func load<S: NormScalar>(_ parameters: [String: [Double]], into layer: NormalizationLayer<S>) throws {
        for (name, values) in parameters {
            try layer.setParameter(named: name, to: Tensor<S>(shape: [values.count], scalars: Kernels.scalars(values)))
        }
    }

    /// Parameter gradients within `tolerance` (PyTorch rounds some intermediates to the half
    /// type), running statistics within `statistics` (Float ones, in the mixed path, are tight).
    func compareState<S: NormScalar>(_ c: Case, _ layer: NormalizationLayer<S>, tolerance: Tolerance, statistics: Tolerance) throws {
        let gradients = layer.gradients()
        for (name, expected) in c.grad_parameters {
            // Parameter gradients are sums over the batch: compare them relative to their size.
            let scale = expected.map(abs).max() ?? 1
            assertClose(gradients[name]?.scalars ?? [], expected, Tolerance(absolute: tolerance.absolute * max(scale, 1),
                                                                             relative: tolerance.relative), "\(c) ∂\(name)")
        }
        if let mean = c.running_mean, let variance = c.running_var {
            assertClose(layer.runningMean?.scalars ?? [], mean, statistics, "\(c) running mean")
            assertClose(layer.runningVar?.scalars ?? [], variance, statistics, "\(c) running var")
        }
    }

    static func layer<S: NormScalar>(_ c: Case) throws -> NormalizationLayer<S> {
        switch c.name {
        case "batchnorm2d", "batchnorm2d_large": BatchNorm2d<S>(numFeatures: c.shape[1])
        case "batchnorm1d": BatchNorm1d<S>(numFeatures: c.shape[1])
        case "instancenorm2d": InstanceNorm2d<S>(numFeatures: c.shape[1], affine: true, trackRunningStats: true)
        case "layernorm": LayerNorm<S>(normalizedShape: [c.shape.last!])
        case "groupnorm": GroupNorm<S>(numGroups: 2, numChannels: c.shape[1])
        case "rmsnorm": RMSNorm<S>(normalizedShape: [c.shape.last!])
        default: throw NormError.invalidArgument(name: "case", expected: "a known layer", actual: c.name)
        }
    }

    /// Activations whose squares overflow float16 (above 256) leave finite running statistics:
    /// the statistics accumulate in Float and Double.
    @Test func overflowingSquaresKeepRunningStatisticsFinite() throws {
        let bn = BatchNorm1d<Float>(numFeatures: 2)
        let x = try Tensor<Float16>(shape: [4, 2], scalars: [60000, -60000, 49984, 1000, -65504, 300, 65504, -2000])
        let y = try bn(x)
        #expect(y.scalars.allSatisfy { $0.isFinite })
        #expect(bn.runningMean!.scalars.allSatisfy { $0.isFinite } && bn.runningVar!.scalars.allSatisfy { $0.isFinite })
        #expect(bn.runningVar!.scalars[0] > 1e8)
    }

    /// Rounding to bfloat16 is to nearest, ties to even, from Float and (in one rounding) from Double.
    @Test func bfloat16RoundsToNearestEven() {
        #expect(BFloat16(Float(1.00390625)).bitPattern == 0x3F80)      // 1 + 2⁻⁸: a tie, to even (1)
        #expect(BFloat16(Float(1.01171875)).bitPattern == 0x3F82)      // 1 + 3·2⁻⁸: a tie, to even
        #expect(BFloat16(Double(1.00390625) + 0x1p-40).bitPattern == 0x3F81)  // just above the tie
        #expect(BFloat16(Double(1.00390625) + 0x1p-30).bitPattern == 0x3F81)
        // The largest finite bfloat16 is 3.3895e38; from 3.3961e38 (halfway to 2¹²⁸) values round to ∞.
        #expect(BFloat16(3.39e38 as Double) == .greatestFiniteMagnitude && BFloat16(3.4e38 as Double).isInfinite)
        #expect(BFloat16(Float.nan).isNaN && BFloat16(-Float.infinity) == -.infinity)
        #expect(Float(BFloat16(bitPattern: 0x4049)) == 3.140625)
        #expect(BFloat16(2.5).description == "2.5" && BFloat16(0.1).description == "0.1")
        #expect(BFloat16.leastNonzeroMagnitude.nextUp.bitPattern == 2 && BFloat16(1).ulp == BFloat16(0.0078125))
        #expect((BFloat16(1.5) + BFloat16(2.25)) == BFloat16(3.75) && BFloat16(-2).magnitude == 2)
    }

    /// The C conversions of every instruction set (F16C in hardware, the baseline on the bits)
    /// agree with the bit-level reference on every 16-bit pattern, and on floats around every
    /// rounding boundary (ties, overflow, subnormals, NaN).
    @Test func conversionsOfEveryInstructionSetMatchTheReference() {
        let patterns = (0...UInt16.max).map { $0 }
        var floats: [Float] = [0, -0, .infinity, -.infinity, .nan, 65504, 65520, 65519.99, 1e-8, 6e-8, 3e-8, 0x1p-25, 3.3961e38]
        var random = SeededGenerator(seed: 5)
        for _ in 0..<20_000 { floats.append(Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &random))) }
        for pattern in patterns.prefix(4096) { floats.append(Float(bitPattern: UInt32(pattern) << 13 | 0x1000)) }  // f16 ties
        for set in InstructionSet.allCases where set <= InstructionSet.supported {
            KernelSettings.lock.withLock {
                NativeLoops.withInstructionSet(set) {
                    let halves = patterns.map { Float16(bitPattern: $0) }, brains = patterns.map { BFloat16(bitPattern: $0) }
                    let wide16 = NativeLoops.floats(halves), wideB = NativeLoops.floats(brains)
                    // F16C quiets signaling NaNs: NaN in, NaN out; every other value exactly.
                    #expect(zip(patterns, wide16).allSatisfy { bits, wide in
                        let expected = HalfPrecisionBits.float(fromFloat16: bits)
                        return expected.isNaN ? wide.isNaN : expected.bitPattern == wide.bitPattern
                    }, "\(set): f16 → f32")
                    #expect(zip(patterns, wideB).allSatisfy { HalfPrecisionBits.float(fromBFloat16: $0).bitPattern == $1.bitPattern },
                            "\(set): bf16 → f32")
                    let narrow16: [Float16] = NativeLoops.halves(floats), narrowB: [BFloat16] = NativeLoops.halves(floats)
                    #expect(zip(floats, narrow16).allSatisfy { value, half in
                        let expected = HalfPrecisionBits.float16(from: value)
                        return value.isNaN ? half.isNaN : half.bitPattern == expected
                    }, "\(set): f32 → f16")
                    #expect(zip(floats, narrowB).allSatisfy { value, half in
                        value.isNaN ? half.isNaN : half.bitPattern == HalfPrecisionBits.bfloat16(from: value)
                    }, "\(set): f32 → bf16")
                }
            }
        }
    }

    /// The loops' own conversions (storage_access.h: F16C, or integer lanes in the baseline) on
    /// every 16-bit pattern, and on floats around every rounding boundary, through a loop that
    /// computes y = (x − 0)·a + 0: every pattern comes back as itself with a = 1, and 1 scaled by
    /// any float rounds as the reference rounds it.
    @Test func kernelLoopsConvertLikeTheReference() {
        let patterns = (0...UInt16.max).map { $0 }
        var floats: [Float] = [.infinity, -.infinity, .nan, 65504, 65520, 65519.99, -65520, 1e-8, 6e-8, 3e-8, 0x1p-25, 0x1p-24, 3.3961e38]
        var random = SeededGenerator(seed: 6)
        for _ in 0..<20_000 { floats.append(Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &random))) }
        for pattern in patterns.prefix(4096) { floats.append(Float(bitPattern: UInt32(pattern) << 13 | 0x1000)) }  // f16 ties
        floats = floats.filter { $0 != 0 }  // 1·(±0) + 0 is +0 either way
        func through<Half: HalfPrecisionScalar>(_ values: [Half], scale: Float) -> [Half] {
            var output = values
            values.withUnsafeBufferPointer { x in
                output.withUnsafeMutableBufferPointer { y in
                    NativeLoops.affineRange(x.baseAddress!, y.baseAddress!, runs: 1, length: values.count, stride: values.count,
                                            hi: 0, a: scale, b: 0, stream: false, next: nil)
                }
            }
            return output
        }
        func scaled<Half: HalfPrecisionScalar>(_: Half.Type) -> [Half] {
            floats.flatMap { value in through([Half](repeating: 1, count: 17), scale: value) }
        }
        for set in InstructionSet.allCases where set <= InstructionSet.supported {
            KernelSettings.lock.withLock {
                NativeLoops.withInstructionSet(set) {
                    let halves = through(patterns.map { Float16(bitPattern: $0) }, scale: 1)
                    let brains = through(patterns.map { BFloat16(bitPattern: $0) }, scale: 1)
                    // −0 − 0 + 0 is +0; NaNs come back NaN (quieted).
                    #expect(zip(patterns, halves).allSatisfy { bits, half in
                        Float16(bitPattern: bits).isNaN ? half.isNaN : half.bitPattern == (bits == 0x8000 ? 0 : bits)
                    }, "\(set): f16 loop round trip")
                    #expect(zip(patterns, brains).allSatisfy { bits, half in
                        BFloat16(bitPattern: bits).isNaN ? half.isNaN : half.bitPattern == (bits == 0x8000 ? 0 : bits)
                    }, "\(set): bf16 loop round trip")
                    let rounded16 = scaled(Float16.self), roundedB = scaled(BFloat16.self)
                    for (index, value) in floats.enumerated() {
                        let expected16 = HalfPrecisionBits.float16(from: value), expectedB = HalfPrecisionBits.bfloat16(from: value)
                        let got16 = rounded16[index * 17 ..< index * 17 + 17], gotB = roundedB[index * 17 ..< index * 17 + 17]
                        guard value.isNaN ? got16.allSatisfy(\.isNaN) && gotB.allSatisfy(\.isNaN)
                            : got16.allSatisfy({ $0.bitPattern == expected16 }) && gotB.allSatisfy({ $0.bitPattern == expectedB })
                        else {
                            Issue.record("\(set): \(value) rounds to \(Array(got16)) and \(Array(gotB))")
                            return
                        }
                    }
                }
            }
        }
    }

    /// A `Float` layer on 16-bit input runs the 16-bit loops with its `Float` parameters: exactly
    /// the `Float` layer on the widened input, each output rounded once, with the same running
    /// statistics and parameter gradients, in both memory formats, in train and eval mode.
    @Test func floatLayersOnHalfInputGiveTheFloatResultsRoundedOnce() throws {
        // Bit-for-bit comparisons need the same thread split in both runs (KernelSettings).
        try KernelSettings.lock.withLock {
            try checkMixedPath(BFloat16.self)
            try checkMixedPath(Float16.self)
        }
    }

    func checkMixedPath<Half: HalfPrecisionScalar>(_: Half.Type) throws {
        var random = SeededGenerator(seed: 21)
        func makeLayers() -> [(String, NormalizationLayer<Float>, [Int])] {
            [("bn2d", BatchNorm2d<Float>(numFeatures: 6), [4, 6, 5, 7]), ("bn1d", BatchNorm1d<Float>(numFeatures: 19), [33, 19]),
             ("in2d", InstanceNorm2d<Float>(numFeatures: 6, affine: true, trackRunningStats: true), [2, 6, 9, 5]),
             ("gn", GroupNorm<Float>(numGroups: 3, numChannels: 6), [3, 6, 4, 11]),
             ("ln", LayerNorm<Float>(normalizedShape: [37]), [5, 37]), ("rms", RMSNorm<Float>(normalizedShape: [37], eps: 1e-5), [5, 37])]
        }
        for ((name, mixed, shape), (_, reference, _)) in zip(makeLayers(), makeLayers()) {
            for format in [MemoryFormat.contiguous, .channelsLast] where format == .contiguous || shape.count == 4 {
                for parameter in mixed.namedParameters() {
                    let value = Tensor<Float>.randomNormal(shape: parameter.value.shape, using: &random)
                    try mixed.setParameter(named: parameter.name, to: value)
                    try reference.setParameter(named: parameter.name, to: value)
                }
                let x = Tensor<Float>.randomNormal(shape: shape, mean: 3, std: 2, using: &random).converted(to: Half.self)
                    .withMemoryFormat(format)
                let dy = Tensor<Float>.randomNormal(shape: shape, using: &random).converted(to: Half.self).withMemoryFormat(format)
                for training in [true, false] {
                    mixed.isTraining = training
                    reference.isTraining = training
                    let what = "\(name) \(Half.self) \(format) training=\(training)"
                    let y = try mixed(x), expected = try reference(x.converted(to: Float.self))
                    #expect(y.memoryFormat == x.memoryFormat, "\(what) format")
                    #expect(y.scalars == expected.converted(to: Half.self).scalars, "\(what) output")
                    let dx = try mixed.backward(dy), expectedDx = try reference.backward(dy.converted(to: Float.self))
                    #expect(dx.scalars == expectedDx.converted(to: Half.self).scalars, "\(what) input gradient")
                    #expect(mixed.gradients().mapValues(\.scalars) == reference.gradients().mapValues(\.scalars), "\(what) ∂γ, ∂β")
                    #expect(mixed.runningMean?.scalars == reference.runningMean?.scalars, "\(what) running mean")
                    #expect(mixed.runningVar?.scalars == reference.runningVar?.scalars, "\(what) running var")
                }
            }
        }
    }

    /// RMSNorm's `eps: nil` is the machine epsilon of the input's type, as PyTorch's
    /// `F.rms_norm` takes `torch.finfo(input.dtype).eps`, also for a `Float` layer.
    @Test func rmsNormWithoutEpsUsesTheInputTypesEpsilon() throws {
        KernelSettings.lock.lock()  // two runs compared bit for bit: no test may switch the loops meanwhile
        defer { KernelSettings.lock.unlock() }
        let x = try Tensor<Float16>(shape: [2, 3], scalars: [0.01, -0.02, 0.03, 1, 2, 3])
        let mixed = RMSNorm<Float>(normalizedShape: [3]), explicit = RMSNorm<Float>(normalizedShape: [3], eps: Double(Float16.ulpOfOne))
        #expect(try mixed(x).scalars == explicit(x).scalars)
        #expect(try mixed(x).scalars != RMSNorm<Float>(normalizedShape: [3], eps: Double(Float.ulpOfOne))(x).scalars)
    }

    /// The backward pass takes ∂L/∂y in the type of the last forward input.
    @Test func aBackwardPassInAnotherTypeThanItsForwardPassThrows() throws {
        let bn = BatchNorm1d<Float>(numFeatures: 2)
        _ = try bn(try Tensor<Float16>(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 7]))
        #expect(throws: NormError.invalidArgument(name: "gradOutput", expected: "Tensor<Float16>, the type of the last forward input",
                                                  actual: "Tensor<Float>")) {
            try bn.backward(Tensor<Float>.ones(shape: [3, 2]))
        }
        #expect(throws: NormError.self) { try bn.backward(Tensor<BFloat16>.ones(shape: [3, 2])) }
        #expect(try bn.backward(Tensor<Float16>.ones(shape: [3, 2])).shape == [3, 2])
    }

    /// Tensors convert exactly to Float and round once back.
    @Test func tensorsConvertThroughFloat() throws {
        let x = try Tensor<Float>(shape: [3], scalars: [1.00048828125, 65520, 1e-8])  // 1 + 2⁻¹¹: a tie
        #expect(x.converted(to: Float16.self).scalars.map { $0.bitPattern } == [0x3C00, 0x7C00, 0x0000])
        #expect(x.converted(to: BFloat16.self).converted(to: Float.self).scalars == [1, 65536, Float(BFloat16(Float(1e-8)))])
        #expect(x.converted(to: Double.self).converted(to: Float.self) == x)
        #expect(Tensor<Float16>.zeros(shape: [2]).description.contains("dtype: float16"))
    }
}
#endif
