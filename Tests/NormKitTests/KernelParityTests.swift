import Foundation
import Testing
@testable import NormKit
import NormKitTestSupport

/// The fast kernels (SIMD, blocked statistics, threads, both memory formats) against the plain
/// ``ReferenceKernels`` on seeded cases: odd sizes that leave SIMD tails, channel counts of 1 and
/// 300, runs longer than one 2,048-element block, tensors large enough to be split over threads,
/// inputs with a large mean, an outlier, or a mean that jumps inside a channel; Float and Double;
/// forward, eval and backward with random upstream gradients.
@Suite struct KernelParityTests {
    enum Kind: Sendable, CustomStringConvertible {
        case batch, group(Int), instance, layer, rms

        var description: String {
            switch self {
            case .batch: "batch"
            case let .group(groups): "group\(groups)"
            case .instance: "instance"
            case .layer: "layer"
            case .rms: "rms"
            }
        }
    }

    enum Values: Sendable { case normal, largeMean, outlierFirst, meanJump }

    struct Case: Sendable, CustomTestStringConvertible {
        var kind: Kind
        var shape: [Int]
        var format: MemoryFormat = .contiguous
        var training = true
        var affine = true
        var values: Values = .normal
        var testDescription: String { "\(kind) \(shape) \(format) \(training ? "train" : "eval") affine=\(affine) \(values)" }
    }

    static let cases: [Case] = [
        Case(kind: .batch, shape: [2, 1, 5]),
        Case(kind: .batch, shape: [3, 7, 9, 11]),
        Case(kind: .batch, shape: [3, 7, 9, 11], format: .channelsLast),
        Case(kind: .batch, shape: [2, 3, 2049], affine: false),
        Case(kind: .batch, shape: [5, 300]),
        Case(kind: .batch, shape: [9, 521], values: .outlierFirst),
        Case(kind: .batch, shape: [2, 520, 3, 1], format: .channelsLast),
        Case(kind: .batch, shape: [4, 19, 3, 5], format: .channelsLast, affine: false),
        Case(kind: .batch, shape: [2, 5, 3, 3, 3], format: .channelsLast),
        Case(kind: .batch, shape: [2, 4, 96, 96]),
        Case(kind: .batch, shape: [2, 4, 96, 96], format: .channelsLast),
        Case(kind: .batch, shape: [3, 6, 7, 9], values: .largeMean),
        Case(kind: .batch, shape: [3, 6, 7, 9], format: .channelsLast, values: .largeMean),
        Case(kind: .batch, shape: [2, 3, 2100], values: .outlierFirst),
        Case(kind: .batch, shape: [130, 9], format: .channelsLast, values: .outlierFirst),
        Case(kind: .batch, shape: [2, 3, 2100], values: .meanJump),
        Case(kind: .batch, shape: [50, 3, 7, 7], values: .meanJump),
        Case(kind: .batch, shape: [90, 2, 5, 5], values: .outlierFirst),
        // Rows of 1 to 4 full vectors keep their column sums in registers (C = 16, 32, 48, 64).
        Case(kind: .batch, shape: [3, 32, 5, 7], format: .channelsLast),
        Case(kind: .batch, shape: [70, 48]),
        Case(kind: .batch, shape: [2, 64, 9, 9], format: .channelsLast, values: .largeMean),
        Case(kind: .group(4), shape: [2, 16, 9, 7], format: .channelsLast),
        Case(kind: .batch, shape: [3, 7, 9, 11], training: false),
        Case(kind: .batch, shape: [3, 7, 9, 11], format: .channelsLast, training: false),
        Case(kind: .batch, shape: [6, 33], training: false),
        // Rows of whole vectors short enough for the coefficients to stay in registers.
        Case(kind: .batch, shape: [3, 32, 5, 7], format: .channelsLast, training: false),
        Case(kind: .batch, shape: [2, 64, 9, 9], format: .channelsLast, training: false, values: .largeMean),
        Case(kind: .batch, shape: [9, 16]),
        Case(kind: .group(3), shape: [2, 12, 5, 7]),
        Case(kind: .group(3), shape: [2, 12, 5, 7], format: .channelsLast),
        Case(kind: .group(2), shape: [3, 6, 1]),
        Case(kind: .group(2), shape: [1, 4, 2100], values: .largeMean),
        Case(kind: .group(4), shape: [2, 8, 90, 60], format: .channelsLast),
        Case(kind: .group(1), shape: [2, 5, 3, 3], format: .channelsLast, affine: false, values: .outlierFirst),
        // Channels-last rows of 1 KiB or more, which stream their input gradient (not a multiple
        // of the vector: a peel and a tail per row).
        Case(kind: .group(8), shape: [2, 264, 3, 2], format: .channelsLast),
        Case(kind: .instance, shape: [2, 260, 3, 3], format: .channelsLast, values: .largeMean),
        Case(kind: .instance, shape: [2, 5, 17, 3]),
        Case(kind: .instance, shape: [2, 5, 17, 3], format: .channelsLast, affine: false),
        Case(kind: .instance, shape: [1, 3, 4100], values: .meanJump),
        Case(kind: .instance, shape: [2, 3, 11, 13], format: .channelsLast, values: .largeMean),
        Case(kind: .layer, shape: [5, 33]),
        Case(kind: .layer, shape: [3, 2050], values: .largeMean),
        Case(kind: .layer, shape: [2, 3, 4, 5], format: .channelsLast),
        Case(kind: .layer, shape: [80, 1024], affine: false),
        Case(kind: .layer, shape: [4, 17], values: .outlierFirst),
        Case(kind: .layer, shape: [37, 300]),
        Case(kind: .layer, shape: [9, 263], values: .largeMean),
        Case(kind: .layer, shape: [21, 600]),
        Case(kind: .layer, shape: [24, 1024], values: .largeMean),  // rows on cache lines (AVX-512's own loops past the caches)
        Case(kind: .rms, shape: [5, 33]),
        Case(kind: .rms, shape: [2, 2050], affine: false),
        Case(kind: .rms, shape: [70, 1030]),
        Case(kind: .rms, shape: [23, 517], values: .largeMean),
        Case(kind: .rms, shape: [19, 300]),
        Case(kind: .rms, shape: [12, 768]),
    ]

