import Foundation
import Testing
@testable import NormKit
import NormKitTestSupport

/// `input_gradient_row_then_sums`, the backward sweep that writes one row's input gradient while
/// it sums the next row, against the two loops it fuses (`input_gradient_row` of the row, then
/// `row_gradient_sums` of the next): the same input gradient, the same sums and the same column
/// sums, to the bit. Every element type and instruction set, streamed or not, with and without
/// a weight, at lengths that leave SIMD tails and an output that starts off the vector alignment.
/// (The layers fuse only some rows, ``Kernels/fusesRowBackward(_:rowBytes:_:)``; this covers the
/// loop for every type the table holds.)
@Suite struct RowBackwardFusionTests {
    @Test(arguments: [1, 15, 16, 17, 33, 1029, 2048])
    func theFusedSweepGivesTheTwoLoopsResults(_ length: Int) throws {
        try KernelSettings.inEveryInstructionSet {
            for type in KernelSettings.loopTypes { try check(type, length: length) }
        }
    }

    /// Every instruction set's row sums gather in the same eight lanes (`NK_ROW_ACCUMULATE` in
    /// kernels_body.h), so the loops a call runs (its own set's, or `beyond_cache`) never
    /// change a result: the sums and column sums of one row, the same to the bit in AVX2 and
    /// AVX-512 (the baseline has no fused multiply-add, and rounds its products apart).
    @Test(arguments: [1, 7, 8, 9, 15, 16, 17, 24, 31, 1029])
    func everySetGivesARowTheSameSums(_ length: Int) throws {
        for type in KernelSettings.loopTypes { try sameSumsInEverySet(type, length: length) }
    }

