/// The element types a checkpoint entry can have, spelled as the safetensors header spells them.
///
/// | Case | safetensors | PyTorch | Bytes |
/// |------|-------------|---------|-------|
/// | ``float32`` | `F32` | `torch.float32` | 4 |
/// | ``float64`` | `F64` | `torch.float64` | 8 |
/// | ``float16`` | `F16` | `torch.float16` (IEEE 754 binary16) | 2 |
/// | ``bfloat16`` | `BF16` | `torch.bfloat16` | 2 |
/// | ``int64`` | `I64` | `torch.int64` (`num_batches_tracked`) | 8 |
///
/// The other safetensors dtypes (`BOOL`, `U8`, `I32`, the FP8 types, …) are refused with
/// ``SafeTensorsProblem/unsupportedDType(key:dtype:)``.
public enum DType: String, CaseIterable, Sendable {
    case float32 = "F32"
    case float64 = "F64"
    case float16 = "F16"
    case bfloat16 = "BF16"
    case int64 = "I64"

    /// The size of one element in bytes.
    public var byteWidth: Int {
        switch self {
        case .float16, .bfloat16: 2
        case .float32: 4
        case .float64, .int64: 8
        }
    }

    /// Whether the type holds floating-point values.
    public var isFloatingPoint: Bool { self != .int64 }

    /// The rank of this dtype in the order the safetensors reference writer sorts tensors by
    /// (larger alignment first: `I64`, `F64`, `F32`, `BF16`, `F16`), so that files we write match
    /// the bytes `safetensors.torch.save_file` writes for the same tensors.
    var writeOrder: Int {
        switch self {
        case .int64: 0
        case .float64: 1
        case .float32: 2
        case .bfloat16: 3
        case .float16: 4
        }
    }

    /// The dtype of a tensor of `Scalar`: ``float32`` for `Float`, ``float64`` for `Double`.
    static func of<Scalar: NormScalar>(_: Scalar.Type) -> DType {
        Scalar.self == Float.self ? .float32 : .float64
    }
}
