import Testing
@testable import NormKit

@Suite struct SyncFramingTests {
    static func header(rank: Int, channels: Int, ok: Bool = true, dtype: Int = SyncFraming.dtypeTag(Double.self)) -> SyncFraming.Header {
        SyncFraming.Header(ok: ok, rank: rank, dtype: dtype, channels: channels)
    }

    @Test func allReduceCarriesPayloadsOfAnyLength() throws {
        for channels in [1, 125, 126, 400] {
            let world = try LocalProcessGroup.world(size: 3, timeout: 20)
            let results = syncRunOnThreads(3) { rank in
                try SyncFraming.allReduceSum((0..<2 * channels).map { Double($0 * (rank + 1)) },
                                             header: Self.header(rank: rank, channels: channels),
                                             payloadLength: 2 * channels, layer: "test", group: world[rank])
            }
            let expected: [Double] = (0..<2 * channels).map { Double($0 * 6) }
            for result in results { #expect(try result.get() == expected) }
        }
    }

    @Test func allReduceHeadersThatDisagreeFailOnEveryRank() throws {
        let world = try LocalProcessGroup.world(size: 3, timeout: 20)
        let channels = syncRunOnThreads(3) { rank in
            let c = rank == 2 ? 200 : 3  // rank 2 would need a second collective; nobody makes one
            _ = try SyncFraming.allReduceSum([Double](repeating: 1, count: 2 * c), header: Self.header(rank: rank, channels: c),
                                             payloadLength: 2 * c, layer: "test", group: world[rank])
        }
        let dtypes = syncRunOnThreads(3) { rank in
            let tag = rank == 0 ? SyncFraming.dtypeTag(Float.self) : SyncFraming.dtypeTag(Double.self)
            _ = try SyncFraming.allReduceSum([1, 1], header: Self.header(rank: rank, channels: 1, dtype: tag),
                                             payloadLength: 2, layer: "test", group: world[rank])
        }
        for result in channels + dtypes {
            #expect { try result.get() } throws: { error in
                guard case .collectiveMismatch? = error as? NormError else { return false }
                return true
            }
        }
        let failures = syncRunOnThreads(3) { rank in
            _ = try SyncFraming.allReduceSum(rank == 0 ? [1, 1] : nil, header: Self.header(rank: rank, channels: 1, ok: rank == 0),
                                             payloadLength: 2, layer: "test", group: world[rank])
        }
        for result in failures {
            #expect(throws: NormError.peerRankFailed(layer: "test", rank: nil)) { try result.get() }
        }
        let one = syncRunOnThreads(3) { rank in
            _ = try SyncFraming.allReduceSum(rank == 1 ? nil : [1, 1], header: Self.header(rank: rank, channels: 1, ok: rank != 1),
                                             payloadLength: 2, layer: "test", group: world[rank])
        }
        for result in one {
            #expect(throws: NormError.peerRankFailed(layer: "test", rank: 1)) { try result.get() }
        }
    }

    @Test func allGatherNamesTheRankThatDiffers() throws {
        let world = try LocalProcessGroup.world(size: 2, timeout: 20)
        let results = syncRunOnThreads(2) { rank in
            let c = rank == 0 ? 130 : 2
            _ = try SyncFraming.allGather([Double](repeating: 1, count: 2 * c + 1), header: Self.header(rank: rank, channels: c),
                                          payloadLength: 2 * c + 1, layer: "test", group: world[rank])
        }
        #expect(throws: NormError.rankMismatch(layer: "test", field: "num_features", rank: 1, expected: "130", actual: "2")) {
            try results[0].get()
        }
        #expect(throws: NormError.rankMismatch(layer: "test", field: "num_features", rank: 0, expected: "2", actual: "130")) {
            try results[1].get()
        }
    }
}
