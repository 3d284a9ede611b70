import Foundation

/// An image classification data set with a fixed train/test split, read from NormKit's small
/// binary format ("NKIMAGES", version 1).
///
/// The bundled set is the UCI optical handwritten digits data set as scikit-learn ships it
/// (1,797 images of 8×8 pixels, 10 classes; CC BY 4.0), converted once by
/// `scripts/make_digits.py` with a stratified 1,437/360 split. A file in the same format, passed
/// as `normkit lab --data PATH`, replaces it.
///
/// The format (all integers little-endian):
///
/// | offset | size        | field |
/// |--------|-------------|-------|
/// | 0      | 8           | magic, the ASCII bytes `NKIMAGES` |
/// | 8      | 4 (u32)     | version, 1 |
/// | 12     | 4 (u32)     | N, the number of images |
/// | 16     | 4 (u32)     | C, channels per image |
/// | 20     | 4 (u32)     | H, height |
/// | 24     | 4 (u32)     | W, width |
/// | 28     | 4 (u32)     | K, the number of classes (2…256) |
/// | 32     | 4 (u32)     | M, the largest pixel value (1…255) |
/// | 36     | N·C·H·W (u8) | pixels, image after image, each in C, H, W order |
/// | …      | N (u8)      | labels, each in `0..<K` |
/// | …      | N (u8)      | split flags: 0 = training set, 1 = test set |
/// | …      | 4 (u32)     | CRC-32 (IEEE 802.3, as `zlib.crc32`) of every byte before it |
///
/// Pixels are read as value / M, then standardized per channel with the training set's mean and
/// standard deviation (the same shift and scale for the test set).
public struct ImageDataset: Sendable {
    /// Where the data came from (a path, or "bundled digits").
    public let source: String
    /// (C, H, W) of one image.
    public let imageShape: [Int]
    public let classes: Int
    /// Standardized training images, row-major (N_train, C, H, W).
    public let trainImages: [Float]
    public let trainLabels: [Int]
    /// Standardized test images, row-major (N_test, C, H, W).
    public let testImages: [Float]
    public let testLabels: [Int]

    /// Elements of one image: C·H·W.
    public var imageSize: Int { imageShape.reduce(1, *) }
    public var trainCount: Int { trainLabels.count }
    public var testCount: Int { testLabels.count }

    public static let magic = Array("NKIMAGES".utf8)
    public static let version: UInt32 = 1
    /// The bundled resource's file name.
    public static let bundledFileName = "digits.nkimg"

    /// The bundled UCI digits.
    /// - Throws: ``LabDataError/bundledDataMissing(searched:)`` when the resource cannot be found
    ///   (a binary copied away from its build folder), and the errors of ``init(contentsOf:)``.
    public static func bundledDigits() throws -> ImageDataset {
        let candidates = bundledDataCandidates()
        guard let url = candidates.first(where: { FileManager.default.isReadableFile(atPath: $0.path) }) else {
            throw LabDataError.bundledDataMissing(searched: candidates.map(\.path))
        }
        return try ImageDataset(contentsOf: url, source: "bundled UCI digits")
    }

    /// Where the bundled file may be: SwiftPM's resource bundle beside the executable (or the
    /// test bundle), then the package's source tree this binary was built from.
    static func bundledDataCandidates() -> [URL] {
        let bundleName = "NormKit_NormKitLab.resources"
        var folders = [Bundle.main.bundleURL]
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent() {
            folders.append(executable)
        }
        for bundle in Bundle.allBundles where bundle.bundleURL != Bundle.main.bundleURL {
            folders.append(bundle.bundleURL.deletingLastPathComponent())
        }
        var candidates: [URL] = []
        for folder in folders {
            candidates.append(folder.appendingPathComponent(bundleName).appendingPathComponent(bundledFileName))
            candidates.append(folder.appendingPathComponent(bundleName)
                .appendingPathComponent("Contents/Resources").appendingPathComponent(bundledFileName))
        }
        // The source tree: Sources/NormKitLab/Data/ImageDataset.swift → Sources/NormKitLab/Resources.
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Resources").appendingPathComponent(bundledFileName))
        var seen = Set<String>()
        return candidates.filter { seen.insert($0.standardizedFileURL.path).inserted }
    }

