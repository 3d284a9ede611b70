import Foundation
import Testing
@testable import NormKit
import NormKitTestSupport

/// What one rank saw in a run of training steps followed by an eval step.
struct SyncRankRecord<S: NormScalar>: Sendable {
    var outputs: [Tensor<S>] = []
    var inputGradients: [Tensor<S>] = []
    var runningMean: [Tensor<S>?] = []
    var runningVar: [Tensor<S>?] = []
    var numBatchesTracked: [Int?] = []
    var weightGradient: Tensor<S>?
    var biasGradient: Tensor<S>?
}

/// One scenario of the SyncBatchNorm = BatchNorm property: shard sizes per step (the last step
/// runs in eval mode), the per-sample shape after the batch axis, and the options.
struct SyncScenario: Sendable, CustomStringConvertible {
    var shards: [[Int]]
    var sampleShape: [Int]
    var momentum: Double?
    var affine = true
    var seed: UInt64
    /// The memory format of every rank's shard and upstream gradient.
    var format: MemoryFormat = .contiguous

    var ranks: Int { shards[0].count }
    var channels: Int { sampleShape[0] }
    var description: String {
        "ranks \(ranks), shards \(shards), sample \(sampleShape), momentum \(String(describing: momentum)), \(format)"
    }
}

/// Runs `scenario` twice: SyncBatchNorm on `ranks` threads over a LocalProcessGroup, and one
/// BatchNorm on the concatenated batch. Every step uses fresh random inputs and random upstream
/// gradients. Compares everything elementwise.
func syncCheckMatchesBatchNorm<S: NormScalar>(_: S.Type, _ scenario: SyncScenario) throws {
    var rng = SeededRandom(seed: scenario.seed)
    let c = scenario.channels
    let weight: Tensor<S> = rng.tensor([c], mean: 1, std: 0.5)
    let bias: Tensor<S> = rng.tensor([c], std: 0.5)
    // Inputs and upstream gradients per step and rank; channel means and scales differ.
    var generatedInputs: [[Tensor<S>]] = [], generatedGradients: [[Tensor<S>]] = []
    for sizes in scenario.shards {
        generatedInputs.append(sizes.map { rng.tensor([$0] + scenario.sampleShape, mean: 5, std: 3) })
        generatedGradients.append(sizes.map { rng.tensor([$0] + scenario.sampleShape) })
    }
    let inputs = generatedInputs, gradients = generatedGradients
    let steps = scenario.shards.count
    let makeState = { @Sendable (layer: BatchNorm<S>) throws in
        guard scenario.affine else { return }
        try layer.loadStateDict(["weight": weight, "bias": bias], strict: false)
    }

    // Reference: BatchNorm with any rank (a SyncBatchNorm without group is plain BatchNorm; we
    // use the class that matches the input rank, so this reference is independent of SyncBatchNorm).
    let reference: BatchNorm<S>
    switch scenario.sampleShape.count + 1 {
    case 2, 3: reference = BatchNorm1d(numFeatures: c, momentum: scenario.momentum, affine: scenario.affine)
    case 4: reference = BatchNorm2d(numFeatures: c, momentum: scenario.momentum, affine: scenario.affine)
    default: reference = BatchNorm3d(numFeatures: c, momentum: scenario.momentum, affine: scenario.affine)
    }
    try makeState(reference)
    var expected = SyncRankRecord<S>()
    for step in 0..<steps {
        if step == steps - 1 { reference.eval() }
        let x = try syncConcatenate(inputs[step])
        let dy = try syncConcatenate(gradients[step])
        expected.outputs.append(try reference(x))
        expected.inputGradients.append(try reference.backward(dy))
        expected.runningMean.append(reference.runningMean)
        expected.runningVar.append(reference.runningVar)
        expected.numBatchesTracked.append(reference.numBatchesTracked)
    }
    expected.weightGradient = reference.gradients()["weight"]
    expected.biasGradient = reference.gradients()["bias"]

    let world = try LocalProcessGroup.world(size: scenario.ranks, timeout: 60)
    let results = syncRunOnThreads(scenario.ranks) { rank -> SyncRankRecord<S> in
        let layer = SyncBatchNorm<S>(numFeatures: c, momentum: scenario.momentum, affine: scenario.affine,
                                     processGroup: world[rank])
        try makeState(layer)
        var record = SyncRankRecord<S>()
        for step in 0..<steps {
            if step == steps - 1 { layer.eval() }
            let output = try layer(inputs[step][rank].withMemoryFormat(scenario.format))
            let inputGradient = try layer.backward(gradients[step][rank].withMemoryFormat(scenario.format))
            #expect(output.memoryFormat == inputGradient.memoryFormat && (output.rank < 3 || output.memoryFormat == scenario.format))
            record.outputs.append(output)
            record.inputGradients.append(inputGradient)
            record.runningMean.append(layer.runningMean)
            record.runningVar.append(layer.runningVar)
            record.numBatchesTracked.append(layer.numBatchesTracked)
        }
        record.weightGradient = layer.gradients()["weight"]
        record.biasGradient = layer.gradients()["bias"]
        return record
    }
    let records = try results.map { try $0.get() }
    let tolerance = Tolerance.forType(S.self)
    for (rank, record) in records.enumerated() {
        for step in 0..<steps {
            let offset = scenario.shards[step][..<rank].reduce(0, +)
            let size = scenario.shards[step][rank]
            let at = "\(scenario), rank \(rank), step \(step)"
            assertClose(record.outputs[step], try syncSlice(expected.outputs[step], offset, size),
                            tolerance, "output, \(at)")
            assertClose(record.inputGradients[step], try syncSlice(expected.inputGradients[step], offset, size),
                            tolerance, "input gradient, \(at)")
            assertClose(record.runningMean[step], expected.runningMean[step], tolerance, "running_mean, \(at)")
            assertClose(record.runningVar[step], expected.runningVar[step], tolerance, "running_var, \(at)")
            #expect(record.numBatchesTracked[step] == expected.numBatchesTracked[step], "num_batches_tracked, \(at)")
        }
    }
    if scenario.affine {
        let weightSum = syncSum(records.compactMap(\.weightGradient))
        let biasSum = syncSum(records.compactMap(\.biasGradient))
        assertClose(weightSum, expected.weightGradient, Tolerance(absolute: 10 * tolerance.absolute, relative: tolerance.relative), "Σ weight grad, \(scenario)")
        assertClose(biasSum, expected.biasGradient, Tolerance(absolute: 10 * tolerance.absolute, relative: tolerance.relative), "Σ bias grad, \(scenario)")
    }
}