    @Test(arguments: cases)
    func floatMatchesTheReference(_ testCase: Case) throws {
        try check(testCase, as: Float.self, relative: 1e-4, absolute: 2e-5)
    }

    /// The same cases split over threads: the threshold lowered so that small tensors take the
    /// threaded paths (chunked channels, rows, groups and samples, merged partial sums).
    @Test(arguments: cases)
    func threadedFloatMatchesTheReference(_ testCase: Case) throws {
        try KernelSettings.lock.withLock {
            try Parallelism.withThreadCount(2) {
                try Parallelism.withMinimumParallelElements(64) {
                    try check(testCase, as: Float.self, relative: 1e-4, absolute: 2e-5)
                }
            }
        }
    }

    /// The same cases with every run of 2,048 elements or more stored past the caches, and each
    /// statistic group's successor prefetched while its output is written, as tensors larger
    /// than the last-level cache are; on one thread and split over two, where rows of 4 KiB or
    /// more (LayerNorm [3, 2050], RMSNorm [70, 1030]), and rows of 2 KiB or more (Float
    /// LayerNorm [21, 600] and RMSNorm [23, 517], Double [37, 300] and [9, 263], which fetch rows
    /// a page ahead), and, split over two threads, forward rows of 1 KiB or more (Float [37, 300],
    /// [9, 263], RMSNorm [19, 300]), hand their last, unaligned elements to the next row of their
    /// chunk (``RowTail``). The backward passes take
    /// the paths of calls past the caches too: those rows' input gradients streamed in the loops
    /// for calls past them, BatchNorm's wide rows ([5, 300], [9, 521], [2, 520, 3, 1]) likewise
    /// (``Kernels/columnInputGradientBeyondCache(columns:stream:_:)``), and NCHW channels' runs
    /// last first.
    @Test(arguments: cases)
    func streamedOutputsMatchTheReference(_ testCase: Case) throws {
        try KernelSettings.lock.withLock {
            try NativeLoops.withStreamingThreshold(0) {
                try check(testCase, as: Float.self, relative: 1e-4, absolute: 2e-5)
                try check(testCase, as: Double.self, relative: 1e-10, absolute: testCase.values == .largeMean ? 1e-9 : 1e-12)
                try Parallelism.withThreadCount(2) {
                    try Parallelism.withMinimumParallelElements(64) {
                        try check(testCase, as: Float.self, relative: 1e-4, absolute: 2e-5)
                    }
                }
            }
        }
    }

