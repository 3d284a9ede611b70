import Foundation
import Testing
@testable import NormKit

/// Large arrays that NormKit makes ask for transparent huge pages when enabled (``HugePages``),
/// and the asking never changes what they hold.
@Suite struct HugePagesTests {
    @Test(arguments: [0, 1, 1000, 3 << 19])
    func arraysHoldWhatTheirBodyWrote(count: Int) {
        let values: [Float] = HugePages.withEnabled(true) {
            TensorArrays.make(count: count) { buffer, initialized in
                for i in 0..<count { buffer[i] = Float(i % 977) }
                initialized = count
            }
        }
        #expect(values.count == count)
        #expect(values.indices.allSatisfy { values[$0] == Float($0 % 977) })
    }

    #if canImport(Glibc)
    /// Where the kernel gives huge pages only to memory that asks (`madvise` mode, the default
    /// here), a layer's 16 MiB output made with huge pages enabled lies in memory marked
    /// eligible for them (unasked heap memory is not, in that mode).
    @Test func aLargeLayerOutputIsEligibleForHugePagesWhenEnabled() throws {
        guard let page = HugePages.transparentPageBytes, Self.transparentHugePageMode() == "madvise" else { return }
        var random = SeededGenerator(seed: 3)
        let input = Tensor<Float>.randomNormal(shape: [4096, 1024], using: &random)
        let output = try HugePages.withEnabled(true) { try LayerNorm<Float>(normalizedShape: [1024])(input) }
        // Read while the output is alive: freed, its memory may go back to the system.
        try output.withUnsafeBufferPointer { storage throws in
            let interior = (Int(bitPattern: storage.baseAddress!) + page - 1) & ~(page - 1)
            #expect(try Self.eligibleForHugePages(address: interior) == true)
        }
    }

    /// The bracketed word of `/sys/kernel/mm/transparent_hugepage/enabled`: always, madvise or never.
    static func transparentHugePageMode() -> String? {
        guard let text = try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8),
              let open = text.firstIndex(of: "["), let close = text.firstIndex(of: "]"), open < close
        else { return nil }
        return String(text[text.index(after: open)..<close])
    }

    /// `THPeligible` of the mapping in `/proc/self/smaps` that holds `address`, or nil when the
    /// file does not say.
    static func eligibleForHugePages(address: Int) throws -> Bool? {
        // Read to the end: procfs reports a size of 0, and a single read returns only a page.
        guard let file = FileHandle(forReadingAtPath: "/proc/self/smaps") else { return nil }
        defer { try? file.close() }
        let smaps = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
        var inMapping = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
                let bounds = range.split(separator: "-").compactMap { Int($0, radix: 16) }
                inMapping = bounds.count == 2 && bounds[0] <= address && address < bounds[1]
            } else if inMapping, fields.first == "THPeligible:", fields.count > 1 {
                return fields[1] == "1"
            }
        }
        return nil
    }
    #endif
}