    /// Reads and validates a file in the format above.
    /// - Throws: ``LabDataError``: a missing or unreadable file, a wrong magic or version, a header
    ///   out of range, a size that does not match the header, a checksum mismatch, or a label or
    ///   split flag out of range.
    public init(contentsOf url: URL, source: String? = nil) throws {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else { throw LabDataError.fileNotFound(path: path) }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw LabDataError.unreadable(path: path, reason: "\(error.localizedDescription)")
        }
        try self.init(bytes: [UInt8](data), source: source ?? path)
    }

    /// Parses the bytes of a file in the format above; `source` names it in errors.
    public init(bytes: [UInt8], source: String) throws {
        let headerSize = 36
        guard bytes.count >= 8, Array(bytes[0..<8]) == Self.magic else {
            throw LabDataError.badMagic(path: source, found: Array(bytes.prefix(8)))
        }
        guard bytes.count >= headerSize + 4 else {
            throw LabDataError.truncated(path: source, expectedBytes: headerSize + 4, actualBytes: bytes.count)
        }
        func u32(_ offset: Int) -> Int {
            (0..<4).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
        }
        let version = u32(8)
        guard version == Self.version else { throw LabDataError.unsupportedVersion(path: source, version: version) }
        let count = u32(12), channels = u32(16), height = u32(20), width = u32(24), classes = u32(28), maxValue = u32(32)
        for (field, value, range) in [("N (images)", count, 2...10_000_000), ("C (channels)", channels, 1...1024),
                                      ("H (height)", height, 1...4096), ("W (width)", width, 1...4096),
                                      ("K (classes)", classes, 2...256), ("M (largest pixel value)", maxValue, 1...255)]
        where !range.contains(value) {
            throw LabDataError.invalidHeader(path: source, field: field, value: value,
                                             expected: "\(range.lowerBound)...\(range.upperBound)")
        }
        let imageSize = channels * height * width
        let (pixelBytes, overflow) = count.multipliedReportingOverflow(by: imageSize)
        guard !overflow, pixelBytes <= 1 << 34 else {
            throw LabDataError.invalidHeader(path: source, field: "N·C·H·W", value: count, expected: "at most 2^34 pixels")
        }
        let expected = headerSize + pixelBytes + 2 * count + 4
        guard bytes.count == expected else {
            throw LabDataError.truncated(path: source, expectedBytes: expected, actualBytes: bytes.count)
        }
        let stored = UInt32(u32(expected - 4))
        let computed = CRC32.checksum(bytes[0..<(expected - 4)])
        guard stored == computed else {
            throw LabDataError.checksumMismatch(path: source, stored: stored, computed: computed)
        }
        let labelsStart = headerSize + pixelBytes, splitStart = labelsStart + count
        var trainRows: [Int] = [], testRows: [Int] = []
        var trainLabels: [Int] = [], testLabels: [Int] = []
        for i in 0..<count {
            let label = Int(bytes[labelsStart + i]), flag = bytes[splitStart + i]
            guard label < classes else {
                throw LabDataError.labelOutOfRange(path: source, index: i, label: label, classes: classes)
            }
            switch flag {
            case 0: trainRows.append(i); trainLabels.append(label)
            case 1: testRows.append(i); testLabels.append(label)
            default: throw LabDataError.invalidSplitFlag(path: source, index: i, value: Int(flag))
            }
        }
        if let bad = bytes[headerSize..<labelsStart].firstIndex(where: { Int($0) > maxValue }) {
            throw LabDataError.pixelOutOfRange(path: source, index: (bad - headerSize) / imageSize,
                                               value: Int(bytes[bad]), maxValue: maxValue)
        }
        guard !trainRows.isEmpty else { throw LabDataError.emptySplit(path: source, split: "training") }
        guard !testRows.isEmpty else { throw LabDataError.emptySplit(path: source, split: "test") }

        // Per-channel mean and standard deviation of the training pixels (value / M).
        let plane = height * width
        var mean = [Double](repeating: 0, count: channels), std = [Double](repeating: 0, count: channels)
        for c in 0..<channels {
            var sum = 0.0, sumSquares = 0.0
            for row in trainRows {
                let start = headerSize + row * imageSize + c * plane
                for byte in bytes[start..<(start + plane)] { sum += Double(byte) }
            }
            let n = Double(trainRows.count * plane)
            mean[c] = sum / n
            for row in trainRows {
                let start = headerSize + row * imageSize + c * plane
                for byte in bytes[start..<(start + plane)] { sumSquares += (Double(byte) - mean[c]) * (Double(byte) - mean[c]) }
            }
            std[c] = max((sumSquares / n).squareRoot(), 1e-6)
        }
        func images(_ rows: [Int]) -> [Float] {
            var result = [Float]()
            result.reserveCapacity(rows.count * imageSize)
            for row in rows {
                for c in 0..<channels {
                    let start = headerSize + row * imageSize + c * plane
                    for byte in bytes[start..<(start + plane)] { result.append(Float((Double(byte) - mean[c]) / std[c])) }
                }
            }
            return result
        }
        self.source = source
        imageShape = [channels, height, width]
        self.classes = classes
        self.trainImages = images(trainRows)
        self.trainLabels = trainLabels
        self.testImages = images(testRows)
        self.testLabels = testLabels
    }

    /// The first `train` training and `test` test images (all when `nil`): smaller runs for
    /// tests and `--quick`.
    public func prefix(train: Int?, test: Int?) -> ImageDataset {
        let train = min(train ?? trainCount, trainCount), test = min(test ?? testCount, testCount)
        return ImageDataset(source: source, imageShape: imageShape, classes: classes,
                            trainImages: Array(trainImages.prefix(train * imageSize)), trainLabels: Array(trainLabels.prefix(train)),
                            testImages: Array(testImages.prefix(test * imageSize)), testLabels: Array(testLabels.prefix(test)))
    }

    init(source: String, imageShape: [Int], classes: Int, trainImages: [Float], trainLabels: [Int],
         testImages: [Float], testLabels: [Int]) {
        self.source = source
        self.imageShape = imageShape
        self.classes = classes
        self.trainImages = trainImages
        self.trainLabels = trainLabels
        self.testImages = testImages
        self.testLabels = testLabels
    }
}