    /// The channels-last GroupNorm and InstanceNorm cases with a level-2 cache assumed of 512 B
    /// to 64 KiB, so that each sample (1–170 KiB) outgrows it and is normalized, and its input
    /// gradient written, last rows first in blocks of one row or more
    /// (``NativeLoops/revisitsLastRowsFirst(bytes:)``); on one thread and split over two.
    @Test(arguments: cases.filter { testCase in
        if case .batch = testCase.kind { false } else { testCase.format == .channelsLast && testCase.shape.count > 3 }
    })
    func samplesRevisitedLastRowsFirstMatchTheReference(_ testCase: Case) throws {
        try KernelSettings.lock.withLock {
            for levelTwo in [512, 2048, 8192, 65536] {
                try NativeLoops.withLevelTwoCacheBytes(levelTwo) {
                    try check(testCase, as: Float.self, relative: 1e-4, absolute: 2e-5)
                    try check(testCase, as: Double.self, relative: 1e-10, absolute: testCase.values == .largeMean ? 1e-9 : 1e-12)
                    try Parallelism.withThreadCount(2) {
                        try Parallelism.withMinimumParallelElements(64) {
                            try check(testCase, as: Float.self, relative: 1e-4, absolute: 2e-5)
                        }
                    }
                }
            }
        }
    }

    /// Blocks of a quarter of the level-2 cache, last first, cover every row once; in order, one
    /// block. Samples revisit last rows first only between one and five times that cache.
    @Test func rowBlocksRunLastFirstAndCoverEveryRow() {
        KernelSettings.lock.withLock {
            NativeLoops.withLevelTwoCacheBytes(4 * 3 * 64) {
                var blocks: [[Int]] = []
                Kernels.forEachRowBlock(rows: 10, rowBytes: 64, lastFirst: true) { blocks.append([$0, $1]) }
                #expect(blocks == [[7, 3], [4, 3], [1, 3], [0, 1]])
                blocks = []
                Kernels.forEachRowBlock(rows: 10, rowBytes: 64, lastFirst: false) { blocks.append([$0, $1]) }
                #expect(blocks == [[0, 10]])
                #expect(NativeLoops.revisitsLastRowsFirst(bytes: 768) == false)
                #expect(NativeLoops.revisitsLastRowsFirst(bytes: 769) == true)
                #expect(NativeLoops.revisitsLastRowsFirst(bytes: 5 * 768) == true)
                #expect(NativeLoops.revisitsLastRowsFirst(bytes: 5 * 768 + 1) == false)
            }
        }
    }

    /// The same cases in the loops of every instruction set below the best one (the other tests
    /// run the best): on an AVX-512 machine the AVX2 and baseline loops, in Float and Double.
    /// The switch is process-wide, so these tests take turns (``KernelSettings``); tests running
    /// meanwhile get another valid set.
    @Test(arguments: cases)
    func everyInstructionSetMatchesTheReference(_ testCase: Case) throws {
        for set in InstructionSet.allCases where set < InstructionSet.supported {
            try KernelSettings.lock.withLock {
                try NativeLoops.withInstructionSet(set) {
                    #expect(InstructionSet.active == set)
                    try check(testCase, as: Float.self, relative: 1e-4, absolute: 2e-5)
                    try check(testCase, as: Double.self, relative: 1e-10, absolute: testCase.values == .largeMean ? 1e-9 : 1e-12)
                }
            }
        }
    }

