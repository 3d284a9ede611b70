import Foundation
import NormKit

/// How one network is trained.
public struct TrainingOptions: Equatable, Sendable {
    public var normalization: Normalization
    /// Images per rank and step; the global batch is this times the number of ranks.
    public var perRankBatch: Int
    public var epochs: Int
    /// Seeds the weights and the order of the training images (the same on every rank).
    public var seed: UInt64
    /// The peak learning rate for a global batch of ``referenceBatch``; other global batches
    /// scale it linearly (Goyal et al., arXiv:1706.02677), as the GroupNorm paper does.
    public var learningRate: Double
    public var referenceBatch: Int
    public var momentum: Double
    public var weightDecay: Double
    /// Epochs of linear warm-up from 0 to the peak; a cosine decay to 0 follows.
    public var warmupEpochs: Double
    public var network: NetworkConfiguration

    public init(normalization: Normalization, perRankBatch: Int, epochs: Int, seed: UInt64,
                learningRate: Double = 0.1, referenceBatch: Int = 32, momentum: Double = 0.9,
                weightDecay: Double = 5e-4, warmupEpochs: Double = 1, network: NetworkConfiguration) {
        self.normalization = normalization
        self.perRankBatch = perRankBatch
        self.epochs = epochs
        self.seed = seed
        self.learningRate = learningRate
        self.referenceBatch = referenceBatch
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.warmupEpochs = warmupEpochs
        self.network = network
    }

    /// The learning rate at `step` of `totalSteps`: linear warm-up over `warmupSteps`, then
    /// cosine decay, both scaled to the global batch.
    public func learningRate(step: Int, totalSteps: Int, warmupSteps: Int, globalBatch: Int) -> Double {
        let peak = learningRate * Double(globalBatch) / Double(referenceBatch)
        if step < warmupSteps { return peak * Double(step + 1) / Double(warmupSteps) }
        let progress = Double(step - warmupSteps) / Double(max(totalSteps - warmupSteps, 1))
        return peak * 0.5 * (1 + cos(Double.pi * progress))
    }
}

/// What one training run measured.
public struct RunResult: Equatable, Sendable, Codable {
    /// Test accuracy in eval mode, in [0, 1].
    public var testAccuracy: Double
    /// The mean training loss over the last epoch, averaged over the ranks.
    public var finalLoss: Double
    /// Wall-clock seconds for training and evaluation.
    public var seconds: Double
    /// Optimizer steps taken.
    public var steps: Int
}