func syncConcatenate<S: NormScalar>(_ shards: [Tensor<S>]) throws -> Tensor<S> {
    let n = shards.map { $0.shape[0] }.reduce(0, +)
    return try Tensor(shape: [n] + shards[0].shape.dropFirst(), scalars: shards.flatMap(\.scalars))
}

func syncSlice<S: NormScalar>(_ tensor: Tensor<S>, _ offset: Int, _ count: Int) throws -> Tensor<S> {
    let sample = tensor.shape.dropFirst().reduce(1, *)
    return try Tensor(shape: [count] + tensor.shape.dropFirst(),
                      scalars: Array(tensor.scalars[offset * sample..<(offset + count) * sample]))
}

func syncSum<S: NormScalar>(_ tensors: [Tensor<S>]) -> Tensor<S>? {
    guard var total = tensors.first else { return nil }
    for tensor in tensors.dropFirst() {
        for i in total.scalars.indices { total.scalars[i] += tensor.scalars[i] }
    }
    return total
}

/// The scenarios of the property test: 2, 3 and 4 ranks with uneven shards, empty and
/// one-sample shards, three training steps and an eval step.
let syncScenarios: [SyncScenario] = [
    SyncScenario(shards: [[1, 4], [0, 3], [2, 2], [1, 2]], sampleShape: [3, 2, 3], momentum: 0.1, seed: 1),
    SyncScenario(shards: [[0, 1, 5], [3, 0, 1], [1, 2, 2], [2, 0, 1]], sampleShape: [3, 2, 3], momentum: 0.1, seed: 2),
    SyncScenario(shards: [[3, 0, 1, 2], [0, 1, 0, 4], [2, 2, 1, 1], [1, 1, 0, 2]], sampleShape: [3, 2, 3], momentum: 0.1, seed: 3),
    SyncScenario(shards: [[3, 0, 1, 2], [0, 1, 0, 4], [2, 2, 1, 1], [0, 1, 1, 1]], sampleShape: [2, 5], momentum: nil, seed: 4),
    SyncScenario(shards: [[0, 1, 5], [1, 0, 0], [2, 2, 2], [1, 1, 1]], sampleShape: [2, 2, 1, 3], momentum: nil, seed: 5),
    SyncScenario(shards: [[1, 4], [0, 3], [2, 2]], sampleShape: [4], momentum: 0.3, affine: false, seed: 6),
    // More than 125 channels: the payload continues in a second, validated collective.
    SyncScenario(shards: [[2, 0, 3], [1, 1, 2], [1, 2, 0]], sampleShape: [130], momentum: 0.1, seed: 7),
    SyncScenario(shards: [[1, 4], [0, 3], [2, 2], [1, 2]], sampleShape: [3, 2, 3], momentum: 0.1, seed: 8, format: .channelsLast),
    SyncScenario(shards: [[0, 1, 5], [1, 0, 0], [2, 2, 2], [1, 1, 1]], sampleShape: [2, 2, 1, 3], momentum: nil, seed: 9,
                 format: .channelsLast),
]