    /// Rows of 16-bit elements from 2 KiB stream on Intel CPUs only (shorter ones nowhere, a page
    /// and more everywhere), and `cpuIsIntel` is what the kernel reports (`/proc/cpuinfo`).
    @Test func shortHalfPrecisionRowsStreamOnIntelCPUs() throws {
        if let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            #expect(NativeLoops.cpuIsIntel == cpuinfo.contains("GenuineIntel"))
        }
        #expect(Kernels.streamsRowOutput(true, rowBytes: 2048, elementBytes: 2) == NativeLoops.cpuIsIntel)
        #expect(Kernels.streamsRowOutput(true, rowBytes: 2048, elementBytes: 2, parallelForward: true) == NativeLoops.cpuIsIntel)
        #expect(!Kernels.streamsRowOutput(true, rowBytes: 1536, elementBytes: 2, parallelForward: true))
        #expect(Kernels.streamsRowOutput(true, rowBytes: 4096, elementBytes: 2))
        #expect(!Kernels.streamsRowOutput(false, rowBytes: 4096, elementBytes: 2))
        #expect(Kernels.streamsRowOutput(true, rowBytes: 1536, elementBytes: 4, parallelForward: true))
        #expect(!Kernels.streamsRowOutput(true, rowBytes: 1536, elementBytes: 4))
    }

    /// Outputs stream past the caches from the size of the cache this core can fill: on Linux
    /// the highest level under cpu0 in sysfs (glibc's sysconf reports a whole AMD package's L3,
    /// 384 MiB on a 32 MiB virtual machine, and nothing ever streamed), at most 32 MiB (a VM on
    /// an Intel server reports the socket's 260 MiB).
    #if os(Linux)
    @Test func theStreamingThresholdIsThisCoresLastLevelCacheUpTo32MiB() throws {
        var expected = 0, level = 0
        for index in 0..<16 {
            let directory = "/sys/devices/system/cpu/cpu0/cache/index\(index)/"
            guard let levelText = try? String(contentsOfFile: directory + "level", encoding: .utf8),
                  let sizeText = try? String(contentsOfFile: directory + "size", encoding: .utf8) else { continue }
            let size = sizeText.trimmingCharacters(in: .whitespacesAndNewlines)
            let unit = size.hasSuffix("K") ? 1 << 10 : size.hasSuffix("M") ? 1 << 20 : 1
            guard let here = Int(levelText.trimmingCharacters(in: .whitespacesAndNewlines)), here > level,
                  let count = Int(size.trimmingCharacters(in: .letters)) else { continue }
            (level, expected) = (here, count * unit)
        }
        try #require(expected > 0, "no cache sizes in sysfs here")
        #expect(NativeLoops.lastLevelCacheBytes == expected)
        #expect(NativeLoops.streamingCacheBytes == min(expected, 32 << 20))
        KernelSettings.lock.withLock { #expect(NativeLoops.streamingThreshold == min(expected, 32 << 20)) }
    }
    #endif

    @Test func selectingASetAboveTheSupportedOneGivesTheSupportedOne() {
        KernelSettings.lock.withLock {
            NativeLoops.withInstructionSet(.avx512) { #expect(InstructionSet.active == InstructionSet.supported) }
            NativeLoops.withInstructionSet(.baseline) { #expect(InstructionSet.active == .baseline) }
        }
    }

    @Test(arguments: cases)
    func doubleMatchesTheReference(_ testCase: Case) throws {
        // A mean of 1e4 with a standard deviation of 0.1 has condition number 1e5: the rounding
        // of μ alone (1e4 · 1.1e-16) moves x̂ by 1e-11, so those cases get a wider absolute bound.
        let absolute = testCase.values == .largeMean ? 1e-9 : 1e-12
        try check(testCase, as: Double.self, relative: 1e-10, absolute: absolute)
    }

    /// Runs the case through ``Functional`` and through ``ReferenceKernels`` on the same values
    /// (rounded to `Scalar`), and compares output, input gradient and parameter gradients.
    func check<Scalar: NormScalar>(_ c: Case, as _: Scalar.Type, relative: Double, absolute: Double) throws {
        var random = SeededGenerator(seed: UInt64(c.shape.reduce(7, { $0 &* 31 &+ $1 })))
        let count = c.shape.reduce(1, *)
        var values = (0..<count).map { _ in random.normal() }
        switch c.values {
        case .normal: break
        case .largeMean: values = values.map { 1e4 + 0.1 * $0 }
        case .outlierFirst: values[0] = 1e4
        case .meanJump: for i in count / 2..<count { values[i] += 1e3 }
        }
        let x = try Tensor<Scalar>(shape: c.shape, scalars: values.map { Scalar($0) }).withMemoryFormat(c.format)
        let dy = Tensor<Scalar>.randomNormal(shape: c.shape, using: &random).withMemoryFormat(c.format)
        let channels = parameterShape(c)
        let weight: Tensor<Scalar>? = c.affine ? .randomNormal(shape: channels, using: &random) : nil
        let bias: Tensor<Scalar>? = c.affine && !isRMS(c) ? .randomNormal(shape: channels, using: &random) : nil
        let runningMean = Tensor<Scalar>.randomNormal(shape: [c.shape[1]], using: &random)
        let runningVar = Tensor<Scalar>.randomNormal(shape: [c.shape[1]], mean: 2, std: 0.3, using: &random)

        let (result, gradients) = try run(c, x: x, dy: dy, weight: weight, bias: bias, runningMean: runningMean,
                                          runningVar: runningVar)

        // The reference, in Double, on row-major copies of the same values.
        var geometry = result.saved.geometry
        geometry.layout = .channelsFirst
        let xs = x.scalars.map { Double($0) }, dys = dy.scalars.map { Double($0) }
        let eps = isRMS(c) ? 1e-6 : 1e-5
        let mean: [Double], invstd: [Double]
        if c.training || !isBatch(c) {
            let moments = ReferenceKernels.moments(xs, geometry: geometry, centered: !isRMS(c))
            mean = moments.mean
            invstd = moments.m2.map { 1 / ($0 / Double(moments.count) + eps).squareRoot() }
        } else {
            mean = runningMean.scalars.map { Double($0) }
            invstd = runningVar.scalars.map { 1 / (Double($0) + eps).squareRoot() }
        }
        let w = weight?.scalars.map { Double($0) }, b = bias?.scalars.map { Double($0) }
        let expectedOutput = ReferenceKernels.normalize(xs, geometry: geometry, mean: mean, invstd: invstd, weight: w, bias: b)
        let mode: GradientMode = c.training || !isBatch(c) ? .batch(centered: !isRMS(c)) : .constant
        let expected = ReferenceKernels.backward(xs, dys, geometry: geometry, mean: mean, invstd: invstd, weight: w, mode: mode)

        func compare(_ actual: [Scalar]?, _ reference: [Double], _ what: String) {
            guard let actual else { Issue.record("\(c.testDescription): no \(what)"); return }
            let scale = reference.map(abs).max() ?? 1
            assertClose(actual, reference, Tolerance(absolute: absolute * max(scale, 1), relative: relative),
                        "\(c.testDescription) \(Scalar.self) \(what)")
        }
        compare(result.output.scalars, expectedOutput, "output")
        compare(gradients.input.scalars, expected.input, "input gradient")
        if c.affine {
            compare(gradients.weight?.scalars, expected.sumDyXhat, "weight gradient")
            if !isRMS(c) { compare(gradients.bias?.scalars, expected.sumDy, "bias gradient") }
        }
    }

    /// The case's forward pass through ``Functional``, and its backward pass with `dy`.
    func run<Scalar: NormScalar>(
        _ c: Case, x: Tensor<Scalar>, dy: Tensor<Scalar>, weight: Tensor<Scalar>?, bias: Tensor<Scalar>?,
        runningMean: Tensor<Scalar>, runningVar: Tensor<Scalar>
    ) throws -> (NormalizationResult<Scalar>, NormalizationGradients<Scalar>) {
        let channels = parameterShape(c)
        let result: NormalizationResult<Scalar>
        switch c.kind {
        case .batch:
            let r = try Functional.batchNorm(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                                             training: c.training)
            result = NormalizationResult(output: r.output, saved: r.saved)
        case let .group(groups):
            result = try Functional.groupNorm(x, numGroups: groups, weight: weight, bias: bias)
        case .instance:
            let r = try Functional.instanceNorm(x, weight: weight, bias: bias)
            result = NormalizationResult(output: r.output, saved: r.saved)
        case .layer:
            result = try Functional.layerNorm(x, normalizedShape: channels, weight: weight, bias: bias)
        case .rms:
            result = try Functional.rmsNorm(x, normalizedShape: channels, weight: weight, eps: 1e-6)
        }
        #expect(result.output.memoryFormat == x.memoryFormat || x.rank < 3, "output keeps the input's memory format")
        let gradients = try Functional.normalizationBackward(gradOutput: dy, input: x, saved: result.saved, weight: weight)
        #expect(gradients.input.memoryFormat == x.memoryFormat || x.rank < 3, "input gradient keeps the memory format")
        return (result, gradients)
    }

    /// The 16-bit loops read and write 16-bit values but compute in `Float`, in the same lanes
    /// and blocks as the `Float` loops: on the same (widened) values they must give exactly the
    /// `Float` loops' results rounded once, in every instruction set (the baseline converts on
    /// the bits, AVX2 and AVX-512 with F16C), in both memory formats, with and without streamed
    /// stores.
    @Test(arguments: cases)
    func halfPrecisionLoopsGiveTheFloatLoopsResultsRoundedOnce(_ testCase: Case) throws {
        try KernelSettings.inEveryInstructionSet {
            for threshold in [NativeLoops.streamingThreshold, 0] {
                try NativeLoops.withStreamingThreshold(threshold) {
                    try checkHalfPrecision(testCase, as: BFloat16.self)
                    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
                    if #available(macOS 11.0, *) { try checkHalfPrecision(testCase, as: Float16.self) }
                    #endif
                }
            }
        }
    }

    func checkHalfPrecision<Half: HalfPrecisionScalar>(_ c: Case, as _: Half.Type) throws {
        var random = SeededGenerator(seed: UInt64(c.shape.reduce(11, { $0 &* 31 &+ $1 })))
        func random16(_ shape: [Int], mean: Float = 0, std: Float = 1) -> Tensor<Half> {
            Tensor(uncheckedShape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in Half(mean + std * Float(random.normal())) })
        }
        let x = random16(c.shape, mean: c.values == .largeMean ? 1000 : 0).withMemoryFormat(c.format)
        let dy = random16(c.shape).withMemoryFormat(c.format)
        let channels = parameterShape(c)
        let weight = c.affine ? random16(channels) : nil
        let bias = c.affine && !isRMS(c) ? random16(channels) : nil
        let runningMean = random16([c.shape[1]]), runningVar = random16([c.shape[1]], mean: 2, std: 0.3)

        let (half, halfGradients) = try run(c, x: x, dy: dy, weight: weight, bias: bias, runningMean: runningMean,
                                            runningVar: runningVar)
        let (float, floatGradients) = try run(
            c, x: x.converted(to: Float.self), dy: dy.converted(to: Float.self), weight: weight?.converted(to: Float.self),
            bias: bias?.converted(to: Float.self), runningMean: runningMean.converted(to: Float.self),
            runningVar: runningVar.converted(to: Float.self))
        let what = "\(c.testDescription) \(Half.self) \(InstructionSet.active)"
        #expect(half.output.memoryFormat == float.output.memoryFormat)
        func mismatches(_ actual: [Half], _ float: [Float]) -> String? {
            guard actual.count == float.count else { return "\(actual.count) elements instead of \(float.count)" }
            let rounded: [Half] = float.map { Half($0) }
            guard let i = actual.indices.first(where: { actual[$0] != rounded[$0] }) else { return nil }
            return "element \(i) of \(actual.count): \(actual[i]) instead of \(rounded[i]) (from \(float[i]))"
        }
        #expect(mismatches(half.output.scalars, float.output.scalars) == nil, "\(what) output")
        #expect(mismatches(halfGradients.input.scalars, floatGradients.input.scalars) == nil, "\(what) input gradient")
        #expect(half.saved.mean == float.saved.mean, "\(what) mean")
        #expect(half.saved.invstd == float.saved.invstd, "\(what) invstd")
        // Parameter gradients are Double sums rounded to each type: the 16-bit ones within one
        // rounding of the Float ones.
        for (h, f) in [(halfGradients.weight, floatGradients.weight), (halfGradients.bias, floatGradients.bias)] {
            guard let h, let f else { #expect((h == nil) == (f == nil)); continue }
            assertClose(h.scalars.map { Double($0) }, f.scalars.map { Double($0) },
                        Tolerance(absolute: 1e-6, relative: Double(Half.ulpOfOne)), "\(what) parameter gradient")
        }
    }

    func isRMS(_ c: Case) -> Bool { if case .rms = c.kind { true } else { false } }
    func isBatch(_ c: Case) -> Bool { if case .batch = c.kind { true } else { false } }

    /// The affine parameters' shape: the channel count, or the normalized (last) dimensions.
    func parameterShape(_ c: Case) -> [Int] {
        switch c.kind {
        case .layer where c.shape.count == 4: Array(c.shape.suffix(2))
        case .layer, .rms: [c.shape.last!]
        default: [c.shape[1]]
        }
    }

    @Test func threadCountDoesNotChangeResultsBeyondRounding() throws {
        try KernelSettings.lock.withLock { try compareThreadCounts() }
    }

    func compareThreadCounts() throws {
        var random = SeededGenerator(seed: 3)
        let x = Tensor<Double>.randomNormal(shape: [2, 4, 96, 96], using: &random).withMemoryFormat(.channelsLast)
        let normalize = { try Functional.batchNorm(x, runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: true) }
        #expect(Parallelism.withThreadCount(2) { Parallelism.withMinimumParallelElements(64) {
            Parallelism.chunkCount(taskCount: x.shape[0] * 96 * 96, elements: x.count) } } == 2, "the split is real")
        let one = try Parallelism.withThreadCount(1) { try normalize() }
        let two = try Parallelism.withThreadCount(2) { try Parallelism.withMinimumParallelElements(64) { try normalize() } }
        assertClose(one.output.scalars, two.output.scalars, Tolerance(absolute: 1e-13, relative: 1e-12), "1 vs 2 threads")
    }

    @Test func inPlaceInferenceMatchesTheFunctionalForm() throws {
        var random = SeededGenerator(seed: 4)
        for format in MemoryFormat.allCases {
            var x = Tensor<Float>.randomNormal(shape: [3, 5, 4, 7], using: &random).withMemoryFormat(format)
            let mean = Tensor<Float>.randomNormal(shape: [5], using: &random)
            let variance = Tensor<Float>.randomNormal(shape: [5], mean: 2, std: 0.2, using: &random)
            let weight = Tensor<Float>.randomNormal(shape: [5], using: &random), bias = Tensor<Float>.randomNormal(shape: [5], using: &random)
            let expected = try Functional.batchNorm(x, runningMean: mean, runningVar: variance, weight: weight, bias: bias, training: false)
            try Functional.batchNormInference(&x, runningMean: mean, runningVar: variance, weight: weight, bias: bias)
            #expect(x.memoryFormat == format)
            assertClose(x.scalars, expected.output.scalars, .forType(Float.self), "\(format)")
        }
    }
}

