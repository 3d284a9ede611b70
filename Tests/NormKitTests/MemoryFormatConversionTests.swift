import Foundation
import Testing
@testable import NormKit
import NormKitTestSupport

/// `withMemoryFormat(_:)` and the `scalars` of a channels-last tensor run the transposing loop
/// (blocks of 8 × 8 in registers, 16 rows a step, split over threads): every element must land
/// where logical indexing puts it, bit for bit, for every element type and instruction set, at
/// sizes that leave partial blocks on both axes (rows and columns not multiples of 8 or 16), one
/// channel, one position, many samples, and on one thread and split over two.
@Suite struct MemoryFormatConversionTests {
    static let shapes: [[Int]] = [
        [1, 1, 1], [2, 1, 7], [3, 5, 7, 9], [2, 17, 33], [1, 64, 3136], [4, 3, 2, 2, 5], [2, 16, 16, 16],
        [5, 40, 1, 1], [1, 24, 17, 3], [3, 130, 9],
    ]

    @Test(arguments: shapes)
    func conversionsPutEveryElementWhereIndexingDoes(_ shape: [Int]) throws {
        try KernelSettings.inEveryInstructionSet {
            for threads in [1, 2] {
                try Parallelism.withThreadCount(threads) {
                    try Parallelism.withMinimumParallelElements(16) {
                        try check(shape, Float.self)
                        try check(shape, Double.self)
                        try check(shape, BFloat16.self)
                    }
                }
            }
        }
    }

    func check<S: NormScalar>(_ shape: [Int], _: S.Type) throws {
        let count = shape.reduce(1, *)
        // Integers in −254…254 (exact in every type) with a prime period, 509, that no stride of
        // these shapes divides: an element moved by a wrong stride or offset shows.
        let values = (0..<count).map { S(Double($0 * 37 % 509) - 254) }
        let contiguous = try Tensor<S>(shape: shape, scalars: values)
        let channelsLast = contiguous.withMemoryFormat(.channelsLast)
        let samples = shape[0], channels = shape[1], positions = count / (samples * channels)
        let what = "\(S.self) \(shape) \(InstructionSet.active) threads=\(Parallelism.threadCount)"
        var misplaced: (Int, Int, Int)?
        for n in 0..<samples where misplaced == nil {
            for c in 0..<channels where misplaced == nil {
                for p in 0..<positions where channelsLast.storage[(n * positions + p) * channels + c] != values[(n * channels + c) * positions + p] {
                    misplaced = (n, c, p)
                    break
                }
            }
        }
        #expect(misplaced == nil, "channels-last storage: first misplaced (n, c, position) \(String(describing: misplaced)): \(what)")
        let scalars = channelsLast.scalars, back = channelsLast.withMemoryFormat(.contiguous).storage
        #expect(values.indices.first { scalars[$0] != values[$0] } == nil, "scalars of the channels-last tensor: \(what)")
        #expect(values.indices.first { back[$0] != values[$0] } == nil, "back to row-major: \(what)")
    }
}
