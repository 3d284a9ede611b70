import NormKit
import Foundation

/// One measured case, and what it means against the memory roofline.
struct BenchResult {
    let benchCase: BenchCase
    /// The median time of the timed phase, in seconds.
    let medianSeconds: Double
    let sampleCount: Int
    /// `Parallelism.threadCount` during the run.
    let threads: Int
    /// The copy bandwidth the roofline uses, in GB/s.
    let bandwidthGBps: Double
    /// For syncbatchnorm2d: the same phase of `BatchNorm2d` on the same shard, alone on one
    /// thread, in seconds.
    let baselineSeconds: Double?
    /// With `--interleave`: the median over rounds of this case's time over the first case's.
    var pairedRatio: Double? = nil
    /// With `--bare-pass`: the time of the case's bare pass (``BarePass``), in seconds.
    var barePassSeconds: Double? = nil

    /// Floor bytes per second of median time, in GB/s.
    var achievedGBps: Double? { benchCase.floorBytes.map { Double($0) / medianSeconds / 1e9 } }

    /// The roofline time (floor bytes at the copy bandwidth) as a percentage of the median.
    var rooflinePercent: Double? {
        benchCase.floorBytes.map { 100 * (Double($0) / (bandwidthGBps * 1e9)) / medianSeconds }
    }

    /// How many times the bare pass read the inputs (``BenchCase/inputSweeps``); `nil` without one.
    var barePassSweeps: Int? { barePassSeconds.map { _ in benchCase.inputSweeps } }

    /// The bare pass's time as a percentage of the median: 100% is as fast as the bytes move.
    var barePassPercent: Double? { barePassSeconds.map { 100 * $0 / medianSeconds } }

    /// What synchronizing costs per call over the single-rank baseline, in seconds.
    var extraSeconds: Double? { baselineSeconds.map { medianSeconds - $0 } }
}

/// The `--json` form of a result: one JSON object per line. Keys: `case` (the canonical case
/// string), `label`, `median_s`, `samples`, `threads`, `simd` (the instruction set of the loops),
/// `huge_pages` (``HugePages/isEnabled``), `bandwidth_gbps`, and `gbps`,
/// `floor_bytes`, `roofline_pct` (null for the distributed cases), `baseline_s` and `extra_s`
/// (syncbatchnorm2d only, else null), `paired_ratio` (with `--interleave`, else null), and
/// `bare_pass_s`, `bare_pass_pct`, `bare_pass_sweeps` (with `--bare-pass`, else null).
struct BenchRecord: Encodable {
    let result: BenchResult

    enum CodingKeys: String, CodingKey {
        case `case`, label, median_s, samples, threads, simd, huge_pages, bandwidth_gbps, gbps, floor_bytes, roofline_pct, baseline_s, extra_s,
             paired_ratio, bare_pass_s, bare_pass_pct, bare_pass_sweeps
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(result.benchCase.canonical, forKey: .case)
        try container.encode(result.benchCase.label, forKey: .label)
        try container.encode(result.medianSeconds, forKey: .median_s)
        try container.encode(result.sampleCount, forKey: .samples)
        try container.encode(result.threads, forKey: .threads)
        try container.encode(InstructionSet.active.description, forKey: .simd)
        try container.encode(HugePages.isEnabled, forKey: .huge_pages)
        try container.encode(result.bandwidthGBps, forKey: .bandwidth_gbps)
        // Explicit nulls, so that every line has every key.
        try container.encode(result.achievedGBps, forKey: .gbps)
        try container.encode(result.benchCase.floorBytes, forKey: .floor_bytes)
        try container.encode(result.rooflinePercent, forKey: .roofline_pct)
        try container.encode(result.baselineSeconds, forKey: .baseline_s)
        try container.encode(result.extraSeconds, forKey: .extra_s)
        try container.encode(result.pairedRatio, forKey: .paired_ratio)
        try container.encode(result.barePassSeconds, forKey: .bare_pass_s)
        try container.encode(result.barePassPercent, forKey: .bare_pass_pct)
        try container.encode(result.barePassSweeps, forKey: .bare_pass_sweeps)
    }

    /// The record as one line of JSON, keys sorted.
    func line() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}

/// The human-readable report: a header with the copy bandwidth, then one table row per case.
enum BenchTable {
    static let columns = ["case", "median", "GB/s", "floor", "roofline", "note"]
    /// With `--bare-pass`, before the note.
    static let barePassColumns = ["bare pass", "% bare"]

    static func header(bandwidthGBps: Double, threads: Int) -> String {
        "copy bandwidth \(String(format: "%.1f", bandwidthGBps)) GB/s (read + write, "
            + "\(CopyBandwidth.bufferBytes >> 20) MiB buffers, \(threads) thread\(threads == 1 ? "" : "s"), "
            + "\(InstructionSet.active) loops\(HugePages.isEnabled ? ", huge pages" : "")); "
            + "roofline = floor bytes ÷ copy bandwidth, % = roofline time ÷ median"
    }

    /// A result's cells; `barePass`: with the bare pass's two (dashes where it has none; its time
    /// marked where it reads the inputs twice).
    static func row(_ result: BenchResult, barePass: Bool) -> [String] {
        let note = result.baselineSeconds.map { baseline in
            "BatchNorm2d alone \(duration(baseline)); synchronizing adds \(duration(result.medianSeconds - baseline))"
        } ?? result.pairedRatio.map { String(format: "×%.3f the first case's time, paired", $0) }
        let sweeps = result.barePassSweeps == 2 ? " (2 sweeps)" : ""
        let barePassCells = barePass
            ? [result.barePassSeconds.map { duration($0) + sweeps } ?? "—",
               result.barePassPercent.map { String(format: "%.0f%%", $0) } ?? "—"]
            : []
        return [result.benchCase.label,
                duration(result.medianSeconds),
                result.achievedGBps.map { String(format: "%.1f", $0) } ?? "—",
                result.benchCase.floorBytes.map(bytes) ?? "—",
                result.rooflinePercent.map { String(format: "%.0f%%", $0) } ?? "—"]
            + barePassCells + [note ?? ""]
    }

    /// Rows aligned under `columns` (and the bare pass's, when a result has one), numbers
    /// right-aligned.
    static func render(_ results: [BenchResult]) -> String {
        let barePass = results.contains { $0.barePassSeconds != nil }
        let header = Array(columns.dropLast()) + (barePass ? barePassColumns : []) + [columns.last!]
        let rows = [header] + results.map { row($0, barePass: barePass) }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { cells in
            cells.enumerated().map { column, cell in
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                return (1..<header.count - 1).contains(column) ? padding + cell : cell + padding
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }

    /// A duration with a unit that keeps three or four significant digits.
    static func duration(_ seconds: Double) -> String {
        switch abs(seconds) {
        case ..<1e-3: String(format: "%.2f µs", seconds * 1e6)
        case ..<1: String(format: "%.3f ms", seconds * 1e3)
        default: String(format: "%.3f s", seconds)
        }
    }

    /// A byte count in decimal units (kB, MB, GB).
    static func bytes(_ count: Int) -> String {
        let value = Double(count)
        switch value {
        case ..<1e6: return String(format: "%.1f kB", value / 1e3)
        case ..<1e9: return String(format: "%.1f MB", value / 1e6)
        default: return String(format: "%.2f GB", value / 1e9)
        }
    }
}