@Suite struct SyncBatchNormTests {
    @Test(arguments: syncScenarios)
    func matchesBatchNormOnTheWholeBatchFloat(scenario: SyncScenario) throws {
        try syncCheckMatchesBatchNorm(Float.self, scenario)
    }

    @Test(arguments: syncScenarios)
    func matchesBatchNormOnTheWholeBatchDouble(scenario: SyncScenario) throws {
        try syncCheckMatchesBatchNorm(Double.self, scenario)
    }

    @Test func withoutGroupItIsBatchNorm() throws {
        var rng = SeededRandom(seed: 11)
        for group in [nil, try LocalProcessGroup.world(size: 1, timeout: 0.01)[0]] as [(any ProcessGroup)?] {
            let sync = SyncBatchNorm<Double>(numFeatures: 2, momentum: nil, processGroup: group)
            let plain = BatchNorm2d<Double>(numFeatures: 2, momentum: nil)
            for _ in 0..<2 {
                let x: Tensor<Double> = rng.tensor([3, 2, 2, 2], mean: 1, std: 2)
                let dy: Tensor<Double> = rng.tensor([3, 2, 2, 2])
                assertClose(try sync(x), try plain(x), Tolerance(absolute: 1e-13, relative: 1e-13), "output")
                assertClose(try sync.backward(dy), try plain.backward(dy), Tolerance(absolute: 1e-13, relative: 1e-13), "dx")
            }
            #expect(sync.stateDict() == plain.stateDict())
            #expect(sync.gradients() == plain.gradients())
        }
    }

