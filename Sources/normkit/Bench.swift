import ArgumentParser
import Foundation
import NormKit

/// `normkit bench`: times NormKit's layers through the public API from this module, and holds
/// each time to the memory roofline of this machine.
///
/// It measures the copy bandwidth first (see ``CopyBandwidth``), then runs the default suite
/// (``BenchSuite``) or the `--case` strings, and prints one table row (or with `--json`, one JSON
/// line) per case: the median time, the floor bytes moved per second, the floor bytes, and the
/// roofline time (floor bytes ÷ copy bandwidth) as a percentage of the median; with
/// `--bare-pass`, also the time of the case's bare pass (``BarePass``) and its percentage of the
/// median. Build it in release: `swift run -c release normkit bench`.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the layers against the memory roofline (build with -c release).",
        discussion: """
        A case string is comma-separated key=value pairs, for example
          layer=batchnorm2d,shape=32x64x56x56,mode=backward,layout=nhwc
          layer=groupnorm,shape=16x256x32x32,groups=32,dtype=float64
          layer=syncbatchnorm2d,shape=8x16x4x4,mode=step,ranks=2
          layer=collective,shape=8,ranks=2
          layer=memoryformat,shape=32x64x56x56,layout=nhwc
        layer   batchnorm1d/2d/3d, instancenorm1d/2d/3d, layernorm, rmsnorm,
                groupnorm, syncbatchnorm2d, collective (an allReducedSum of
                `shape` Doubles between thread ranks), memoryformat
                (Tensor.withMemoryFormat on 4-D or 5-D input)
        mode    forward (training; the default), eval, backward (the
                backward pass alone), step (syncbatchnorm2d: both)
        layout  nchw (the default) or nhwc (channels-last: 2d/3d batch and
                instance norm, groupnorm; memoryformat: the format
                converted to, from the other)
        groups  groupnorm's group count, default 32
        dtype   float32 (the default), float64, or float16 / bfloat16
                (a Float layer on half-precision input)
        ranks   thread ranks of syncbatchnorm2d and collective, default 2
        """)

    @Option(name: .customLong("case"),
            help: ArgumentHelp("A case to run instead of the default suite; repeatable, or several joined by ';'.",
                               valueName: "case-string"))
    var caseStrings: [String] = []

    @Flag(help: "Print one JSON object per case and line instead of the table.")
    var json = false

    @Flag(help: "Print the default suite's case strings, one per line, and run nothing.")
    var list = false

    @Option(help: "Threads for NormKit's kernels and the copy bandwidth (default: Parallelism.threadCount).")
    var threads: Int?

    @Option(help: "Time exactly this many calls per case after one warm-up call.")
    var iterations: Int?

    @Option(name: .customLong("min-time"), help: "Seconds of timed calls per case, at least 5 calls (ignored with --iterations).")
    var minimumSeconds = 0.3

    @Option(name: .customLong("bandwidth"), help: "Copy bandwidth in GB/s to use instead of measuring it.")
    var bandwidthGBps: Double?

    @Flag(help: ArgumentHelp(
        "Run the --case strings in turns, one call of each per round, and report each against the first.",
        discussion: """
            The time ratio is the median over rounds, so that the machine's drift falls on every case alike. \
            The rounds end when the slowest case has --min-time of calls (every case at least 5).
            """))
    var interleave = false

    @Flag(name: .customLong("bare-pass"), help: ArgumentHelp(
        "Also time each case's bare pass: its floor bytes moved with nothing computed (see BarePass).",
        discussion: """
            Prints its time and its share of the case's median: how near the case is to the fastest \
            any kernel could move its bytes here. Takes about four times --min-time more per case.
            """))
    var barePass = false

    /// The most threads `--threads` takes: the kernel pool's 255 workers and the caller.
    static let maximumThreads = 256

    mutating func validate() throws {
        if let threads, !(1...Self.maximumThreads).contains(threads) {
            throw ValidationError("--threads must be between 1 and \(Self.maximumThreads) (got \(threads))")
        }
        if let iterations, iterations < 1 { throw ValidationError("--iterations must be at least 1") }
        if !(minimumSeconds > 0) { throw ValidationError("--min-time must be positive") }
        if let bandwidthGBps, !(bandwidthGBps > 0) { throw ValidationError("--bandwidth must be positive") }
        let cases: [BenchCase]
        do { cases = try BenchCase.parseList(caseStrings) } catch { throw ValidationError(error.description) }
        if interleave {
            if barePass { throw ValidationError("--bare-pass times each case alone; drop --interleave") }
            guard cases.count >= 2 else { throw ValidationError("--interleave needs at least two --case strings") }
            if let distributed = cases.first(where: { $0.layer.isDistributed }) {
                throw ValidationError("--interleave runs single-process layers; \(distributed.canonical) runs on thread ranks")
            }
        }
    }

    func run() throws {
        // Unbuffered, so that a reader of a pipe sees each case as soon as it is measured.
        try execute { line in FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
    }

    /// Runs the command, handing each line of standard output to `write`.
    func execute(write: (String) -> Void) throws {
        if list {
            BenchSuite.defaultCases.forEach { write($0.canonical) }
            return
        }
        let cases = caseStrings.isEmpty ? BenchSuite.defaultCases : try BenchCase.parseList(caseStrings)
        if let threads { Parallelism.threadCount = threads }
        let threadCount = Parallelism.threadCount
        let policy: TimingPolicy = iterations.map { .exact(count: $0) } ?? .adaptive(minimumSeconds: minimumSeconds)

        let progress = ProgressLine()
        progress.show("measuring the copy bandwidth…")
        let bandwidth = bandwidthGBps ?? CopyBandwidth.measure(threads: threadCount)
        if !json { write(BenchTable.header(bandwidthGBps: bandwidth, threads: threadCount)) }

        if interleave {
            progress.show("\(cases.count) cases in turns…")
            let outcomes = try InterleavedBench.measure(cases, policy: policy)
            let results = zip(cases, outcomes).map { benchCase, outcome in
                BenchResult(benchCase: benchCase, medianSeconds: outcome.sampler.median, sampleCount: outcome.sampler.samples.count,
                            threads: threadCount, bandwidthGBps: bandwidth, baselineSeconds: nil, pairedRatio: outcome.pairedRatio)
            }
            progress.clear()
            if json { try results.forEach { write(try BenchRecord(result: $0).line()) } } else { write(BenchTable.render(results)) }
            return
        }
        let inputs = InputCache()
        var results: [BenchResult] = []
        // The cases measured before one that throws are still reported, table and all.
        defer {
            progress.clear()
            if !json, !results.isEmpty { write(BenchTable.render(results)) }
        }
        for (index, benchCase) in cases.enumerated() {
            progress.show("[\(index + 1)/\(cases.count)] \(benchCase.label)…")
            let result = try measure(benchCase, policy: policy, inputs: inputs, threads: threadCount, bandwidth: bandwidth)
            if json { write(try BenchRecord(result: result).line()) }
            results.append(result)
        }
    }

    private func measure(
        _ benchCase: BenchCase, policy: TimingPolicy, inputs: InputCache, threads: Int, bandwidth: Double
    ) throws -> BenchResult {
        do {
            let (sampler, baseline) = benchCase.layer.isDistributed
                ? try DistributedBench.measure(benchCase, policy: policy, inputs: inputs)
                : (try LayerBench.measure(benchCase, policy: policy, inputs: inputs), nil)
            return BenchResult(benchCase: benchCase, medianSeconds: sampler.median, sampleCount: sampler.samples.count,
                               threads: threads, bandwidthGBps: bandwidth, baselineSeconds: baseline?.median,
                               barePassSeconds: barePass ? BarePass.measure(benchCase, policy: policy, threads: threads) : nil)
        } catch {
            throw BenchFailure(caseString: benchCase.canonical, error: error)
        }
    }
}

/// A case that threw while running.
struct BenchFailure: Error, CustomStringConvertible {
    let caseString: String
    let error: any Error

    var description: String { "case \"\(caseString)\" failed: \(error)" }
}

/// One line on standard error, rewritten in place (`\r`), shown only when standard error is a
/// terminal.
final class ProgressLine {
    private let isTerminal = isatty(STDERR_FILENO) == 1

    func show(_ text: String) { emit("\r\u{1B}[K" + text) }

    func clear() { emit("\r\u{1B}[K") }

    private func emit(_ text: String) {
        guard isTerminal else { return }
        FileHandle.standardError.write(Data(text.utf8))
    }
}
