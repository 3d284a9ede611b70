import Foundation
import Testing
@testable import NormKitLab

/// The bundled digits, the file format's checks and their typed errors.
@Suite struct DatasetTests {
    @Test func bundledDigits() throws {
        let data = try ImageDataset.bundledDigits()
        #expect(data.imageShape == [1, 8, 8])
        #expect(data.classes == 10)
        #expect(data.trainCount == 1437)
        #expect(data.testCount == 360)
        #expect(data.trainImages.count == 1437 * 64)
        // Stratified split: every class in both sets, in proportion.
        for label in 0..<10 {
            let train = data.trainLabels.filter { $0 == label }.count, test = data.testLabels.filter { $0 == label }.count
            #expect(train >= 139 && test >= 35, "class \(label): \(train) train, \(test) test")
        }
        // Standardized with the training set's statistics.
        let mean = data.trainImages.map(Double.init).reduce(0, +) / Double(data.trainImages.count)
        let variance = data.trainImages.map { (Double($0) - mean) * (Double($0) - mean) }.reduce(0, +)
            / Double(data.trainImages.count)
        #expect(abs(mean) < 1e-5 && abs(variance - 1) < 1e-4)
    }

    @Test func crc32MatchesZlib() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    /// A valid file of `count` 1×2×2 images with pixel maximum 3, and its bytes.
    func file(count: Int = 4, labels: [UInt8]? = nil, split: [UInt8]? = nil, pixel: UInt8 = 2) -> [UInt8] {
        var bytes = Array("NKIMAGES".utf8)
        for value in [1, count, 1, 2, 2, 3, 3] {
            bytes += withUnsafeBytes(of: UInt32(value).littleEndian, Array.init)
        }
        bytes += (0..<(count * 4)).map { UInt8($0 % 3 == 0 ? Int(pixel) : $0 % 3) }
        bytes += labels ?? (0..<count).map { UInt8($0 % 3) }
        bytes += split ?? (0..<count).map { $0 == 0 ? 1 : 0 }
        bytes += withUnsafeBytes(of: CRC32.checksum(bytes).littleEndian, Array.init)
        return bytes
    }

    @Test func aValidFileLoads() throws {
        let data = try ImageDataset(bytes: file(), source: "t")
        #expect(data.imageShape == [1, 2, 2] && data.classes == 3 && data.trainCount == 3 && data.testCount == 1)
        #expect(data.trainLabels == [1, 2, 0] && data.testLabels == [0])
    }

    @Test func corruptFilesThrowTypedErrors() throws {
        let good = file()
        #expect(throws: LabDataError.truncated(path: "t", expectedBytes: 40, actualBytes: 10)) {
            try ImageDataset(bytes: Array(good.prefix(10)), source: "t")
        }
        var magic = good
        magic[0] = UInt8(ascii: "X")
        #expect(throws: LabDataError.badMagic(path: "t", found: Array("XKIMAGES".utf8))) {
            try ImageDataset(bytes: magic, source: "t")
        }
        #expect(throws: LabDataError.truncated(path: "t", expectedBytes: good.count, actualBytes: good.count - 1)) {
            try ImageDataset(bytes: Array(good.dropLast()), source: "t")
        }
        var flipped = good
        flipped[40] ^= 1
        #expect(throws: LabDataError.self) { try ImageDataset(bytes: flipped, source: "t") }
        do {
            _ = try ImageDataset(bytes: flipped, source: "t")
        } catch let error as LabDataError {
            guard case .checksumMismatch = error else { Issue.record("expected a checksum mismatch, got \(error)"); return }
            #expect(error.description.contains("corrupt"))
        }
        #expect(throws: LabDataError.labelOutOfRange(path: "t", index: 2, label: 7, classes: 3)) {
            try ImageDataset(bytes: file(labels: [0, 1, 7, 2]), source: "t")
        }
        #expect(throws: LabDataError.invalidSplitFlag(path: "t", index: 1, value: 2)) {
            try ImageDataset(bytes: file(split: [1, 2, 0, 0]), source: "t")
        }
        #expect(throws: LabDataError.emptySplit(path: "t", split: "test")) {
            try ImageDataset(bytes: file(split: [0, 0, 0, 0]), source: "t")
        }
        #expect(throws: LabDataError.pixelOutOfRange(path: "t", index: 0, value: 9, maxValue: 3)) {
            try ImageDataset(bytes: file(pixel: 9), source: "t")
        }
    }

    @Test func filesOnDisk() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("normkit-lab-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let missing = folder.appendingPathComponent("missing.nkimg")
        #expect(throws: LabDataError.fileNotFound(path: missing.path)) { try ImageDataset(contentsOf: missing) }
        let url = folder.appendingPathComponent("tiny.nkimg")
        try Data(file()).write(to: url)
        #expect(try ImageDataset(contentsOf: url).trainCount == 3)
    }
}
