import Foundation
import NormKit

/// The grid `normkit lab` runs: every normalization at every per-rank batch size, over several
/// seeds, with the same network and schedule.
public struct LabConfiguration: Equatable, Sendable {
    public var normalizations: [Normalization]
    /// Per-rank (per-device) batch sizes.
    public var batchSizes: [Int]
    /// Runs per grid point; run i uses seed `firstSeed + i` (weights and data order), wrapping past `UInt64.max`.
    public var seeds: Int
    public var firstSeed: UInt64
    public var epochs: Int
    /// Peak learning rate for a global batch of 32, scaled linearly with the global batch.
    public var learningRate: Double
    public var momentum: Double
    public var weightDecay: Double
    public var warmupEpochs: Double
    public var widths: [Int]
    public var groupNormGroups: Int
    /// Use only the first images of each split (`nil`: all): `--quick` and the tests.
    public var trainLimit: Int?
    public var testLimit: Int?

    public init(normalizations: [Normalization] = Normalization.allCases, batchSizes: [Int] = [2, 4, 8, 16, 32],
                seeds: Int = 3, firstSeed: UInt64 = 0, epochs: Int = 10, learningRate: Double = 0.1,
                momentum: Double = 0.9, weightDecay: Double = 5e-4, warmupEpochs: Double = 1,
                widths: [Int] = [8, 16, 32], groupNormGroups: Int = 4, trainLimit: Int? = nil, testLimit: Int? = nil) {
        self.normalizations = normalizations
        self.batchSizes = batchSizes
        self.seeds = seeds
        self.firstSeed = firstSeed
        self.epochs = epochs
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.warmupEpochs = warmupEpochs
        self.widths = widths
        self.groupNormGroups = groupNormGroups
        self.trainLimit = trainLimit
        self.testLimit = testLimit
    }

    /// The default grid: 6 normalizations × per-rank batch sizes 2, 4, 8, 16, 32 × 3 seeds, 10 epochs
    /// each, convolutions of 8, 16 and 32 channels: about a minute on 2 cores in a release build.
    public static let standard = LabConfiguration()

    /// A tiny grid that runs in seconds (release build): every normalization at two batch sizes,
    /// one seed, two epochs.
    public static let quick = LabConfiguration(batchSizes: [4, 16], seeds: 1, epochs: 2, warmupEpochs: 0.5)

    /// The runs of the grid, in the order they are run: batch size, then normalization, then seed.
    public var runs: [RunKey] {
        batchSizes.flatMap { batch in
            normalizations.flatMap { normalization in
                (0..<seeds).map { RunKey(normalization: normalization, perRankBatch: batch, seed: firstSeed &+ UInt64($0)) }
            }
        }
    }

    /// The training options of one run on `data`.
    public func options(for run: RunKey, data: ImageDataset) -> TrainingOptions {
        TrainingOptions(normalization: run.normalization, perRankBatch: run.perRankBatch, epochs: epochs, seed: run.seed,
                        learningRate: learningRate, momentum: momentum, weightDecay: weightDecay,
                        warmupEpochs: warmupEpochs,
                        network: NetworkConfiguration(inputShape: data.imageShape, classes: data.classes, widths: widths,
                                                      groupNormGroups: groupNormGroups))
    }
}

/// One run of the grid.
public struct RunKey: Hashable, Sendable, Codable {
    public var normalization: Normalization
    public var perRankBatch: Int
    public var seed: UInt64
}

/// One finished run.
public struct RunRecord: Equatable, Sendable {
    public var key: RunKey
    public var ranks: Int
    public var result: RunResult
}

/// How the ranks of each run are made.
public enum LabExecution: Sendable {
    /// `ranks` threads of this process per run (a `LocalProcessGroup` when ranks > 1), with up to
    /// `jobs` runs at a time.
    case local(ranks: Int, jobs: Int)
    /// This process is one rank of `group` (under `mpirun`); every rank runs the grid in the
    /// same order.
    case processGroup(any ProcessGroup)

