import Testing
@testable import NormKit

/// SyncBatchNorm against sizes at the edge of `Int` and process groups of a caller's own that
/// return malformed results: typed errors or the right output, never a trap.
@Suite struct SyncHostileGroupTests {
    /// A group of `size` ranks that answers as `answer` says: each collective's result from
    /// what this rank sent.
    final class ScriptedGroup: ProcessGroup, @unchecked Sendable {
        let rank = 0
        let size: Int
        let answer: @Sendable (_ sent: [Double], _ reduce: Bool) -> [Double]

        init(size: Int, answer: @escaping @Sendable (_ sent: [Double], _ reduce: Bool) -> [Double]) {
            self.size = size
            self.answer = answer
        }

        func allReduceSum(_ buffer: inout [Float]) throws { buffer = answer(buffer.map(Double.init), true).map(Float.init) }
        func allReduceSum(_ buffer: inout [Double]) throws { buffer = answer(buffer, true) }
        func allGather(_ buffer: [Float]) throws -> [Float] { answer(buffer.map(Double.init), false).map(Float.init) }
        func allGather(_ buffer: [Double]) throws -> [Double] { answer(buffer, false) }
        func barrier() throws {}
        func subgroup(ranks: [Int]) throws -> (any ProcessGroup)? { nil }
    }

    /// Every rank sends what this one did: a well-behaved group of `size` identical ranks.
    static func echo(size: Int) -> @Sendable ([Double], Bool) -> [Double] {
        { sent, reduce in reduce ? sent.map { $0 * Double(size) } : Array([[Double]](repeating: sent, count: size).joined()) }
    }

    @Test func aGroupOfIdenticalRanksNormalizesAsBatchNorm() throws {
        let layer = SyncBatchNorm<Double>(numFeatures: 3, processGroup: ScriptedGroup(size: 2, answer: Self.echo(size: 2)))
        let x = try Tensor<Double>(shape: [4, 3], scalars: (0..<12).map { Double($0 * $0 % 7) })
        let reference = BatchNorm1d<Double>(numFeatures: 3)
        #expect(try layer(x).scalars == reference(x).scalars)
    }

    /// What a malformed group does to the collectives of one forward or backward pass.
    enum Malformation: String, CaseIterable, Sendable {
        case shortGather, countOfNaN, countOf1e300, dtypeOfNaN  // forward
        case shortReduce, failedRankOfNaN, shortSecondReduce  // backward

        var answer: @Sendable ([Double], Bool) -> [Double] {
            let echo = SyncHostileGroupTests.echo(size: 2)
            switch self {
            case .shortGather: return { sent, reduce in reduce ? sent : Array(sent.prefix(100)) }
            case .countOfNaN, .countOf1e300, .dtypeOfNaN:
                let (index, value) = self == .dtypeOfNaN ? (SyncFraming.frameLength + 2, Double.nan)
                    : (SyncFraming.headerLength, self == .countOfNaN ? .nan : 1e300)
                return { sent, reduce in
                    var frames = echo(sent, reduce)
                    if !reduce { frames[index] = value }
                    return frames
                }
            case .shortReduce: return { sent, reduce in reduce ? Array(sent.prefix(10)) : echo(sent, reduce) }
            case .failedRankOfNaN:
                return { sent, reduce in
                    var result = echo(sent, reduce)
                    if reduce { (result[0], result[1]) = (1, .nan) }
                    return result
                }
            case .shortSecondReduce: return { sent, reduce in reduce && sent.count != SyncFraming.frameLength ? [1] : echo(sent, reduce) }
            }
        }
    }

    @Test(arguments: [Malformation.shortGather, .countOfNaN, .countOf1e300, .dtypeOfNaN])
    func malformedForwardCollectivesThrow(_ malformation: Malformation) throws {
        let layer = SyncBatchNorm<Double>(numFeatures: 3, processGroup: ScriptedGroup(size: 2, answer: malformation.answer))
        let x = try Tensor<Double>(shape: [4, 3], scalars: (0..<12).map(Double.init))
        #expect(throws: NormError.self) { try layer(x) }
        #expect(layer.runningMean?.scalars == [0, 0, 0] && layer.numBatchesTracked == 0)
    }

    @Test(arguments: [Malformation.shortReduce, .failedRankOfNaN, .shortSecondReduce])
    func malformedBackwardCollectivesThrow(_ malformation: Malformation) throws {
        let layer = SyncBatchNorm<Double>(numFeatures: 200, processGroup: ScriptedGroup(size: 2, answer: malformation.answer))
        let x = try Tensor<Double>(shape: [2, 200], scalars: (0..<400).map { Double($0 % 13) })
        _ = try layer(x)
        #expect(throws: NormError.self) { try layer.backward(x) }
    }

    /// No channels and a batch whose count per channel sums past Int.max over the ranks: an
    /// empty output, as BatchNorm gives; a channel count past 2³² in a failure header: a typed
    /// error.
    @Test func countsAndChannelCountsAtTheEdgeOfInt() throws {
        let world = try LocalProcessGroup.world(size: 2, timeout: 20)
        let results = syncRunOnThreads(2) { rank in
            try SyncBatchNorm<Float>(numFeatures: 0, processGroup: world[rank])(Tensor<Float>(shape: [1 << 62, 0], scalars: [])).shape
        }
        for result in results { #expect(try result.get() == [1 << 62, 0]) }
        let wide = try LocalProcessGroup.world(size: 2, timeout: 20)
        let failures = syncRunOnThreads(2) { rank in
            let layer = SyncBatchNorm<Float>(numFeatures: 1 << 32, affine: false, trackRunningStats: false, processGroup: wide[rank])
            _ = try layer.backward(Tensor<Float>(shape: [0, 1 << 32], scalars: []))
        }
        for failure in failures {
            #expect { try failure.get() } throws: { $0 is NormError }
        }
    }

    /// The channel count travels digit by digit: counts that differ only past 2⁵³ still
    /// disagree, in both collectives.
    @Test func channelCountsThatDifferPastDoublePrecisionDisagree() throws {
        let world = try LocalProcessGroup.world(size: 2, timeout: 20)
        let counts = [(1 << 60) + 1, 1 << 60]
        for reduce in [false, true] {
            let results = syncRunOnThreads(2) { rank in
                let header = SyncFraming.Header(ok: true, rank: rank, dtype: SyncFraming.dtypeTag(Double.self), channels: counts[rank])
                if reduce {
                    _ = try SyncFraming.allReduceSum([1], header: header, payloadLength: 1, layer: "test", group: world[rank])
                } else {
                    _ = try SyncFraming.allGather([1], header: header, payloadLength: 1, layer: "test", group: world[rank])
                }
            }
            for result in results {
                #expect { try result.get() } throws: { error in
                    switch error as? NormError {
                    case .rankMismatch?, .collectiveMismatch?: true
                    default: false
                    }
                }
            }
        }
    }
}