/// Why a data file could not be used.
public enum LabDataError: Error, Equatable, Sendable, CustomStringConvertible {
    case fileNotFound(path: String)
    case unreadable(path: String, reason: String)
    /// The file does not start with `NKIMAGES`.
    case badMagic(path: String, found: [UInt8])
    case unsupportedVersion(path: String, version: Int)
    case invalidHeader(path: String, field: String, value: Int, expected: String)
    /// The file is shorter (or longer) than its header says.
    case truncated(path: String, expectedBytes: Int, actualBytes: Int)
    case checksumMismatch(path: String, stored: UInt32, computed: UInt32)
    case labelOutOfRange(path: String, index: Int, label: Int, classes: Int)
    case pixelOutOfRange(path: String, index: Int, value: Int, maxValue: Int)
    case invalidSplitFlag(path: String, index: Int, value: Int)
    case emptySplit(path: String, split: String)
    /// The bundled data set is not where SwiftPM put it, nor in the source tree.
    case bundledDataMissing(searched: [String])

    public var description: String {
        switch self {
        case let .fileNotFound(path):
            return "data file not found: \(path)"
        case let .unreadable(path, reason):
            return "cannot read data file \(path): \(reason)"
        case let .badMagic(path, found):
            let shown = String(decoding: found.map { (32...126).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
            return "\(path) is not a NormKit image set: it starts with \"\(shown)\", expected \"NKIMAGES\" "
                + "(see scripts/make_digits.py for the format)"
        case let .unsupportedVersion(path, version):
            return "\(path): format version \(version) is not supported (expected \(ImageDataset.version))"
        case let .invalidHeader(path, field, value, expected):
            return "\(path): header field \(field) is \(value), expected \(expected)"
        case let .truncated(path, expectedBytes, actualBytes):
            return "\(path) is corrupt: its header describes \(expectedBytes) bytes but the file has \(actualBytes)"
        case let .checksumMismatch(path, stored, computed):
            return "\(path) is corrupt: CRC-32 \(hex(computed)) does not match the stored \(hex(stored))"
        case let .labelOutOfRange(path, index, label, classes):
            return "\(path): image \(index) has label \(label), expected 0..<\(classes)"
        case let .pixelOutOfRange(path, index, value, maxValue):
            return "\(path): image \(index) has a pixel value \(value) above the header's maximum \(maxValue)"
        case let .invalidSplitFlag(path, index, value):
            return "\(path): image \(index) has split flag \(value), expected 0 (train) or 1 (test)"
        case let .emptySplit(path, split):
            return "\(path): the \(split) set is empty"
        case let .bundledDataMissing(searched):
            return "the bundled digits data set was not found (looked in: \(searched.joined(separator: ", "))); "
                + "pass --data PATH with a file written by scripts/make_digits.py"
        }
    }

    private func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum of `zlib.crc32`.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        (0..<8).reduce(UInt32(n)) { c, _ in c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    }

    static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        ~bytes.reduce(~UInt32(0)) { crc, byte in table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    }
}
