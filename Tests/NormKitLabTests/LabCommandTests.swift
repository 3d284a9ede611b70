import Foundation
import Testing
@testable import NormKitLab
import NormKit
@testable import normkit
import NormKitTestSupport
#if canImport(FoundationXML)
import FoundationXML
#endif

/// `normkit lab --quick` end to end: the table, results.csv, runs.csv and a well-formed SVG.
///
/// Debug builds run the SIMD kernels about 200× slower than release builds, so the test keeps
/// the quick grid (every normalization, batch sizes 4 and 16, 2 local ranks) but trains one epoch
/// on the first 32 images and tests on 16 (`--train-limit` and `--test-limit` are hidden options).
@Suite(.serialized) struct LabCommandTests {
    func runQuick(into folder: URL, extra: [String] = []) throws {
        var command = try Lab.parseAsRoot(["--quick", "--out", folder.path, "--train-limit", "32", "--test-limit", "16", "--epochs", "1",
                                           "--no-progress"] + extra)
        try command.run()
    }

    func temporaryFolder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("normkit-lab-\(UUID().uuidString)")
    }

    @Test func quickWritesWellFormedResults() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try runQuick(into: folder)

        let csv = try String(contentsOf: folder.appendingPathComponent("results.csv"), encoding: .utf8)
        let lines = csv.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = lines[0]
        #expect(Array(header.prefix(5)) == ["normalization", "per_rank_batch", "ranks", "global_batch", "seeds"])
        #expect(header.contains("accuracy_mean") && header.contains("accuracy_std") && header.contains("final_loss_mean"))
        #expect(lines.count == 1 + Normalization.allCases.count * 2)
        for row in lines.dropFirst() {
            #expect(row.count == header.count)
            #expect(Normalization(rawValue: row[0]) != nil)
            #expect(["4", "16"].contains(row[1]) && row[2] == "2" && Int(row[3]) == 2 * Int(row[1])!)
            let accuracy = Double(row[header.firstIndex(of: "accuracy_mean")!])!
            #expect((0...1).contains(accuracy))
            #expect(Double(row[header.firstIndex(of: "accuracy_std")!]) == 0)  // one seed
        }
        let runs = try String(contentsOf: folder.appendingPathComponent("runs.csv"), encoding: .utf8)
        #expect(runs.split(separator: "\n").count == 1 + Normalization.allCases.count * 2)

        let svgURL = folder.appendingPathComponent("accuracy.svg")
        let svg = try String(contentsOf: svgURL, encoding: .utf8)
        let parser = XMLParser(contentsOf: svgURL)!
        let collector = ElementCollector()
        parser.delegate = collector
        #expect(parser.parse(), "accuracy.svg is well-formed XML: \(String(describing: parser.parserError))")
        #expect(collector.root == "svg")
        #expect(collector.counts["polyline"] == Normalization.allCases.count)  // one line per normalization
        for normalization in Normalization.allCases { #expect(svg.contains(">\(normalization.displayName)</text>")) }
        #expect(svg.contains("test accuracy (%)") && svg.contains("per-rank batch size"))
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("results.md").path))
    }

    /// The same seed gives the same numbers (everything but the timings), whatever the number of
    /// runs at a time.
    @Test func sameSeedSameNumbers() throws {
        KernelSettings.lock.lock()  // two runs compared bit for bit: no test may switch the loops meanwhile
        defer { KernelSettings.lock.unlock() }
        let a = temporaryFolder(), b = temporaryFolder()
        defer {
            try? FileManager.default.removeItem(at: a)
            try? FileManager.default.removeItem(at: b)
        }
        let options = ["--norms", "bn,syncbn,gn", "--batch-sizes", "4", "--seed", "3"]
        try runQuick(into: a, extra: options + ["--jobs", "1"])
        try runQuick(into: b, extra: options + ["--jobs", "3"])
        func numbers(_ folder: URL) throws -> [[String]] {
            try String(contentsOf: folder.appendingPathComponent("runs.csv"), encoding: .utf8)
                .split(separator: "\n").map { $0.split(separator: ",").dropLast().map(String.init) }  // drop seconds
        }
        #expect(try numbers(a) == numbers(b))
        #expect(try numbers(a).dropFirst().allSatisfy { $0[4] == "3" })
    }

    @Test func badOptionsAreRejected() {
        #expect(throws: (any Error).self) { try Lab.parseAsRoot(["--norms", "bogus"]) }
        #expect(throws: (any Error).self) { try Lab.parseAsRoot(["--batch-sizes", "0"]) }
        #expect(throws: (any Error).self) { try Lab.parseAsRoot(["--ranks", "0"]) }
        // Counts that would overflow, or a model that would not fit memory.
        #expect(throws: (any Error).self) { try Lab.parseAsRoot(["--seed", "18446744073709551615", "--seeds", "2"]) }
        #expect(throws: (any Error).self) { try Lab.parseAsRoot(["--seed", "18446744073709551615"]) }  // the default 3 seeds
        #expect(throws: (any Error).self) { try Lab.parseAsRoot(["--epochs", "9223372036854775807"]) }
        #expect(throws: (any Error).self) { try Lab.parseAsRoot(["--seeds", "4611686018427387904"]) }
        #expect(throws: (any Error).self) { try Lab.parseAsRoot(["--widths", "1000000"]) }
        #expect(throws: Never.self) { try Lab.parseAsRoot(["--seed", "18446744073709551615", "--seeds", "1", "--widths", "1024"]) }
    }

    @Test func aMissingDataFileIsATypedError() throws {
        var command = try Lab.parseAsRoot(["--data", "/nonexistent/digits.nkimg", "--quick", "--no-progress"])
        #expect(throws: LabDataError.fileNotFound(path: "/nonexistent/digits.nkimg")) { try command.run() }
    }
}

final class ElementCollector: NSObject, XMLParserDelegate {
    var root: String?
    var counts: [String: Int] = [:]

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if root == nil { root = name }
        counts[name, default: 0] += 1
    }
}

/// The training function refuses batch sizes, epoch counts and widths that would divide by zero,
/// overflow or outgrow memory, as the command line does, with a typed error.
@Suite struct TrainerArgumentTests {
    @Test func hostileBatchesAndEpochsThrow() throws {
        let data = try ImageDataset.bundledDigits()
        let network = NetworkConfiguration(inputShape: [1, 8, 8], classes: 10, widths: [2, 2, 2], groupNormGroups: 1)
        for widths in [[1_000_000, 1_000_000], [0, 2], [1 << 40]] {
            let options = TrainingOptions(normalization: .none, perRankBatch: 4, epochs: 1, seed: 1,
                                          network: NetworkConfiguration(inputShape: [1, 8, 8], classes: 10, widths: widths))
            #expect(throws: NormError.self, "widths \(widths)") { _ = try trainAndEvaluate(options, data: data, as: Float.self) }
        }
        for (batch, epochs) in [(0, 1), (-3, 1), (Int.max, 1), (4, Int.max)] {
            let options = TrainingOptions(normalization: .none, perRankBatch: batch, epochs: epochs, seed: 1, network: network)
            #expect(throws: NormError.self, "batch \(batch), epochs \(epochs)") {
                _ = try trainAndEvaluate(options, data: data, as: Float.self)
            }
        }
    }
}
