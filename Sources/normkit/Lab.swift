import ArgumentParser
import Foundation
import NormKit
import NormKitLab
#if MPI
import NormKitMPI
#endif

/// `normkit lab`: trains the same small CNN with each normalization across per-device batch
/// sizes and seeds, and reports test accuracy as a table, CSV files and an SVG plot.
struct Lab: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a small CNN on the UCI digits with each normalization across batch sizes.",
        discussion: """
        Trains the network [Conv 3×3 → norm → ReLU] ×3 (a max pool after the second) → global \
        average pool → Linear with no normalization, BatchNorm, GroupNorm, LayerNorm, InstanceNorm \
        and SyncBatchNorm after every convolution, data-parallel over --ranks ranks (per-rank batch \
        b, global batch ranks·b; gradients averaged with one all-reduce per step). Prints a Markdown \
        table and writes results.csv, runs.csv, results.md and accuracy.svg into --out. Only rank 0 \
        writes. Under MPI: mpirun -np K normkit lab --backend mpi (build with --traits MPI).
        """)

    enum Backend: String, ExpressibleByArgument, CaseIterable {
        case local, mpi
    }

    @Flag(help: "Run a tiny grid in seconds (batch sizes 4 and 16, 1 seed, 2 epochs).")
    var quick = false

    @Option(help: "Normalizations, comma-separated, from: none, bn, gn, ln, in, syncbn (default: all).")
    var norms: String?

    @Option(name: .customLong("batch-sizes"), help: "Per-rank batch sizes, comma-separated (default: 2,4,8,16,32).")
    var batchSizes: String?

    @Option(help: "Seeds per grid point (default: 3).")
    var seeds: Int?

    @Option(help: "The first seed; run i of a grid point uses seed + i.")
    var seed: UInt64 = 0

    @Option(help: "Training epochs per run (default: 10).")
    var epochs: Int?

    @Option(help: "Peak learning rate for a global batch of 32, scaled linearly with the global batch (default: 0.1).")
    var lr: Double?

    @Option(help: "Output channels of the convolutions, comma-separated (default: 8,16,32).")
    var widths: String?

    @Option(help: "Data-parallel ranks per run (default: 2 with --backend local; the MPI world size with --backend mpi).")
    var ranks: Int?

    @Option(help: "How ranks run: local (threads of this process) or mpi (processes under mpirun; needs --traits MPI).")
    var backend: Backend = .local

    @Option(help: "Runs at a time with --backend local (default: cores ÷ ranks, at least 1).")
    var jobs: Int?

    @Option(help: "A data file in NormKit's image-set format instead of the bundled digits (see scripts/make_digits.py).")
    var data: String?

    @Option(help: "Output folder for results.csv, runs.csv, results.md and accuracy.svg.")
    var out: String = "lab-results"

    @Flag(help: "No progress bar.")
    var noProgress = false

    @Option(name: .customLong("train-limit"), help: .hidden)
    var trainLimit: Int?

    @Option(name: .customLong("test-limit"), help: .hidden)
    var testLimit: Int?

    mutating func validate() throws {
        if let ranks, ranks < 1 { throw ValidationError("--ranks must be at least 1 (got \(ranks))") }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
        if let seeds, !(1...Self.maximumSeeds).contains(seeds) {
            throw ValidationError("--seeds must be between 1 and \(Self.maximumSeeds) (got \(seeds))")
        }
        if let epochs, !(1...Self.maximumEpochs).contains(epochs) {
            throw ValidationError("--epochs must be between 1 and \(Self.maximumEpochs) (got \(epochs))")
        }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number (got \(lr))") }
        let configuration = try labConfiguration()
        if UInt64.max - configuration.firstSeed < UInt64(configuration.seeds - 1) {
            throw ValidationError("--seed plus the seeds per grid point must stay within UInt64 "
                                  + "(got --seed \(seed) and \(configuration.seeds) seeds)")
        }
    }

    /// Bounds on the grid, far past any useful lab run, so that no count overflows and no
    /// model outgrows memory: seeds per grid point, epochs per run, and convolution channels
    /// (a width of 1,024 makes 38 MB of 3×3 weights a layer).
    static let maximumSeeds = 10_000
    static let maximumEpochs = 1_000_000
    static let maximumWidth = 1_024

    /// The grid these options describe.
    func labConfiguration() throws -> LabConfiguration {
        var configuration = quick ? LabConfiguration.quick : LabConfiguration.standard
        if let norms {
            configuration.normalizations = try norms.split(separator: ",").map { name in
                let trimmed = name.trimmingCharacters(in: .whitespaces).lowercased()
                guard let normalization = Normalization(rawValue: trimmed) else {
                    throw ValidationError("unknown normalization \"\(trimmed)\"; choose from "
                                          + Normalization.allCases.map(\.rawValue).joined(separator: ", "))
                }
                return normalization
            }
        }
        if let batchSizes {
            configuration.batchSizes = try batchSizes.split(separator: ",").map { text in
                guard let size = Int(text.trimmingCharacters(in: .whitespaces)), size >= 1 else {
                    throw ValidationError("batch sizes must be positive integers (got \"\(text)\")")
                }
                return size
            }
        }
        if let widths {
            configuration.widths = try widths.split(separator: ",").map { text in
                guard let width = Int(text.trimmingCharacters(in: .whitespaces)), (1...Self.maximumWidth).contains(width) else {
                    throw ValidationError("widths must be integers from 1 to \(Self.maximumWidth) (got \"\(text)\")")
                }
                return width
            }
        }
        if configuration.normalizations.isEmpty || configuration.batchSizes.isEmpty {
            throw ValidationError("--norms and --batch-sizes must each name at least one value")
        }
        configuration.seeds = seeds ?? configuration.seeds
        configuration.firstSeed = seed
        configuration.epochs = epochs ?? configuration.epochs
        configuration.learningRate = lr ?? configuration.learningRate
        if let trainLimit { configuration.trainLimit = trainLimit }
        if let testLimit { configuration.testLimit = testLimit }
        return configuration
    }

    func run() throws {
        let configuration = try labConfiguration()
        let execution = try makeExecution()
        let dataset = try data.map { try ImageDataset(contentsOf: URL(fileURLWithPath: $0)) } ?? ImageDataset.bundledDigits()
        let reporting = execution.isReporting
        let ticks = configuration.runs.count * configuration.epochs
        let progress = reporting && !noProgress ? ProgressBar(total: ticks) : nil
        let backendName = backend == .mpi ? "MPI rank\(execution.ranks == 1 ? "" : "s")"
                                          : "local rank\(execution.ranks == 1 ? "" : "s")"
        if reporting {
            let train = configuration.trainLimit.map { "\(min($0, dataset.trainCount)) of \(dataset.trainCount)" }
                ?? "\(dataset.trainCount)"
            let test = configuration.testLimit.map { "\(min($0, dataset.testCount)) of \(dataset.testCount)" }
                ?? "\(dataset.testCount)"
            let count = configuration.normalizations.count
            print("normkit lab: \(count) normalization\(count == 1 ? "" : "s") × batch sizes "
                  + "\(configuration.batchSizes.map(String.init).joined(separator: ", ")) × \(configuration.seeds) "
                  + "seed\(configuration.seeds == 1 ? "" : "s"), \(configuration.epochs) epoch\(configuration.epochs == 1 ? "" : "s") "
                  + "each, \(execution.ranks) \(backendName); \(train) training and \(test) test images "
                  + "(\(dataset.source))")
            fflush(nil)
        }
        let start = Date()
        let records = try runLab(configuration, data: dataset, execution: execution, progress: progress)
        progress?.finish()
        guard let records else { return }
        let report = LabReport(configuration: configuration, records: records, ranks: execution.ranks,
                               totalSeconds: Date().timeIntervalSince(start), dataSource: dataset.source,
                               backend: backendName)
        print()
        print(report.markdown())
        let files = try report.write(to: URL(fileURLWithPath: out))
        print()
        print("wrote " + files.map { $0.path }.joined(separator: ", "))
        fflush(nil)
    }

    private func makeExecution() throws -> LabExecution {
        switch backend {
        case .local:
            let ranks = ranks ?? 2
            let cores = ProcessInfo.processInfo.activeProcessorCount
            return .local(ranks: ranks, jobs: jobs ?? max(1, cores / ranks))
        case .mpi:
            #if MPI
            let group = try MPIProcessGroup.world()
            if let ranks, ranks != group.size {
                throw ValidationError("--ranks \(ranks) does not match the MPI world size \(group.size) (mpirun -np)")
            }
            return .processGroup(group)
            #else
            throw ValidationError("--backend mpi needs the MPI trait: swift build --traits MPI (then mpirun -np K normkit lab --backend mpi)")
            #endif
        }
    }
}
