import Foundation
import Testing
@testable import NormKit
import NormKitTestSupport

/// A layer's whole state, to check that a throwing call changed nothing.
struct SyncLayerState<S: NormScalar>: Equatable, Sendable {
    var stateDict: [String: Tensor<S>]
    var gradients: [String: Tensor<S>]

    init(_ layer: some Module<S>) {
        stateDict = layer.stateDict()
        gradients = layer.gradients()
    }
}

/// A layer that has taken one training step, so that its state is not the initial one.
func syncTrainedLayer<S: NormScalar>(_: S.Type, channels: Int, group: (any ProcessGroup)?) throws -> SyncBatchNorm<S> {
    let layer = SyncBatchNorm<S>(numFeatures: channels, processGroup: group)
    var rng = SeededRandom(seed: 99 + UInt64(group?.rank ?? 0))
    let x: Tensor<S> = rng.tensor([3, channels, 2], mean: 1, std: 2)
    _ = try layer(x)
    _ = try layer.backward(rng.tensor([3, channels, 2]))
    return layer
}

func syncIsError(_ error: any Error, _ matches: (NormError) -> Bool) -> Bool {
    guard let error = error as? NormError else { return false }
    return matches(error)
}

@Suite struct SyncBatchNormErrorTests {
    @Test func differentChannelCountsFailOnEveryRankWithoutChangingState() throws {
        let world = try LocalProcessGroup.world(size: 3, timeout: 20)
        let start = Date()
        let results = syncRunOnThreads(3) { rank -> Bool in
            let channels = rank == 1 ? 4 : 3
            let layer = SyncBatchNorm<Double>(numFeatures: channels, processGroup: world[rank])
            let before = SyncLayerState(layer)
            var rng = SeededRandom(seed: UInt64(rank))
            do {
                _ = try layer(rng.tensor([2, channels, 3]))
                return false
            } catch {
                #expect(SyncLayerState(layer) == before)
                return syncIsError(error) {
                    guard case let .rankMismatch(_, field, other, expected, actual) = $0 else { return false }
                    return field == "num_features" && expected == "\(channels)"
                        && (rank == 1 ? other == 0 && actual == "3" : other == 1 && actual == "4")
                }
            }
        }
        for result in results { #expect(try result.get()) }
        #expect(Date().timeIntervalSince(start) < 10)
        // Nobody broke the group: a valid step still works.
        _ = try LocalProcessGroup.run(ranks: world) { group in _ = try syncTrainedLayer(Float.self, channels: 2, group: group) }
    }

    @Test func floatAndDoubleRanksFailOnEveryRank() throws {
        let world = try LocalProcessGroup.world(size: 2, timeout: 20)
        let results = syncRunOnThreads(2) { rank -> Bool in
            do {
                if rank == 0 {
                    let layer = SyncBatchNorm<Float>(numFeatures: 2, processGroup: world[rank])
                    _ = try layer(Tensor(repeating: 1, shape: [2, 2]))
                } else {
                    let layer = SyncBatchNorm<Double>(numFeatures: 2, processGroup: world[rank])
                    _ = try layer(Tensor(repeating: 1, shape: [2, 2]))
                }
                return false
            } catch {
                return syncIsError(error) {
                    guard case let .rankMismatch(_, field, _, expected, actual) = $0 else { return false }
                    return field == "dtype" && expected == (rank == 0 ? "float32" : "float64")
                        && actual == (rank == 0 ? "float64" : "float32")
                }
            }
        }
        for result in results { #expect(try result.get()) }
    }

    @Test func oneRanksBadInputStopsEveryRankPromptly() throws {
        let world = try LocalProcessGroup.world(size: 3, timeout: 20)
        let start = Date()
        let results = syncRunOnThreads(3) { rank -> Bool in
            let layer = try syncTrainedLayer(Float.self, channels: 2, group: world[rank])
            let before = SyncLayerState(layer)
            do {
                _ = try layer(Tensor(repeating: 1, shape: [2, rank == 2 ? 5 : 2]))
                return false
            } catch {
                #expect(SyncLayerState(layer) == before)
                return syncIsError(error) {
                    rank == 2 ? $0 == .wrongChannelCount(layer: "SyncBatchNorm", expected: 2, actual: 5)
                        : $0 == .peerRankFailed(layer: "SyncBatchNorm", rank: 2)
                }
            }
        }
        for result in results { #expect(try result.get()) }
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test func oneRanksBadGradientStopsEveryRankWithoutTouchingGradients() throws {
        let world = try LocalProcessGroup.world(size: 2, timeout: 20)
        let results = syncRunOnThreads(2) { rank -> Bool in
            let layer = try syncTrainedLayer(Double.self, channels: 3, group: world[rank])
            _ = try layer(Tensor(repeating: 2, shape: [2, 3, 2]))
            let before = SyncLayerState(layer)
            do {
                _ = try layer.backward(Tensor(repeating: 1, shape: rank == 0 ? [2, 3, 2] : [2, 3, 1]))
                return false
            } catch {
                #expect(SyncLayerState(layer) == before)
                return syncIsError(error) {
                    rank == 1 ? $0 == .gradientShapeMismatch(expected: [2, 3, 2], actual: [2, 3, 1])
                        : $0 == .peerRankFailed(layer: "SyncBatchNorm", rank: 1)
                }
            }
        }
        for result in results { #expect(try result.get()) }
    }

    @Test func aMissingRankTimesOutTheForwardWithoutChangingState() throws {
        let world = try LocalProcessGroup.world(size: 3, timeout: 2)
        let start = Date()
        // Rank 2 never calls the layer.
        let results = syncRunOnThreads(2) { rank -> Bool in
            let layer = SyncBatchNorm<Float>(numFeatures: 2, processGroup: world[rank])
            let before = SyncLayerState(layer)
            var forwardTimedOut = false
            do {
                _ = try layer(Tensor(repeating: 1, shape: [2, 2]))
            } catch {
                forwardTimedOut = syncIsError(error) {
                    guard case let .collectiveTimeout(_, errorRank, _, arrived, _) = $0 else { return false }
                    return errorRank == rank && arrived == [0, 1]
                }
            }
            #expect(SyncLayerState(layer) == before)
            // The group is broken now: the next collective fails at once.
            #expect(throws: NormError.self) { try world[rank].barrier() }
            return forwardTimedOut
        }
        for result in results { #expect(try result.get()) }
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test func aMissingRankTimesOutTheBackwardWithoutChangingGradients() throws {
        let world = try LocalProcessGroup.world(size: 3, timeout: 2)
        let results = syncRunOnThreads(3) { rank -> Bool in
            let layer = SyncBatchNorm<Double>(numFeatures: 2, processGroup: world[rank])
            _ = try layer(Tensor(repeating: Double(rank), shape: [2, 2]))
            guard rank < 2 else { return true }  // rank 2 never calls backward
            let before = SyncLayerState(layer)
            #expect(throws: NormError.self) { try layer.backward(Tensor(repeating: 1, shape: [2, 2])) }
            return SyncLayerState(layer) == before
        }
        for result in results { #expect(try result.get()) }
    }

    @Test func evalModeDoesNotCommunicate() throws {
        // Only rank 0 of a two-rank group runs: in eval mode it needs no peer.
        let world = try LocalProcessGroup.world(size: 2, timeout: 5)
        let layer = SyncBatchNorm<Double>(numFeatures: 2, processGroup: world[0])
        layer.eval()
        let x = try Tensor<Double>(shape: [1, 2], scalars: [3, -1])
        let y = try layer(x)
        assertClose(y, try Tensor(shape: [1, 2], scalars: [3 / (1 + 1e-5).squareRoot(), -1 / (1 + 1e-5).squareRoot()]),
                        Tolerance(absolute: 0, relative: 1e-14), "eval output")
        _ = try layer.backward(Tensor(repeating: 1, shape: [1, 2]))
        // Had the layer entered a collective, it would have timed out and broken the group.
        #expect(try LocalProcessGroup.run(ranks: world) { try $0.allReducedSum([1.0]) } == [[2], [2]])
    }
}