    func sameSumsInEverySet<S: NormScalar>(_: S.Type, length n: Int) throws {
        var random = SeededGenerator(seed: UInt64(n) &* 131)
        let x = (0..<n).map { _ in S(20 + random.normal()) }, dy = (0..<n).map { _ in S(random.normal()) }
        let weight: [S.ComputeScalar] = (0..<n).map { _ in S.ComputeScalar(0.5 + Double.random(in: 0..<1, using: &random)) }
        var results: [(set: String, sums: (Double, Double), columns: [S.ComputeScalar])] = []
        KernelSettings.inEveryInstructionSet {
            guard InstructionSet.active != .baseline else { return }
            for beyondCache in [false, true] {
                var columns = [S.ComputeScalar](repeating: 0.25, count: 2 * n)
                let sums = x.withUnsafeBufferPointer { x in
                    dy.withUnsafeBufferPointer { dy in
                        weight.withUnsafeBufferPointer { w in
                            columns.withUnsafeMutableBufferPointer { columns in
                                NativeLoops.rowGradientSums(x.baseAddress!, dy.baseAddress!, n, hi: 20, lo: 0.001, invstd: 1.5,
                                                            weight: w.baseAddress!, sumDy: columns.baseAddress!,
                                                            sumDyXhat: columns.baseAddress! + n, beyondCache: beyondCache)
                            }
                        }
                    }
                }
                results.append(("\(InstructionSet.active) beyondCache=\(beyondCache)", sums, columns))
            }
        }
        guard let first = results.first else { return }  // no AVX2 here
        for result in results.dropFirst() {
            #expect(result.sums.0.bitPattern == first.sums.0.bitPattern && result.sums.1.bitPattern == first.sums.1.bitPattern,
                    "\(S.self) n=\(n): \(result.set) \(result.sums) against \(first.set) \(first.sums)")
            #expect(firstBitDifference(result.columns, first.columns) == nil, "\(S.self) n=\(n) column sums: \(result.set)")
        }
    }

    /// Past the caches, rows that start on cache lines, with every row after them, run the active
    /// set's own loops; the others AVX2's (`beyond_cache`).
    @Test func rowsOnCacheLinesAreTold() {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 64)
        defer { buffer.deallocate() }
        #expect(NativeLoops.onCacheLines(rowBytes: 4096, buffer, buffer + 128))
        #expect(NativeLoops.onCacheLines(rowBytes: 0, buffer))
        #expect(!NativeLoops.onCacheLines(rowBytes: 4000, buffer))
        #expect(!NativeLoops.onCacheLines(rowBytes: 4096, buffer, buffer + 32))
    }

    /// Past the caches, LayerNorm's and RMSNorm's backward rows of 1 KiB or more fetch the next
    /// row while they sum one; shorter rows, rows of groups over the prefetch limit, and calls in
    /// cache do not.
    @Test func backwardRowsFetchFrom1KiB() {
        let minimum = Kernels.minimumFetchedBackwardRowBytes
        #expect(minimum == 1024)
        #expect(Kernels.prefetchesNextGroup(true, groupBytes: 1024, inputs: 2, minimum: minimum))
        #expect(!Kernels.prefetchesNextGroup(true, groupBytes: 1023, inputs: 2, minimum: minimum))
        #expect(!Kernels.prefetchesNextGroup(false, groupBytes: 4096, inputs: 2, minimum: minimum))
        #expect(!Kernels.prefetchesNextGroup(true, groupBytes: Kernels.maximumPrefetchedGroupBytes, inputs: 2, minimum: minimum))
        #expect(!Kernels.prefetchesNextGroup(true, groupBytes: 1024, inputs: 2))  // other groups: from 4 KiB
    }

    /// A streamed row stores whole cache lines only (`NK_LINE_PEEL` and `NK_WHOLE_LINES` in
    /// kernels_body.h): from every output offset within a line, streamed and fused or not, the
    /// input gradient is the unstreamed loop's, to the bit, and nothing outside the row is written.
    @Test(arguments: [17, 64, 1029])
    func streamedRowsWriteEveryElementOnceFromAnyOffset(_ length: Int) throws {
        try KernelSettings.inEveryInstructionSet {
            for type in KernelSettings.loopTypes { try checkOffsets(type, length: length) }
        }
    }

    func checkOffsets<S: NormScalar>(_: S.Type, length n: Int) throws {
        var random = SeededGenerator(seed: UInt64(n) &* 31)
        let x = (0..<2 * n).map { _ in S(3 + random.normal()) }, dy = (0..<2 * n).map { _ in S(random.normal()) }
        let weight: [S.ComputeScalar] = (0..<n).map { _ in S.ComputeScalar(0.5 + Double.random(in: 0..<1, using: &random)) }
        let k = GradientCoefficients<S.ComputeScalar>(k1: 0.625, k2: -0.0078125, k3: 0.0625)
        let lineElements = 64 / MemoryLayout<S>.stride, sentinel = S(-7)
        func gradient(offset: Int, stream: Bool, fused: Bool, beyondCache: Bool = false) -> [S] {
            var out = [S](repeating: sentinel, count: n + 2 * lineElements)
            var columns = [S.ComputeScalar](repeating: 0, count: 2 * n)
            x.withUnsafeBufferPointer { x in
                dy.withUnsafeBufferPointer { dy in
                    weight.withUnsafeBufferPointer { w in
                        out.withUnsafeMutableBufferPointer { dx in
                            columns.withUnsafeMutableBufferPointer { columns in
                                let (x, dy, dx) = (x.baseAddress!, dy.baseAddress!, dx.baseAddress! + offset)
                                if fused {
                                    _ = NativeLoops.inputGradientRowThenSums(
                                        x, dy, dx, n, hi: 3, k, weight: w.baseAddress!, stream: stream, beyondCache: beyondCache,
                                        next: NextRowSums(x: x + n, dy: dy + n, row: RowAffine(mean: SplitMean(3), invstd: 1),
                                                          weight: w.baseAddress!, columns: columns.baseAddress!, stride: n),
                                        after: nil)
                                } else {
                                    NativeLoops.inputGradientRow(x, dy, dx, n, hi: 3, k, weight: w.baseAddress!, stream: stream,
                                                                 beyondCache: beyondCache, next: nil)
                                }
                            }
                        }
                    }
                }
            }
            return out
        }
        for offset in 0..<lineElements {
            let expected = gradient(offset: offset, stream: false, fused: false)
            #expect(expected[..<offset].allSatisfy { $0 == sentinel } && expected[(offset + n)...].allSatisfy { $0 == sentinel })
            for fused in [false, true] {
                let actual = gradient(offset: offset, stream: true, fused: fused)
                #expect(firstBitDifference(actual, expected) == nil,
                        "\(S.self) n=\(n) offset=\(offset) fused=\(fused) \(InstructionSet.active)")
                // The loops for calls past the caches: their own lanes, the same elements.
                let beyond = gradient(offset: offset, stream: true, fused: fused, beyondCache: true)
                #expect(firstBitDifference(beyond, gradient(offset: offset, stream: false, fused: false, beyondCache: true)) == nil,
                        "\(S.self) n=\(n) offset=\(offset) fused=\(fused) beyond the cache \(InstructionSet.active)")
            }
        }
    }

    func check<S: NormScalar>(_: S.Type, length n: Int) throws {
        var random = SeededGenerator(seed: UInt64(n) &* 977)
        func values(_ count: Int, mean: Double = 0) -> [S] { (0..<count).map { _ in S(mean + random.normal()) } }
        // Two rows of x and dy; the output starts 3 elements past an allocation, off the vector alignment.
        let x = values(2 * n, mean: 50), dy = values(2 * n)
        let weight: [S.ComputeScalar] = (0..<n).map { _ in S.ComputeScalar(0.5 + Double.random(in: 0..<1, using: &random)) }
        let (hi, nextMean, nextInvstd) = (S.ComputeScalar(50.25), 49.875 + 1e-9, 0.75)
        let k = GradientCoefficients<S.ComputeScalar>(k1: 0.625, k2: -0.0078125, k3: 0.0625)
        for (stream, beyondCache) in [(false, false), (true, false), (false, true), (true, true)] {
            for weighted in [false, true] {
                var twoLoops = [S](repeating: 0, count: n + 3), fused = twoLoops
                var columnsOfTwoLoops = [S.ComputeScalar](repeating: 0.5, count: 2 * n), columnsFused = columnsOfTwoLoops
                let what = "\(S.self) n=\(n) stream=\(stream) beyondCache=\(beyondCache) weight=\(weighted) \(InstructionSet.active)"
                let (expected, actual) = x.withUnsafeBufferPointer { x in
                    dy.withUnsafeBufferPointer { dy in
                        weight.withUnsafeBufferPointer { w in
                            let w = weighted ? w.baseAddress! : nil
                            let (x, dy) = (x.baseAddress!, dy.baseAddress!)
                            let expected = twoLoops.withUnsafeMutableBufferPointer { dx in
                                columnsOfTwoLoops.withUnsafeMutableBufferPointer { columns in
                                    NativeLoops.inputGradientRow(x, dy, dx.baseAddress! + 3, n, hi: hi, k, weight: w, stream: stream,
                                                                 beyondCache: beyondCache, next: nil)
                                    let split = SplitMean<S.ComputeScalar>(nextMean)
                                    return NativeLoops.rowGradientSums(
                                        x + n, dy + n, n, hi: split.hi, lo: split.lo, invstd: S.ComputeScalar(nextInvstd), weight: w,
                                        sumDy: columns.baseAddress!, sumDyXhat: columns.baseAddress! + n, beyondCache: beyondCache)
                                }
                            }
                            let actual = fused.withUnsafeMutableBufferPointer { dx in
                                columnsFused.withUnsafeMutableBufferPointer { columns in
                                    NativeLoops.inputGradientRowThenSums(
                                        x, dy, dx.baseAddress! + 3, n, hi: hi, k, weight: w, stream: stream, beyondCache: beyondCache,
                                        next: NextRowSums(x: x + n, dy: dy + n,
                                                          row: RowAffine(mean: SplitMean(nextMean), invstd: S.ComputeScalar(nextInvstd)),
                                                          weight: w, columns: columns.baseAddress!, stride: n),
                                        after: (x, dy))
                                }
                            }
                            return (expected, actual)
                        }
                    }
                }
                #expect(actual.0.bitPattern == expected.0.bitPattern && actual.1.bitPattern == expected.1.bitPattern,
                        "sums \(actual) != \(expected): \(what)")
                #expect(firstBitDifference(fused, twoLoops) == nil, "input gradient: \(what)")
                #expect(firstBitDifference(columnsFused, columnsOfTwoLoops) == nil, "column sums: \(what)")
            }
        }
    }
}