    /// Float layers on Float16 shards over thread ranks (PyTorch's mixed path): the outputs,
    /// input gradients and running statistics of a Float BatchNorm on the whole half batch.
    @Test func halfPrecisionShardsMatchBatchNormOnTheWholeBatch() throws {
        var rng = SeededRandom(seed: 17)
        let whole: Tensor<Float> = rng.tensor([6, 3, 2, 5], mean: 2, std: 3)
        let gradient: Tensor<Float> = rng.tensor([6, 3, 2, 5])
        let (x, dy) = (whole.converted(to: Float16.self), gradient.converted(to: Float16.self))
        let plain = BatchNorm2d<Float>(numFeatures: 3)
        let y = try plain(x), dx = try plain.backward(dy)
        let world = try LocalProcessGroup.world(size: 2, timeout: 20)
        // Samples 0–3 on rank 0 and 4–5 on rank 1 (30 values per sample).
        func shards(_ t: Tensor<Float16>) throws -> [Tensor<Float16>] {
            [try Tensor(shape: [4, 3, 2, 5], scalars: Array(t.scalars[..<120])),
             try Tensor(shape: [2, 3, 2, 5], scalars: Array(t.scalars[120...]))]
        }
        let (inputs, gradients) = (try shards(x), try shards(dy))
        let results = syncRunOnThreads(2) { rank -> ([Float16], [Float16], [Float], [Float]) in
            let sync = SyncBatchNorm<Float>(numFeatures: 3, processGroup: world[rank])
            let output = try sync(inputs[rank]), input = try sync.backward(gradients[rank])
            return (output.scalars, input.scalars, sync.runningMean!.scalars, sync.runningVar!.scalars)
        }
        let ranks = try results.map { try $0.get() }
        let tolerance = Tolerance(absolute: 2e-3, relative: 2e-3)
        assertClose((ranks[0].0 + ranks[1].0).map { Double($0) }, y.scalars.map { Double($0) }, tolerance, "output")
        assertClose((ranks[0].1 + ranks[1].1).map { Double($0) }, dx.scalars.map { Double($0) }, tolerance, "input gradient")
        for rank in ranks {
            assertClose(rank.2, plain.runningMean!.scalars, Tolerance(absolute: 1e-6, relative: 1e-6), "running mean")
            assertClose(rank.3, plain.runningVar!.scalars, Tolerance(absolute: 1e-6, relative: 1e-6), "running var")
        }
    }

    @Test func acceptsAnyRankFromTwo() throws {
        let layer = SyncBatchNorm<Float>(numFeatures: 2)
        for shape in [[4, 2], [2, 2, 3], [2, 2, 1, 2], [2, 2, 1, 1, 2], [1, 2, 1, 1, 1, 2]] {
            _ = try layer(Tensor(repeating: 1, shape: shape))
        }
        #expect(throws: NormError.rankTooSmall(layer: "SyncBatchNorm", minimum: 2, actual: 1)) {
            try layer(Tensor(repeating: 1, shape: [2]))
        }
    }

    @Test func oneValuePerChannelCountsAcrossRanks() throws {
        let world = try LocalProcessGroup.world(size: 3, timeout: 20)
        // One value per channel in all: every rank throws, and no state moves.
        let single = syncRunOnThreads(3) { rank -> SyncRankRecord<Float> in
            let layer = SyncBatchNorm<Float>(numFeatures: 2, processGroup: world[rank])
            #expect(throws: NormError.tooFewValuesPerChannel(shape: [rank == 1 ? 1 : 0, 2])) {
                try layer(Tensor(repeating: 1, shape: [rank == 1 ? 1 : 0, 2]))
            }
            return SyncRankRecord(runningMean: [layer.runningMean], runningVar: [layer.runningVar],
                                  numBatchesTracked: [layer.numBatchesTracked])
        }
        for record in try single.map({ try $0.get() }) {
            #expect(record.numBatchesTracked == [0] && record.runningMean == [.zeros(shape: [2])])
        }
        // One sample on each of two ranks is two values per channel: training works, where a
        // BatchNorm on either shard alone would throw.
        let pair = syncRunOnThreads(3) { rank -> Int? in
            let layer = SyncBatchNorm<Float>(numFeatures: 2, processGroup: world[rank])
            _ = try layer(Tensor(repeating: Float(rank), shape: [rank == 2 ? 0 : 1, 2]))
            return layer.numBatchesTracked
        }
        for result in pair { #expect(try result.get() == 1) }
        // An empty global batch: empty outputs, and no rank counts the batch.
        let empty = syncRunOnThreads(3) { rank -> Int? in
            let layer = SyncBatchNorm<Float>(numFeatures: 2, processGroup: world[rank])
            let y = try layer(Tensor(repeating: 1, shape: [0, 2, 3]))
            #expect(y.shape == [0, 2, 3])
            #expect(try layer.backward(Tensor(repeating: 1, shape: [0, 2, 3])).shape == [0, 2, 3])
            return layer.numBatchesTracked
        }
        for result in empty { #expect(try result.get() == 0) }
    }
}
