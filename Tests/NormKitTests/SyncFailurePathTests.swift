import Foundation
import Testing
@testable import NormKit

/// Issue #7, A.4: SyncBatchNorm with zero features.
@Suite struct SyncFailurePathTests {
    // A.4: `values[1...channels]` trapped for channels = 0 on every rank of a group of ≥ 2.
    @Test(arguments: [2, 3])
    func zeroFeaturesMatchBatchNormOnTheWholeBatch(ranks: Int) throws {
        let shards = [[2, 3, 1], [0, 2, 1], [1, 0, 3]].map { Array($0.prefix(ranks)) }
        try syncCheckMatchesBatchNorm(Float.self, SyncScenario(shards: shards, sampleShape: [0, 3], momentum: 0.1, seed: 71))
        try syncCheckMatchesBatchNorm(Double.self, SyncScenario(shards: shards, sampleShape: [0], momentum: nil, seed: 72))
    }

    @Test func zeroFeaturesWithOneValueThrowOnEveryRankWithoutChangingState() throws {
        // PyTorch: "Expected more than 1 value per channel when training", even without channels.
        let results = try LocalProcessGroup.run(size: 2, timeout: 20) { group -> Bool in
            let layer = SyncBatchNorm<Double>(numFeatures: 0, processGroup: group)
            let before = SyncLayerState(layer)
            do {
                _ = try layer(Tensor(repeating: 0, shape: [group.rank, 0]))
                return false
            } catch {
                return SyncLayerState(layer) == before && syncIsError(error) { $0 == .tooFewValuesPerChannel(shape: [group.rank, 0]) }
            }
        }
        #expect(results == [true, true])
        #expect(throws: NormError.tooFewValuesPerChannel(shape: [1, 0])) {
            try BatchNorm1d<Double>(numFeatures: 0)(Tensor(repeating: 0, shape: [1, 0]))
        }
    }
}