/// Trains a fresh network on `data` and evaluates it, data-parallel over `group` when it has
/// more than one rank.
///
/// Each epoch visits the training images in a seeded random order (the same on every rank), cut
/// into global batches of `perRankBatch × ranks` images; the last incomplete batch is dropped,
/// so every shard has `perRankBatch` images. Rank r trains on the r-th shard of each global
/// batch; gradients are averaged over the ranks with ``averagedGradients(_:over:)`` (one
/// all-reduce per step, as DistributedDataParallel), so every rank takes the same SGD step and
/// the parameters stay identical. BatchNorm's running statistics stay per rank (DDP's
/// `broadcast_buffers=False`); SyncBatchNorm's agree on every rank.
///
/// Rank 0 then evaluates the test set in eval mode with its own running statistics and returns
/// the result; the other ranks return `nil`. Every rank must call this with the same options.
/// `onEpoch` is called on rank 0 after each epoch.
public func trainAndEvaluate<Scalar: LabScalar>(
    _ options: TrainingOptions, data: ImageDataset, group: (any ProcessGroup)? = nil,
    as _: Scalar.Type = Scalar.self, onEpoch: (() -> Void)? = nil
) throws -> RunResult? {
    let start = Date()
    let ranks = group?.size ?? 1, rank = group?.rank ?? 0
    try options.network.checkFits(scalarBytes: MemoryLayout<Scalar>.stride)
    let model: Sequential<Scalar> = makeNetwork(options.normalization, options.network, seed: options.seed,
                                                processGroup: group)
    let optimizer = SGD<Scalar>(learningRate: 0, momentum: options.momentum, weightDecay: options.weightDecay)
    let loss = SoftmaxCrossEntropy<Scalar>()
    let (globalBatch, batchOverflow) = options.perRankBatch.multipliedReportingOverflow(by: ranks)
    guard options.perRankBatch > 0, !batchOverflow, globalBatch <= data.trainCount else {
        throw NormError.invalidArgument(name: "batch size", expected: "a global batch of 1 to \(data.trainCount) images",
                                        actual: "\(options.perRankBatch) per rank × \(ranks) ranks")
    }
    let stepsPerEpoch = data.trainCount / globalBatch
    let (totalSteps, stepsOverflow) = stepsPerEpoch.multipliedReportingOverflow(by: options.epochs)
    guard options.epochs >= 0, !stepsOverflow else {
        throw NormError.invalidArgument(name: "epochs", expected: "a count whose steps (\(stepsPerEpoch) an epoch) fit in Int",
                                        actual: "\(options.epochs)")
    }
    let warmupSteps = min(Int(options.warmupEpochs * Double(stepsPerEpoch)), totalSteps / 2)
    let sampleShape = data.imageShape
    var step = 0
    var lastEpochLoss = 0.0
    for epoch in 0..<options.epochs {
        let order = shuffledIndices(data.trainCount, seed: options.seed &* 0x9E37_79B9 &+ UInt64(epoch) &+ 1)
        var epochLoss = 0.0
        for batch in 0..<stepsPerEpoch {
            let start = batch * globalBatch + rank * options.perRankBatch
            let rows = Array(order[start..<(start + options.perRankBatch)])
            let x = try Tensor<Scalar>(shape: [rows.count] + sampleShape, scalars: LabDispatch.output(
                .gather(source: data.trainImages, rowLength: data.imageSize, rows: rows)))
            optimizer.learningRate = options.learningRate(step: step, totalSteps: totalSteps, warmupSteps: warmupSteps,
                                                          globalBatch: globalBatch)
            epochLoss += try trainingStep(model, input: x, labels: rows.map { data.trainLabels[$0] }, loss: loss,
                                          optimizer: optimizer, group: group)
            step += 1
        }
        lastEpochLoss = epochLoss / Double(stepsPerEpoch)
        if rank == 0 { onEpoch?() }
    }
    var lossOverRanks = [lastEpochLoss]
    if let group, ranks > 1 { try group.allReduceSum(&lossOverRanks) }
    guard rank == 0 else { return nil }
    let accuracy = try evaluate(model, data: data)
    return RunResult(testAccuracy: accuracy, finalLoss: lossOverRanks[0] / Double(ranks),
                     seconds: Date().timeIntervalSince(start), steps: totalSteps)
}

/// One data-parallel training step on this rank's shard: zero the gradients, forward, softmax
/// cross-entropy (the mean over the shard), backward, average the gradients over `group`
/// (``averagedGradients(_:over:)``), and one ``SGD`` step. Returns this shard's loss.
///
/// With equal shards, k ranks that each call this on their shard take the step a single process
/// takes on the whole batch; with SyncBatchNorm in place of BatchNorm, exactly that step.
@discardableResult
public func trainingStep<Scalar: LabScalar>(
    _ model: any Module<Scalar>, input: Tensor<Scalar>, labels: [Int], loss: SoftmaxCrossEntropy<Scalar>,
    optimizer: SGD<Scalar>, group: (any ProcessGroup)? = nil
) throws -> Double {
    model.zeroGrad()
    let value = try loss(model(input), labels: labels)
    _ = try model.backward(loss.backward())
    try optimizer.step(model, gradients: averagedGradients(model, over: group))
    return value
}

/// The fraction of test images `model` classifies correctly in eval mode (the model is left in
/// eval mode).
public func evaluate<Scalar: LabScalar>(_ model: any Module<Scalar>, data: ImageDataset, batchSize: Int = 120) throws -> Double {
    model.eval()
    var correct = 0
    var start = 0
    while start < data.testCount {
        let rows = Array(start..<min(start + batchSize, data.testCount))
        let x = try Tensor<Scalar>(shape: [rows.count] + data.imageShape, scalars: LabDispatch.output(
            .gather(source: data.testImages, rowLength: data.imageSize, rows: rows)))
        let logits = try model(x)
        correct += SoftmaxCrossEntropy<Scalar>.correctCount(logits, labels: rows.map { data.testLabels[$0] })
        start += batchSize
    }
    return Double(correct) / Double(max(data.testCount, 1))
}

/// 0..<count in a seeded random order (Fisher–Yates over SplitMix64), the same on every
/// platform and toolchain.
func shuffledIndices(_ count: Int, seed: UInt64) -> [Int] {
    var generator = SeededGenerator(seed: seed)
    var indices = Array(0..<count)
    guard count > 1 else { return indices }
    for i in stride(from: count - 1, to: 0, by: -1) {
        let j = Int(generator.next() % UInt64(i + 1))
        indices.swapAt(i, j)
    }
    return indices
}