/// The blocked statistics alone, on data built to defeat a bad shift.
@Suite struct BlockedStatisticsTests {
    /// The block's first element is an outlier far from every other value: summing deviations
    /// from it in Float would cancel catastrophically; the kernel must move its shift.
    @Test func aFirstElementOutlierDoesNotCostDigits() {
        var random = SeededGenerator(seed: 9)
        let values: [Float] = [3e4] + (0..<2047).map { _ in Float(random.normal()) }
        var moments = GroupMoments()
        values.withUnsafeBufferPointer { Kernels.accumulateRange($0.baseAddress!, values.count, into: &moments) }
        let reference = ReferenceKernels.moments(values.map(Double.init), geometry: NormalizationGeometry(
            outer: 1, channels: 1, inner: values.count, grouping: .perChannel), centered: true)
        assertClose([moments.mean], reference.mean, Tolerance(absolute: 0, relative: 1e-6), "mean")
        assertClose([moments.m2], reference.m2, Tolerance(absolute: 0, relative: 1e-6), "M2")
    }

    /// Chan's merge across blocks and across a jump of the mean keeps the variance exact.
    @Test func blocksMergeAcrossAMeanJump() {
        var random = SeededGenerator(seed: 10)
        let values: [Float] = (0..<5000).map { i in Float((i < 2500 ? 0 : 1e4) + 0.01 * random.normal()) }
        var moments = GroupMoments()
        values.withUnsafeBufferPointer { Kernels.accumulateRange($0.baseAddress!, values.count, into: &moments) }
        let reference = ReferenceKernels.moments(values.map(Double.init), geometry: NormalizationGeometry(
            outer: 1, channels: 1, inner: values.count, grouping: .perChannel), centered: true)
        // The block that straddles the jump sums deviations of ±5e3 in Float lanes: its mean is
        // good to Float precision of that spread, 1e-8 of σ, which is what a normalization sees.
        let std = (reference.m2[0] / Double(values.count)).squareRoot()
        assertClose([moments.mean], reference.mean, Tolerance(absolute: 1e-7 * std, relative: 0), "mean")
        assertClose([moments.m2], reference.m2, Tolerance(absolute: 0, relative: 1e-6), "M2")
    }
}

