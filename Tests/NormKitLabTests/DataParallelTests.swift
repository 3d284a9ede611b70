import NormKit
import Testing
@testable import NormKitLab

/// Data-parallel training steps over local ranks against single-process steps on the whole batch.
@Suite struct DataParallelTests {
    let configuration = NetworkConfiguration(inputShape: [1, 6, 6], classes: 4, widths: [3, 4, 4], groupNormGroups: 2)
    let globalBatch = 6
    let steps = 2

    /// Batches of `globalBatch` seeded images and labels, one per step.
    func batches() -> [(x: Tensor<Double>, labels: [Int])] {
        (0..<steps).map { step in
            var generator = SeededGenerator(seed: 100 + UInt64(step))
            let labels = (0..<globalBatch).map { _ in Int(generator.next() % 4) }
            return (randomTensor([globalBatch, 1, 6, 6], seed: 200 + UInt64(step)), labels)
        }
    }

    /// Parameters and buffers after `steps` SGD steps of `normalization` on the whole batch.
    func singleProcess(_ normalization: Normalization) throws -> [String: Tensor<Double>] {
        let model: Sequential<Double> = makeNetwork(normalization, configuration, seed: 9)
        let optimizer = SGD<Double>(learningRate: 0.1, momentum: 0.9, weightDecay: 1e-3)
        let loss = SoftmaxCrossEntropy<Double>()
        for batch in batches() {
            try trainingStep(model, input: batch.x, labels: batch.labels, loss: loss, optimizer: optimizer)
        }
        return model.stateDict()
    }

    /// The same steps with `ranks` local ranks, each on its shard of every batch; every rank's state.
    func dataParallel(_ normalization: Normalization, ranks: Int) throws -> [[String: Tensor<Double>]] {
        let world = try LocalProcessGroup.world(size: ranks, timeout: 60)
        let batches = batches()
        let shard = globalBatch / ranks
        return try LocalProcessGroup.run(ranks: world) { group in
            let model: Sequential<Double> = makeNetwork(normalization, configuration, seed: 9, processGroup: group)
            let optimizer = SGD<Double>(learningRate: 0.1, momentum: 0.9, weightDecay: 1e-3)
            let loss = SoftmaxCrossEntropy<Double>()
            for batch in batches {
                let rows = (group.rank * shard)..<((group.rank + 1) * shard)
                let x = try Tensor(shape: [shard, 1, 6, 6],
                                   scalars: Array(batch.x.scalars[(rows.lowerBound * 36)..<(rows.upperBound * 36)]))
                try trainingStep(model, input: x, labels: Array(batch.labels[rows]), loss: loss,
                                 optimizer: optimizer, group: group)
            }
            return model.stateDict()
        }
    }

    func compare(_ states: [[String: Tensor<Double>]], _ reference: [String: Tensor<Double>], _ context: String) {
        for (rank, state) in states.enumerated() {
            #expect(Set(state.keys) == Set(reference.keys))
            for key in reference.keys.sorted() {
                expectClose(state[key]!.scalars, reference[key]!.scalars, absolute: 1e-12, relative: 1e-10,
                            "\(context), rank \(rank), \(key)")
            }
        }
    }

    /// The check: SyncBatchNorm over k ranks, each on its shard, with gradients averaged
    /// by all-reduce, ends one (here two) SGD steps with BatchNorm's parameters and running
    /// statistics on the whole batch.
    @Test(arguments: [2, 3])
    func syncBatchNormOverRanksEqualsBatchNormOnTheWholeBatch(ranks: Int) throws {
        compare(try dataParallel(.syncBatchNorm, ranks: ranks), try singleProcess(.batchNorm), "SyncBatchNorm × \(ranks)")
    }

    /// Normalizations that do not mix samples need no synchronization: DDP over k ranks equals
    /// one process on the whole batch.
    @Test(arguments: [Normalization.groupNorm, .none])
    func perSampleNormalizationsNeedNoSync(_ normalization: Normalization) throws {
        compare(try dataParallel(normalization, ranks: 3), try singleProcess(normalization), "\(normalization) × 3")
    }

    /// Per-rank BatchNorm sees only its shard, so it does not equal whole-batch BatchNorm: the
    /// comparison above is sensitive to the difference SyncBatchNorm removes.
    @Test func perRankBatchNormDiffers() throws {
        let states = try dataParallel(.batchNorm, ranks: 2)
        let reference = try singleProcess(.batchNorm)
        let gap = zip(states[0]["0.weight"]!.scalars, reference["0.weight"]!.scalars).map { abs($0 - $1) }.max()!
        #expect(gap > 1e-6)
    }
}
