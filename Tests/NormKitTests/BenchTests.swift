import Foundation
import Testing
import NormKit
@testable import normkit

/// `normkit bench`: case strings in and out, and one tiny case of each kind end to end.
@Suite struct BenchTests {
    @Test func parsesACaseWithItsDefaults() throws {
        let parsed = try BenchCase(parsing: " layer=groupnorm , shape=16x256x32x32,layout=nhwc")
        #expect(parsed == BenchCase(layer: .groupnorm, shape: [16, 256, 32, 32], mode: .forward, layout: .nhwc,
                                    dtype: .float32, groups: 32, ranks: nil))
        #expect(parsed.canonical == "layer=groupnorm,shape=16x256x32x32,groups=32,mode=forward,layout=nhwc")
        #expect(parsed.label == "groupnorm(32) 16x256x32x32 forward nhwc")
        #expect(parsed.floorBytes == 2 * 16 * 256 * 32 * 32 * 4)

        let backward = try BenchCase(parsing: "layer=batchnorm1d,shape=4096x1024,mode=backward,dtype=float64")
        #expect(backward.canonical == "layer=batchnorm1d,shape=4096x1024,mode=backward,layout=nchw,dtype=float64")
        #expect(backward.floorBytes == 3 * 4096 * 1024 * 8)

        let collective = try BenchCase(parsing: "layer=collective")
        #expect(collective.canonical == "layer=collective,shape=8,ranks=2")
        #expect(collective.floorBytes == nil)
    }

    @Test func everyDefaultCaseRoundTripsThroughItsCanonicalString() throws {
        for benchCase in BenchSuite.defaultCases {
            #expect(try BenchCase(parsing: benchCase.canonical) == benchCase, "\(benchCase.canonical)")
        }
        let listed = BenchSuite.defaultCases.map(\.canonical)
        #expect(Set(listed).count == listed.count, "the default suite repeats a case")
        #expect(Set(BenchSuite.defaultCases.map(\.layer)) == Set(BenchCase.Layer.allCases))
    }

    @Test(arguments: [
        ("layer=batchnorm2d", "shape= is required"),
        ("shape=2x3x4x4", "layer= is required"),
        ("layer=batchnorm4d,shape=2x3", "layer=batchnorm4d is not one of"),
        ("layer=batchnorm2d,shape=2x3x4", "batchnorm2d takes 4 dimensions, shape=2x3x4 has 3"),
        ("layer=batchnorm2d,shape=2x3x-4x4", "\"-4\" is not a positive integer"),
        ("layer=batchnorm2d,shape=2x3xx4", "\"\" is not a positive integer"),
        ("layer=batchnorm2d,shape=2x3x+4x4", "\"+4\" is not a positive integer"),
        ("layer=groupnorm,shape=2x6x4x4,groups=+3", "groups=+3 is not a positive integer"),
        ("layer=batchnorm2d,shape=2x3x4x4,mode=sideways", "mode=sideways is not one of"),
        ("layer=batchnorm2d,shape=2x3x4x4,mode=step", "mode=step applies only to syncbatchnorm2d"),
        ("layer=layernorm,shape=8x16,layout=nhwc", "layout=nhwc applies to"),
        ("layer=batchnorm1d,shape=8x16x4,layout=nhwc", "layout=nhwc applies to"),
        ("layer=groupnorm,shape=2x6x4x4,groups=4", "groups=4 does not divide the 6 channels"),
        ("layer=groupnorm,shape=2x6x4x4,groups=0", "groups=0 is not a positive integer"),
        ("layer=rmsnorm,shape=8x16,groups=2", "groups= applies only to groupnorm"),
        ("layer=rmsnorm,shape=8x16,ranks=2", "ranks= applies only to"),
        ("layer=rmsnorm,shape=8x16,dtype=float8", "dtype=float8 is not one of"),
        ("layer=syncbatchnorm2d,shape=8x16x4x4,dtype=bfloat16", "dtype=bfloat16 does not apply to syncbatchnorm2d"),
        ("layer=rmsnorm,shape=8x16,colour=blue", "unknown key \"colour\""),
        ("layer=rmsnorm,shape=8x16,shape=4x4", "shape is given twice"),
        ("layer=rmsnorm,shape", "\"shape\" is not key=value"),
        ("layer=collective,mode=forward", "mode= does not apply to a collective"),
        ("layer=syncbatchnorm2d,shape=8x16x4x4,mode=eval", "mode=eval does not apply to syncbatchnorm2d"),
        ("layer=memoryformat,shape=8x16x4", "memoryformat takes 4 to 5 dimensions"),
        ("layer=memoryformat,shape=8x16x4x4,mode=backward", "mode=backward does not apply to memoryformat"),
        ("layer=batchnorm2d,shape=99999999999x99999999999x9x9", "more than Int.max bytes"),
        ("layer=layernorm,shape=1048576x1048576", "needs four tensors of 4398046511104 bytes"),
        ("layer=syncbatchnorm2d,shape=2x3x4x4,ranks=100000", "ranks=100000 is more than the 4096 ranks"),
    ])
    func rejectsABadCaseWithAClearMessage(text: String, problem: String) {
        do {
            let parsed = try BenchCase(parsing: text)
            Issue.record("\"\(text)\" parsed as \(parsed.canonical)")
        } catch {
            #expect(error.description.contains(problem), "\(error.description)")
            #expect(error.description.contains(text))
        }
        #expect(throws: (any Error).self) { try Bench.parse(["--case", text]) }
    }

    @Test func threadCountsPastThePoolAreRejected() throws {
        #expect(throws: (any Error).self) { try Bench.parse(["--threads", "1000000000000", "--case", "layer=layernorm,shape=4x4"]) }
        #expect(throws: (any Error).self) { try Bench.parse(["--threads", "257"]) }
        _ = try Bench.parse(["--threads", "256", "--case", "layer=layernorm,shape=4x4"])
    }

    @Test func splitsCaseListsOnSemicolons() throws {
        let cases = try BenchCase.parseList(["layer=rmsnorm,shape=4x8; layer=layernorm,shape=4x8;", "layer=collective"])
        #expect(cases.map(\.layer) == [.rmsnorm, .layernorm, .collective])
    }

    @Test func exactPolicyTakesOneWarmupCallAndTheGivenSamples() {
        var calls = 0
        let sampler = Sampler.measure(.exact(count: 4)) { calls += 1 }
        #expect(calls == 5)
        #expect(sampler.samples.count == 4)
    }

    /// A Float layer on half-precision input: the floor counts 2 bytes per element.
    @Test(arguments: ["float16", "bfloat16"])
    func runsHalfPrecisionCases(dtype: String) throws {
        let text = "layer=layernorm,shape=4x8,mode=backward,layout=nchw,dtype=\(dtype)"
        let record = try runJSON(["--case", text, "--iterations", "1", "--bandwidth", "10"])
        #expect(record["case"] as? String == text)
        #expect(record["floor_bytes"] as? Int == 3 * 32 * 2)
        #expect((record["median_s"] as? Double ?? 0) > 0)
    }

    /// `layer=memoryformat` times the conversion into the format `layout` names, from the other.
    @Test(arguments: [("nhwc", "withMemoryFormat 2x3x4x5 nchw to nhwc"), ("nchw", "withMemoryFormat 2x3x4x5 nhwc to nchw")])
    func runsAMemoryFormatConversion(layout: String, label: String) throws {
        let text = "layer=memoryformat,shape=2x3x4x5,mode=forward,layout=\(layout),dtype=bfloat16"
        let record = try runJSON(["--case", text, "--iterations", "2", "--bandwidth", "10"])
        #expect(record["case"] as? String == text)
        #expect(record["label"] as? String == label + " bfloat16")
        #expect(record["floor_bytes"] as? Int == 2 * 120 * 2)
        #expect(record["samples"] as? Int == 2)
        #expect((record["median_s"] as? Double ?? 0) > 0)
    }

    @Test func runsATinyCaseEndToEndAsJSON() throws {
        let text = "layer=batchnorm2d,shape=2x3x4x4,mode=backward,layout=nhwc"
        let record = try runJSON(["--case", text, "--iterations", "1", "--bandwidth", "10"])
        #expect(record["case"] as? String == text)
        #expect(record["samples"] as? Int == 1)
        #expect(record["threads"] as? Int == Parallelism.threadCount)
        #expect(record["simd"] as? String == InstructionSet.active.description)
        #expect(record["huge_pages"] is Bool)  // its value: HugePagesTests changes the setting meanwhile
        #expect(record["bandwidth_gbps"] as? Double == 10)
        #expect(record["floor_bytes"] as? Int == 3 * 96 * 4)
        let median = try #require(record["median_s"] as? Double)
        #expect(median > 0)
        let gbps = try #require(record["gbps"] as? Double)
        #expect(abs(gbps - Double(3 * 96 * 4) / median / 1e9) <= 1e-9 * gbps)
        let roofline = try #require(record["roofline_pct"] as? Double)
        #expect(abs(roofline - 100 * gbps / 10) <= 1e-9 * roofline)
        #expect(record["baseline_s"] is NSNull)
        #expect(record["paired_ratio"] is NSNull)
        #expect(record["bare_pass_s"] is NSNull)
        #expect(record["bare_pass_pct"] is NSNull)
    }

    /// `--bare-pass`: each case's bare pass is timed, and its share of the case's median given;
    /// the distributed cases have none. The table gets the two columns.
    @Test func timesEachCasesBarePass() throws {
        let cases = "layer=batchnorm2d,shape=2x3x4x4,mode=backward;layer=rmsnorm,shape=4x8,dtype=bfloat16;layer=collective"
        let records = try runJSONLines(["--case", cases, "--iterations", "2", "--bandwidth", "10", "--bare-pass"])
        try #require(records.count == 3)
        for record in records.prefix(2) {
            let median = try #require(record["median_s"] as? Double), bare = try #require(record["bare_pass_s"] as? Double)
            #expect(bare > 0)
            let percent = try #require(record["bare_pass_pct"] as? Double)
            #expect(abs(percent - 100 * bare / median) <= 1e-9 * percent)
        }
        #expect(records.map { $0["bare_pass_sweeps"] as? Int } == [1, 1, nil])
        #expect(records[2]["bare_pass_s"] is NSNull)
        var table: [String] = []
        try Bench.parse(["--case", cases, "--iterations", "1", "--bandwidth", "10", "--bare-pass"]).execute { table.append($0) }
        let rows = try #require(table.last).split(separator: "\n")
        #expect(rows.first?.contains("roofline  bare pass  % bare  note") == true, "\(rows.first ?? "")")
        #expect(rows.last?.split(separator: " ").suffix(5).allSatisfy { $0 == "—" } == true, "\(rows.last ?? "")")
        #expect(throws: (any Error).self) { try Bench.parse(["--interleave", "--bare-pass", "--case", cases]) }
    }

    /// The bare pass reads the inputs twice exactly where BatchNorm's training statistics need
    /// every row first: channels-last or `(N, C)` input, forward or backward.
    @Test(arguments: [
        ("layer=batchnorm2d,shape=2x3x4x4,mode=forward,layout=nhwc", 2),
        ("layer=batchnorm3d,shape=2x3x4x4x4,mode=backward,layout=nhwc", 2),
        ("layer=batchnorm1d,shape=8x3,mode=backward", 2),
        ("layer=batchnorm1d,shape=8x3,mode=eval", 1),
        ("layer=batchnorm1d,shape=8x3x5,mode=forward", 1),
        ("layer=batchnorm2d,shape=2x3x4x4,mode=forward", 1),
        ("layer=batchnorm2d,shape=2x3x4x4,mode=eval,layout=nhwc", 1),
        ("layer=instancenorm2d,shape=2x3x4x4,mode=forward,layout=nhwc", 1),
        ("layer=groupnorm,shape=2x4x4x4,groups=2,mode=backward,layout=nhwc", 1),
    ])
    func barePassSweepsTheInputsTwiceWhereStatisticsNeedEveryRow(_ text: String, sweeps: Int) throws {
        #expect(try BenchCase(parsing: text).inputSweeps == sweeps, "\(text)")
    }

    /// The bare pass moves every byte, in every vector width this CPU runs, streamed or not, on
    /// one thread or three, at every alignment and length about a few vectors: the copy gives
    /// the input, the combination the inputs' XOR.
    @Test func barePassMovesEveryByte() {
        var random = SeededGenerator(seed: 7)
        let capacity = 1024
        let buffers = (0..<3).map { _ in UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64) }
        defer { buffers.forEach { $0.deallocate() } }
        for index in 0..<2 {
            for byte in 0..<capacity { buffers[index].storeBytes(of: UInt8.random(in: 0...255, using: &random), toByteOffset: byte, as: UInt8.self) }
        }
        func bytes(_ buffer: UnsafeMutableRawPointer, _ offset: Int, _ count: Int) -> [UInt8] {
            Array(UnsafeRawBufferPointer(start: buffer + offset, count: count))
        }
        for set in InstructionSet.allCases where set <= InstructionSet.supported {
            for (offset, length) in [(0, 0), (0, 1), (3, 63), (16, 200), (48, 129), (5, 700), (64, 960)] {
                for streamed in [false, true] {
                    for threads in [1, 3] {
                        let what = "\(set) offset \(offset) length \(length) streamed \(streamed) threads \(threads)"
                        let addresses = buffers.map { UInt(bitPattern: $0) + UInt(offset) }
                        buffers[2].initializeMemory(as: UInt8.self, repeating: 0xA5, count: capacity)
                        BarePass.run([addresses[0], addresses[2]], bytes: length, vectorsOf: set, streamed: streamed, threads: threads)
                        #expect(bytes(buffers[2], offset, length) == bytes(buffers[0], offset, length), "copy \(what)")
                        buffers[2].initializeMemory(as: UInt8.self, repeating: 0xA5, count: capacity)
                        let inputs = bytes(buffers[0], offset, length) + bytes(buffers[1], offset, length)
                        let read = BarePass.run(addresses, bytes: length, vectorsOf: set, streamed: streamed, threads: threads,
                                                inputSweeps: 2)
                        #expect(read == inputs.reduce(0, ^), "first sweeps \(what)")
                        let xor = zip(bytes(buffers[0], offset, length), bytes(buffers[1], offset, length)).map { $0 ^ $1 }
                        #expect(bytes(buffers[2], offset, length) == xor, "combine \(what)")
                        let untouched = bytes(buffers[2], 0, offset) + bytes(buffers[2], offset + length, capacity - offset - length)
                        #expect(untouched.allSatisfy { $0 == 0xA5 }, "wrote outside the range: \(what)")
                    }
                }
            }
        }
    }

    @Test func runsTheDistributedCasesEndToEnd() throws {
        let collective = try runJSON(["--case", "layer=collective,shape=8,ranks=2", "--iterations", "2", "--bandwidth", "10"])
        #expect(collective["samples"] as? Int == 2)
        #expect(collective["floor_bytes"] is NSNull)

        let sync = try runJSON(["--case", "layer=syncbatchnorm2d,shape=2x4x2x2,mode=step,ranks=2", "--iterations", "1",
                                "--bandwidth", "10"])
        let median = try #require(sync["median_s"] as? Double)
        let baseline = try #require(sync["baseline_s"] as? Double)
        let extra = try #require(sync["extra_s"] as? Double)
        #expect(abs(median - baseline - extra) <= 1e-12)

        // One value per channel a shard: SyncBatchNorm trains on the global batch of four, the
        // single-shard BatchNorm2d cannot, so there is no baseline.
        let small = try runJSON(["--case", "layer=syncbatchnorm2d,shape=1x2x1x1,mode=step,ranks=4", "--iterations", "1",
                                 "--bandwidth", "10"])
        #expect(small["median_s"] is Double)
        #expect(small["baseline_s"] is NSNull && small["extra_s"] is NSNull)
    }

    /// `--interleave`: every case gets its samples, and the second case's time over the first's,
    /// paired round by round, tells a tensor 16,384 times larger apart.
    @Test func interleavedCasesReportTheirTimeRelativeToTheFirst() throws {
        let small = "layer=batchnorm2d,shape=2x3x4x4,mode=forward,layout=nchw"
        let large = "layer=batchnorm2d,shape=16x96x32x32,mode=backward,layout=nhwc"
        let records = try runJSONLines(["--interleave", "--case", small, "--case", large, "--iterations", "3", "--bandwidth", "10"])
        try #require(records.count == 2)
        #expect(records.map { $0["case"] as? String } == [small, large])
        #expect(records.allSatisfy { $0["samples"] as? Int == 3 })
        #expect(records[0]["paired_ratio"] as? Double == 1)
        let ratio = try #require(records[1]["paired_ratio"] as? Double)
        #expect(ratio > 10, "the large case took only \(ratio)× the small one's time")
    }

    /// Interleaved rounds end when the slowest case has its --min-time (every case with its
    /// minimum of samples), not when the fastest has: a 10 µs case beside a 10 ms one would
    /// otherwise take a thousand times as many rounds.
    @Test func interleavedRoundsEndWithTheSlowestCase() {
        var samplers = [Sampler(.adaptive(minimumSeconds: 0.3)), Sampler(.adaptive(minimumSeconds: 0.3))]
        var rounds = 0
        repeat {
            samplers[0].record(10e-6)
            samplers[1].record(10e-3)
            rounds += 1
        } while !InterleavedBench.haveEnoughRounds(samplers) && rounds < 1_000_000
        // The fast case warms up for 0.05 s of its own calls (5,000 rounds), then takes 5 samples;
        // the slow one has 0.3 s of samples after 35 rounds. Every case's own 0.3 s: 35,000 rounds.
        #expect((5_005...5_010).contains(rounds), "\(rounds) rounds")
        #expect(samplers[0].samples.count == 5)
        #expect(samplers[1].isDone && !samplers[0].isDone)
    }

    @Test(arguments: [
        ["--interleave", "--case", "layer=rmsnorm,shape=4x8"],
        ["--interleave", "--case", "layer=rmsnorm,shape=4x8", "--case", "layer=collective"],
    ])
    func interleavingRefusesWhatItCannotPair(arguments: [String]) {
        #expect(throws: (any Error).self) { try Bench.parse(arguments) }
    }

    @Test func anInterleavedCaseThatThrowsIsNamed() throws {
        let failing = "layer=batchnorm2d,shape=1x4x1x1"
        let command = try Bench.parse(["--interleave", "--case", "layer=batchnorm2d,shape=2x4x2x2", "--case", failing,
                                       "--iterations", "1", "--bandwidth", "10", "--json"])
        #expect { try command.execute { _ in } } throws: { error in
            "\(error)".contains("layer=batchnorm2d,shape=1x4x1x1,mode=forward") && "\(error)".contains("more than 1 value per channel")
        }
    }

    /// A case that throws after others were measured: the error names it, and the table of
    /// the cases before it is still written.
    @Test func casesMeasuredBeforeOneThatThrowsAreReported() throws {
        let command = try Bench.parse(["--case", "layer=layernorm,shape=4x4;layer=batchnorm1d,shape=1x4", "--iterations", "1",
                                       "--bandwidth", "10"])
        var lines: [String] = []
        #expect { try command.execute { lines.append($0) } } throws: { "\($0)".contains("layer=batchnorm1d,shape=1x4") }
        #expect(lines.last?.contains("layernorm 4x4 forward") == true, "\(lines)")
    }

    /// Runs `normkit bench --json` with `arguments` and returns its one JSON object.
    private func runJSON(_ arguments: [String]) throws -> [String: Any] {
        let records = try runJSONLines(arguments)
        try #require(records.count == 1, "\(records)")
        return records[0]
    }

    /// Runs `normkit bench --json` with `arguments` and returns its JSON objects, one per line.
    private func runJSONLines(_ arguments: [String]) throws -> [[String: Any]] {
        let command = try Bench.parse(arguments + ["--json"])
        var lines: [String] = []
        try command.execute { lines.append($0) }
        return try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }
}
