import Foundation
import Testing
@testable import NormKit
import NormKitTestSupport

/// `column_affine` and `column_input_gradient` on short rows of whole vectors (in the register
/// strip of one to four vectors, and past it): streamed, the rows go as one run whose first
/// elements, up to the output's vector alignment, go one by one, and whose vectors meet the
/// coefficients rotated by as many columns (`NK_ROTATE`). Against the same loops unstreamed, to
/// the bit: every element type and instruction set, rows of 1 to 12 vectors (those over 256
/// bytes, or 1 KiB and more, stream row by row or not at all), outputs at every element offset
/// from the vector alignment, in place and not.
@Suite struct ColumnRunStreamingTests {
    @Test(arguments: [1, 2, 3, 4, 5, 7, 12])
    func streamedShortRowsGiveTheUnstreamedResults(_ vectors: Int) throws {
        try KernelSettings.inEveryInstructionSet {
            for type in KernelSettings.loopTypes { try check(type, columns: vectors * lanes) }
        }
    }

    /// Rows of 1 KiB and more, of any width (the loops' scalar tails), in the loops for calls in
    /// cache and past the caches (BatchNorm's wide rows: ``Kernels/columnAffineBeyondCache(columns:bytes:streaming:_:)``,
    /// ``Kernels/columnInputGradientBeyondCache(columns:stream:_:)``).
    @Test(arguments: [256, 259, 263, 269])
    func wideRowsGiveTheSameResultsInEitherLoops(_ columns: Int) throws {
        try KernelSettings.inEveryInstructionSet {
            for type in KernelSettings.loopTypes { try check(type, columns: columns) }
        }
    }

    /// Wide rows stream wherever the caller streams; short rows from 1.25 times the cache.
    @Test func shortRowsStreamFromAQuarterPastTheCache() {
        KernelSettings.lock.withLock {
            NativeLoops.withStreamingThreshold(1000) {
                let atTheCache = ColumnStreaming(true, bytes: 1000), past = ColumnStreaming(true, bytes: 1250)
                #expect(atTheCache.wideRows && !atTheCache.shortRows)
                #expect(past.wideRows && past.shortRows)
                let unstreamed = ColumnStreaming(false, bytes: 1 << 40)
                #expect(!unstreamed.wideRows && !unstreamed.shortRows)
            }
        }
    }

    /// BatchNorm's input gradient runs the loops for calls past the caches on rows of 1 KiB and
    /// more in calls that stream, and only there.
    @Test func onlyWideRowsPastTheCacheRunTheLoopsForCallsPastIt() {
        #expect(Kernels.columnInputGradientBeyondCache(columns: 256, stream: true, Float.self))
        #expect(Kernels.columnInputGradientBeyondCache(columns: 128, stream: true, Double.self))
        #expect(!Kernels.columnInputGradientBeyondCache(columns: 255, stream: true, Float.self))
        #expect(!Kernels.columnInputGradientBeyondCache(columns: 256, stream: false, Float.self))
    }

    /// The lanes of the active loops' vectors (`NK_LANES`, the same for every element type).
    var lanes: Int { InstructionSet.active == .avx512 ? 16 : 8 }

    func check<S: NormScalar>(_: S.Type, columns: Int) throws {
        let rows = 5, count = rows * columns
        var random = SeededGenerator(seed: UInt64(columns) &* 131)
        func values(_ count: Int, mean: Double = 0) -> [S] { (0..<count).map { _ in S(mean + random.normal()) } }
        func coefficients() -> [S.ComputeScalar] { (0..<columns).map { _ in S.ComputeScalar(random.normal()) } }
        let x = values(count + 64, mean: 20), dy = values(count + 64)
        let (hi, a, b, c) = (coefficients(), coefficients(), coefficients(), coefficients())
        // The output `offset` elements into a 64-byte aligned buffer: every distance from the
        // vector alignment, and the input as far in (in place: the output is the input).
        for offset in 0..<lanes {
            for inPlace in [false, true] {
                let what = "\(S.self) columns=\(columns) offset=\(offset) inPlace=\(inPlace) \(InstructionSet.active)"
                // Unstreamed, streamed, and streamed in the loops for calls past the caches.
                let affine = [(false, false), (true, false), (true, true)].map { stream, beyondCache in
                    run(x, offset: offset, count: count) { input, output in
                        NativeLoops.columnAffine(inPlace ? UnsafePointer(output) : input, output, rows: rows, columns: columns,
                                                 hi: hi, a: a, b: b, stream: ColumnStreaming(wideRows: stream, shortRows: stream),
                                                 beyondCache: beyondCache, next: nil)
                    }
                }
                #expect(firstBitDifference(affine[1], affine[0]) == nil, "column_affine: \(what)")
                #expect(firstBitDifference(affine[2], affine[0]) == nil, "column_affine beyond the cache: \(what)")
                // Unstreamed, streamed, and either in the loops for calls past the caches.
                let gradient = [(false, false), (true, false), (false, true), (true, true)].map { stream, beyondCache in
                    run(inPlace ? dy : x, offset: offset, count: count) { input, output in
                        dy.withUnsafeBufferPointer { dy in
                            NativeLoops.columnInputGradient(inPlace ? UnsafePointer(output) : input, dy.baseAddress! + offset, output,
                                                            rows: rows, columns: columns, hi: hi, k1: a, k2: b, k3: c,
                                                            stream: ColumnStreaming(wideRows: stream, shortRows: stream),
                                                            beyondCache: beyondCache)
                        }
                    }
                }
                #expect(firstBitDifference(gradient[1], gradient[0]) == nil, "column_input_gradient: \(what)")
                #expect(firstBitDifference(gradient[2], gradient[0]) == nil, "column_input_gradient beyond the cache: \(what)")
                #expect(firstBitDifference(gradient[3], gradient[0]) == nil,
                        "column_input_gradient streamed beyond the cache: \(what)")
            }
        }
    }

    /// `body(input, output)` with `input` at `offset` elements into `values` and `output` at
    /// `offset` elements into a 64-byte aligned buffer that starts as a copy of `values`; returns
    /// the output's `count` elements.
    func run<S: NormScalar>(_ values: [S], offset: Int, count: Int,
                            _ body: (UnsafePointer<S>, UnsafeMutablePointer<S>) -> Void) -> [S] {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: values.count * MemoryLayout<S>.stride, alignment: 64)
        defer { buffer.deallocate() }
        let output = buffer.bindMemory(to: S.self, capacity: values.count)
        output.initialize(from: values, count: values.count)
        values.withUnsafeBufferPointer { body($0.baseAddress! + offset, output + offset) }
        return Array(UnsafeBufferPointer(start: output + offset, count: count))
    }
}