    public var ranks: Int {
        switch self {
        case let .local(ranks, _): return ranks
        case let .processGroup(group): return group.size
        }
    }

    /// Whether this process reports and writes results (rank 0).
    public var isReporting: Bool {
        switch self {
        case .local: return true
        case let .processGroup(group): return group.rank == 0
        }
    }
}

/// Runs the whole grid. Returns every run's record on the reporting rank (in grid order), `nil`
/// on the others. `progress`, if given, is ticked once per epoch of each run.
public func runLab(_ configuration: LabConfiguration, data: ImageDataset, execution: LabExecution,
                   progress: ProgressBar? = nil) throws -> [RunRecord]? {
    let data = data.prefix(train: configuration.trainLimit, test: configuration.testLimit)
    let runs = configuration.runs
    let tick: @Sendable () -> Void = { progress?.advance() }
    switch execution {
    case let .processGroup(group):
        var records: [RunRecord] = []
        for run in runs {
            progress?.setLabel(run.label)
            let result = try trainAndEvaluate(configuration.options(for: run, data: data), data: data, group: group,
                                              as: Float.self, onEpoch: tick)
            if let result { records.append(RunRecord(key: run, ranks: group.size, result: result)) }
        }
        return group.rank == 0 ? records : nil
    case let .local(ranks, jobs):
        let queue = WorkQueue(count: runs.count)
        // Each worker returns the runs it took, by index; the workers themselves never throw.
        let perWorker = LocalProcessGroup.onThreads(count: max(1, min(jobs, runs.count))) { _ in
            var done: [(index: Int, result: Result<RunResult, any Error>)] = []
            while let index = queue.next() {
                let run = runs[index]
                progress?.setLabel(run.label)
                let options = configuration.options(for: run, data: data)
                done.append((index, Result { try trainLocally(options, data: data, ranks: ranks, onEpoch: tick) }))
            }
            return done
        }
        var results = [Result<RunResult, any Error>?](repeating: nil, count: runs.count)
        for worker in perWorker { for run in try worker.get() { results[run.index] = run.result } }
        return try zip(runs, results).map { run, result in
            guard let result else { throw NormError.invalidArgument(name: "run", expected: "a result", actual: "none") }
            return RunRecord(key: run, ranks: ranks, result: try result.get())
        }
    }
}

/// One run with `ranks` threads of this process as the ranks of a fresh `LocalProcessGroup`.
public func trainLocally(_ options: TrainingOptions, data: ImageDataset, ranks: Int,
                         onEpoch: (@Sendable () -> Void)? = nil) throws -> RunResult {
    guard ranks > 1 else {
        return try trainAndEvaluate(options, data: data, as: Float.self, onEpoch: onEpoch)!
    }
    let world = try LocalProcessGroup.world(size: ranks, timeout: 120)
    let all = LocalProcessGroup.runCatching(ranks: world) { group in
        try trainAndEvaluate(options, data: data, group: group, as: Float.self, onEpoch: onEpoch)
            ?? RunResult(testAccuracy: 0, finalLoss: 0, seconds: 0, steps: 0)
    }
    // A rank that failed makes its peers fail too (timeouts or broken group): report the first cause.
    for result in all { if case let .failure(error) = result, !(error is NormError && isPeerFailure(error)) { throw error } }
    return try all[0].get()
}

private func isPeerFailure(_ error: any Error) -> Bool {
    switch error as? NormError {
    case .processGroupBroken?, .collectiveTimeout?: return true
    default: return false
    }
}

extension RunKey {
    var label: String { "\(normalization.displayName) b=\(perRankBatch) seed \(seed)" }
}

// MARK: Threads

/// Hands out 0..<count once each, to any number of threads.
final class WorkQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var nextIndex = 0
    private let count: Int

    init(count: Int) { self.count = count }

    func next() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard nextIndex < count else { return nil }
        nextIndex += 1
        return nextIndex - 1
    }
}
