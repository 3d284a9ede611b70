import Foundation
import Testing
@testable import NormKit

/// Issue #7, A.4 and A.7: SyncBatchNorm with zero features, and the failure path of a rank whose
/// own checks fail while telling the other ranks fails too.
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

    // A.7: rank 1 in eval mode, both ranks call backward before any forward. Rank 1 fails
    // locally without communicating; rank 0's failure frame times out, and rank 0 must say so.
    @Test func aTimeoutOnTheBackwardFailurePathIsReportedWithTheLocalError() throws {
        let world = try LocalProcessGroup.world(size: 2, timeout: 2)
        let start = Date()
        let results = LocalProcessGroup.runCatching(ranks: world) { group -> SyncLayerState<Float> in
            let layer = SyncBatchNorm<Float>(numFeatures: 3, processGroup: group)
            if group.rank == 1 { layer.eval() }
            let before = SyncLayerState(layer)
            defer { #expect(SyncLayerState(layer) == before) }
            _ = try layer.backward(Tensor(repeating: 1, shape: [2, 3]))
            return before
        }
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(throws: NormError.backwardBeforeForward(layer: "SyncBatchNorm")) { try results[1].get() }
        #expect {
            try results[0].get()
        } throws: { error in
            guard case let .unreportedLocalFailure(local, collective)? = error as? NormError,
                  case let .collectiveTimeout(operation, rank, timeout, arrived, size) = collective
            else { return false }
            return local == .backwardBeforeForward(layer: "SyncBatchNorm") && operation == "allReduceSum" && rank == 0
                && timeout == 2 && arrived == [0] && size == 2
                && "\(error)".contains("backward called before a forward pass")
                && "\(error)".contains("timed out on rank 0")
        }
        // The group is broken, and says so at once instead of hanging.
        for group in world {
            #expect { try group.barrier() } throws: { error in
                guard case .processGroupBroken? = error as? NormError else { return false }
                return true
            }
        }
    }

    @Test func aTimeoutOnTheForwardFailurePathIsReportedWithTheLocalError() throws {
        let world = try LocalProcessGroup.world(size: 2, timeout: 2)
        let results = LocalProcessGroup.runCatching(ranks: world) { group in
            let layer = SyncBatchNorm<Double>(numFeatures: 2, processGroup: group)
            if group.rank == 1 { layer.eval() }
            let before = SyncLayerState(layer)
            defer { #expect(SyncLayerState(layer) == before) }
            // Rank 0's input has the wrong channel count; rank 1's is fine (and needs no peer).
            _ = try layer(Tensor(repeating: 1, shape: [2, group.rank == 0 ? 5 : 2]))
        }
        try results[1].get()
        #expect {
            try results[0].get()
        } throws: { error in
            guard case let .unreportedLocalFailure(local, .collectiveTimeout(operation, _, _, _, _))? = error as? NormError
            else { return false }
            return local == .wrongChannelCount(layer: "SyncBatchNorm", expected: 2, actual: 5) && operation == "allGather"
        }
    }

    @Test func aFailurePathThatReachesItsPeersThrowsOnlyTheLocalError() throws {
        // The collective worked: the other rank heard of the failure, so there is nothing more to say.
        let results = try LocalProcessGroup.run(size: 2, timeout: 20) { group -> NormError? in
            let layer = SyncBatchNorm<Float>(numFeatures: 2, processGroup: group)
            do {
                _ = try layer.backward(Tensor(repeating: 1, shape: [2, 2]))
                return nil
            } catch {
                return error as? NormError
            }
        }
        // Both ranks failed their own check; each sees itself as failed and its peer as failed.
        #expect(results == [.backwardBeforeForward(layer: "SyncBatchNorm"), .backwardBeforeForward(layer: "SyncBatchNorm")])
    }

    @Test func timeoutsSayWhatToDoNext() {
        let local = NormError.collectiveTimeout(operation: "barrier", rank: 0, timeout: 2, arrived: [0], size: 2)
        #expect(local.description.contains("only ranks [0] of 2 arrived"))
        #expect(local.description.contains("must run on a thread of its own"))
        // MPI cannot tell who arrived; the way out is MPI_Abort.
        let mpi = NormError.collectiveTimeout(operation: "allGather", rank: 1, timeout: 2, arrived: [], size: 3)
        #expect(mpi.description.contains("not every rank of 3 arrived"))
        #expect(mpi.description.contains("MPIProcessGroup.abort(code:)") && !mpi.description.contains("thread"))
    }

    @Test func unreportedLocalFailureDescribesBoth() {
        let error = NormError.unreportedLocalFailure(
            local: .gradientShapeMismatch(expected: [2, 3], actual: [2, 4]),
            collective: .collectiveTimeout(operation: "allReduceSum", rank: 1, timeout: 2, arrived: [1], size: 2))
        #expect(error.description.hasPrefix("Mismatch in shape: grad_output has shape [2, 4]"))
        #expect(error.description.contains("telling the other ranks failed too: allReduceSum timed out on rank 1"))
    }
}