extension BlockedStatisticsTests {
    /// One statistic a column (BatchNorm's rows, channels-last InstanceNorm's samples), summed
    /// in C: a first-row outlier, a mean that jumps inside the second block, a large mean and a
    /// constant column, over blocks of 128 rows and a tail, 21 columns (a vector tail), on every
    /// instruction set; against Double sums of the same Float values.
    @Test func columnsKeepTheirDigitsOnEveryInstructionSet() {
        let rows = 300, columns = 21
        var random = SeededGenerator(seed: 11)
        var values = [Float](repeating: 0, count: rows * columns)
        for r in 0..<rows {
            for c in 0..<columns {
                let noise = Float(random.normal())
                values[r * columns + c] = switch c % 4 {
                case 0: r == 0 ? 3e4 : noise
                case 1: (r < 200 ? 0 : 1e4) + 0.01 * noise
                case 2: 1e4 + 0.1 * noise
                default: c == 3 ? 7 : noise
                }
            }
        }
        let geometry = NormalizationGeometry(outer: 1, channels: columns, inner: rows, grouping: .perChannel)
        let transposed = (0..<rows * columns).map { i in Double(values[(i % rows) * columns + i / rows]) }
        let reference = ReferenceKernels.moments(transposed, geometry: geometry, centered: true)
        for set in InstructionSet.allCases where set <= InstructionSet.supported {
            KernelSettings.lock.withLock {
                NativeLoops.withInstructionSet(set) {
                    var mean = [Double](repeating: 0, count: columns), m2 = mean
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 3 * columns)
                    defer { scratch.deallocate() }
                    values.withUnsafeBufferPointer { x in
                        NativeLoops.columnMoments(x.baseAddress!, rows: rows, columns: columns, scratch: scratch,
                                                  mean: &mean, m2: &m2)
                    }
                    for c in 0..<columns {
                        let std = (reference.m2[c] / Double(rows)).squareRoot()
                        assertClose([mean[c]], [reference.mean[c]], Tolerance(absolute: 1e-7 * std, relative: 1e-7),
                                    "\(set) mean of column \(c)")
                        assertClose([m2[c]], [reference.m2[c]], Tolerance(absolute: 0, relative: 1e-6),
                                    "\(set) M2 of column \(c)")
                    }
                }
            }
        }
    }
}

/// Values whose squares overflow: the variance is infinite, and the output 0 as in PyTorch.
@Suite struct OverflowingValuesTests {
    @Test func hugeAlternatingValuesNormalizeToZero() throws {
        for format in [MemoryFormat.contiguous, .channelsLast] {
            let x = try Tensor<Double>(shape: [4, 1, 1], scalars: [1e160, -1e160, 1e160, -1e160]).withMemoryFormat(format)
            let y = try BatchNorm1d<Double>(numFeatures: 1)(x)
            #expect(y.scalars == [0, 0, 0, 0], "\(format): \(y.scalars)")
        }
        let rows = try Tensor<Double>(shape: [4, 1], scalars: [1e160, -1e160, 1e160, -1e160])
        #expect(try BatchNorm1d<Double>(numFeatures: 1)(rows).scalars == [0, 0, 0, 0])
    }
}
