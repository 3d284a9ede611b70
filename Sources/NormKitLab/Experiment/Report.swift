import Foundation

/// One grid point: a normalization at one per-rank batch size, summarized over its seeds.
public struct LabSummaryRow: Equatable, Sendable {
    public var normalization: Normalization
    public var perRankBatch: Int
    public var ranks: Int
    public var seeds: Int
    /// Test accuracy in [0, 1]: mean and sample standard deviation (n − 1; 0 for one seed).
    public var accuracyMean: Double
    public var accuracyStd: Double
    public var finalLossMean: Double
    public var finalLossStd: Double
    /// Mean wall-clock seconds per run.
    public var secondsMean: Double

    public var globalBatch: Int { perRankBatch * ranks }
}

/// The results of a grid, and their renderings: a Markdown table, CSV files and an SVG plot.
public struct LabReport: Sendable {
    public var configuration: LabConfiguration
    public var records: [RunRecord]
    public var ranks: Int
    /// Wall-clock seconds for the whole grid.
    public var totalSeconds: Double
    /// Where the data came from, and how the ranks ran ("2 local ranks", "2 MPI ranks").
    public var dataSource: String
    public var backend: String

    public init(configuration: LabConfiguration, records: [RunRecord], ranks: Int, totalSeconds: Double,
                dataSource: String, backend: String) {
        self.configuration = configuration
        self.records = records
        self.ranks = ranks
        self.totalSeconds = totalSeconds
        self.dataSource = dataSource
        self.backend = backend
    }

    /// One row per normalization and batch size, in the configuration's order.
    public var summary: [LabSummaryRow] {
        configuration.normalizations.flatMap { normalization in
            configuration.batchSizes.compactMap { batch -> LabSummaryRow? in
                let runs = records.filter { $0.key.normalization == normalization && $0.key.perRankBatch == batch }
                guard !runs.isEmpty else { return nil }
                let accuracy = meanAndStd(runs.map(\.result.testAccuracy))
                let loss = meanAndStd(runs.map(\.result.finalLoss))
                return LabSummaryRow(normalization: normalization, perRankBatch: batch, ranks: runs[0].ranks,
                                     seeds: runs.count, accuracyMean: accuracy.mean, accuracyStd: accuracy.std,
                                     finalLossMean: loss.mean, finalLossStd: loss.std,
                                     secondsMean: runs.map(\.result.seconds).reduce(0, +) / Double(runs.count))
            }
        }
    }

    // MARK: Markdown

    /// Test accuracy (mean ± std over seeds) with normalizations as rows and batch sizes as
    /// columns, then every grid point with its final loss and time.
    public func markdown() -> String {
        let rows = summary
        let batches = configuration.batchSizes
        var lines: [String] = []
        lines.append("Test accuracy (%, eval mode, mean ± std over \(configuration.seeds) seed\(configuration.seeds == 1 ? "" : "s")), "
                     + "by per-rank batch size; \(ranks) rank\(ranks == 1 ? "" : "s") (\(backend)):")
        lines.append("")
        lines.append("| normalization | " + batches.map { "b=\($0)" }.joined(separator: " | ") + " |")
        lines.append("|---|" + batches.map { _ in "---:|" }.joined())
        for normalization in configuration.normalizations {
            let cells = batches.map { batch in
                rows.first { $0.normalization == normalization && $0.perRankBatch == batch }
                    .map { "\(fixed($0.accuracyMean * 100, 1)) ± \(fixed($0.accuracyStd * 100, 1))" } ?? "–"
            }
            lines.append("| \(normalization.displayName) | " + cells.joined(separator: " | ") + " |")
        }
        lines.append("")
        lines.append("| normalization | batch/rank | ranks | global batch | accuracy (%) | final loss | time/run (s) |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        for row in rows {
            lines.append("| \(row.normalization.displayName) | \(row.perRankBatch) | \(row.ranks) | \(row.globalBatch) | "
                         + "\(fixed(row.accuracyMean * 100, 1)) ± \(fixed(row.accuracyStd * 100, 1)) | "
                         + "\(fixed(row.finalLossMean, 3)) ± \(fixed(row.finalLossStd, 3)) | \(fixed(row.secondsMean, 2)) |")
        }
        lines.append("")
        lines.append("\(records.count) runs, \(configuration.epochs) epoch\(configuration.epochs == 1 ? "" : "s") each, "
                     + "in \(fixed(totalSeconds, 1)) s; data: \(dataSource).")
        return lines.joined(separator: "\n")
    }

    // MARK: CSV

    /// `results.csv`: one line per grid point.
    public func summaryCSV() -> String {
        var lines = ["normalization,per_rank_batch,ranks,global_batch,seeds,epochs,accuracy_mean,accuracy_std,"
                     + "final_loss_mean,final_loss_std,seconds_per_run"]
        for row in summary {
            lines.append([row.normalization.rawValue, "\(row.perRankBatch)", "\(row.ranks)", "\(row.globalBatch)",
                          "\(row.seeds)", "\(configuration.epochs)", fixed(row.accuracyMean, 6), fixed(row.accuracyStd, 6),
                          fixed(row.finalLossMean, 6), fixed(row.finalLossStd, 6), fixed(row.secondsMean, 3)]
                .joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `runs.csv`: one line per run, with its seed.
    public func runsCSV() -> String {
        var lines = ["normalization,per_rank_batch,ranks,global_batch,seed,epochs,steps,accuracy,final_loss,seconds"]
        for record in records {
            lines.append([record.key.normalization.rawValue, "\(record.key.perRankBatch)", "\(record.ranks)",
                          "\(record.key.perRankBatch * record.ranks)", "\(record.key.seed)", "\(configuration.epochs)",
                          "\(record.result.steps)", fixed(record.result.testAccuracy, 6), fixed(record.result.finalLoss, 6),
                          fixed(record.result.seconds, 3)].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes `results.csv`, `runs.csv`, `accuracy.svg` and `results.md` into `directory`
    /// (created if needed) and returns their URLs.
    @discardableResult
    public func write(to directory: URL) throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let files = [("results.csv", summaryCSV()), ("runs.csv", runsCSV()), ("accuracy.svg", svg()),
                     ("results.md", markdown() + "\n")]
        return try files.map { name, text in
            let url = directory.appendingPathComponent(name)
            try Data(text.utf8).write(to: url, options: .atomic)
            return url
        }
    }
}

func meanAndStd(_ values: [Double]) -> (mean: Double, std: Double) {
    guard !values.isEmpty else { return (.nan, .nan) }
    let mean = values.reduce(0, +) / Double(values.count)
    guard values.count > 1 else { return (mean, 0) }
    let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)
    return (mean, variance.squareRoot())
}

/// `value` with exactly `digits` decimals ("nan" and "inf" for non-finite values).
func fixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
    return String(format: "%.\(digits)f", value)
}
