import Foundation
@testable import NormKit

/// The safetensors files `scripts/make_checkpoint_fixtures.py` wrote with PyTorch.
enum SafeTensorsFixture {
    static func url(_ name: String) -> URL {
        Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures")!
    }

    static func bytes(_ name: String) -> Data {
        try! Data(contentsOf: url(name))
    }

    static func tensors(_ name: String) -> StateDict {
        try! SafeTensors(contentsOf: url(name)).tensors
    }

    static let all = ["checkpoint_model", "checkpoint_io", "checkpoint_after_train", "batchnorm_f32", "batchnorm_f16",
                      "batchnorm_bf16", "batchnorm_f64", "dtype_rounding", "resnet_model", "resnet_io"]

    /// A safetensors file from a header given as text, with `dataCount` data bytes counting up
    /// from 0, and the header length field `length` (the header's own length unless given).
    static func file(_ header: String, dataCount: Int = 0, length: UInt64? = nil) -> Data {
        let headerBytes = Array(header.utf8)
        var bytes = withUnsafeBytes(of: (length ?? UInt64(headerBytes.count)).littleEndian, Array.init)
        bytes += headerBytes
        bytes += (0..<dataCount).map { UInt8(truncatingIfNeeded: $0) }
        return Data(bytes)
    }
}
