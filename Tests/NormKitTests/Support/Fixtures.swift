import Foundation
@testable import NormKit

/// The PyTorch reference cases written by `scripts/make_fixtures.py`.
struct TorchFixture: Sendable, CustomStringConvertible {
    struct TensorValue: Sendable {
        var shape: [Int]
        var data: [Double]

        func tensor<Scalar: NormScalar>(_: Scalar.Type = Scalar.self) -> Tensor<Scalar> {
            try! Tensor(shape: shape, scalars: data.map { Scalar($0) })
        }
    }

    struct Step: Sendable {
        var training: Bool
        var input: TensorValue
        var gradOutput: TensorValue
    }

    var name: String
    var layer: String
    /// The constructor's keyword arguments as PyTorch named them; `NSNull` stands for `None`.
    var args: [String: any Sendable]
    var initialState: [String: TensorValue]
    var steps: [Step]
    /// Per dtype ("float32", "float64"), per step: quantity name → flattened values.
    var expected: [String: [[String: [Double]]]]

    var description: String { name }

    static let all: [TorchFixture] = load()

    static func named(_ name: String) -> TorchFixture {
        all.first { $0.name == name }!
    }

    private static func load() -> [TorchFixture] {
        let url = Bundle.module.url(forResource: "torch_reference", withExtension: "json", subdirectory: "Fixtures")!
        let root = try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        return (root["cases"] as! [[String: Any]]).map(parseCase)
    }

    private static func parseTensor(_ object: Any) -> TensorValue {
        let dictionary = object as! [String: Any]
        return TensorValue(shape: dictionary["shape"] as! [Int], data: (dictionary["data"] as! [NSNumber]).map(\.doubleValue))
    }

    private static func parseCase(_ object: [String: Any]) -> TorchFixture {
        let booleanKeys: Set = ["affine", "track_running_stats", "elementwise_affine", "bias"]
        var args: [String: any Sendable] = [:]
        for (key, value) in object["args"] as! [String: Any] {
            switch value {
            case let list as [NSNumber]: args[key] = list.map(\.intValue)
            case let number as NSNumber: args[key] = booleanKeys.contains(key) ? number.boolValue : number.doubleValue
            default: args[key] = "None"
            }
        }
        let steps = (object["steps"] as! [[String: Any]]).map {
            Step(training: ($0["mode"] as! String) == "train", input: parseTensor($0["input"]!),
                 gradOutput: parseTensor($0["grad_output"]!))
        }
        let expected = (object["expected"] as! [String: [[String: [NSNumber]]]]).mapValues { records in
            records.map { $0.mapValues { $0.map(\.doubleValue) } }
        }
        return TorchFixture(
            name: object["name"] as! String, layer: object["layer"] as! String, args: args,
            initialState: (object["initial_state"] as! [String: Any]).mapValues(parseTensor),
            steps: steps, expected: expected)
    }

    // MARK: Building the layer a case describes

    private func int(_ key: String) -> Int? { args[key] as? Int ?? (args[key] as? Double).map { Int($0) } }
    private func double(_ key: String) -> Double? { args[key] as? Double }
    private func bool(_ key: String, _ fallback: Bool) -> Bool { args[key] as? Bool ?? fallback }
    /// The momentum: absent means PyTorch's default 0.1, `None` means nil.
    private var momentum: Double? { args["momentum"] == nil ? 0.1 : double("momentum") }

    func makeLayer<Scalar: NormScalar>(_: Scalar.Type = Scalar.self) -> NormalizationLayer<Scalar> {
        let eps = double("eps") ?? 1e-5
        switch layer {
        case "BatchNorm1d", "BatchNorm2d", "BatchNorm3d":
            let features = int("num_features")!, affine = bool("affine", true), track = bool("track_running_stats", true)
            switch layer {
            case "BatchNorm1d": return BatchNorm1d(numFeatures: features, eps: eps, momentum: momentum, affine: affine, trackRunningStats: track)
            case "BatchNorm2d": return BatchNorm2d(numFeatures: features, eps: eps, momentum: momentum, affine: affine, trackRunningStats: track)
            default: return BatchNorm3d(numFeatures: features, eps: eps, momentum: momentum, affine: affine, trackRunningStats: track)
            }
        case "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d":
            let features = int("num_features")!, affine = bool("affine", false), track = bool("track_running_stats", false)
            switch layer {
            case "InstanceNorm1d": return InstanceNorm1d(numFeatures: features, eps: eps, momentum: momentum, affine: affine, trackRunningStats: track)
            case "InstanceNorm2d": return InstanceNorm2d(numFeatures: features, eps: eps, momentum: momentum, affine: affine, trackRunningStats: track)
            default: return InstanceNorm3d(numFeatures: features, eps: eps, momentum: momentum, affine: affine, trackRunningStats: track)
            }
        case "LayerNorm":
            return LayerNorm(normalizedShape: args["normalized_shape"] as! [Int], eps: eps,
                             elementwiseAffine: bool("elementwise_affine", true), bias: bool("bias", true))
        case "GroupNorm":
            return GroupNorm(numGroups: int("num_groups")!, numChannels: int("num_channels")!, eps: eps,
                             affine: bool("affine", true))
        case "RMSNorm":
            return RMSNorm(normalizedShape: args["normalized_shape"] as! [Int], eps: double("eps"),
                           elementwiseAffine: bool("elementwise_affine", true))
        default:
            fatalError("fixture layer \(layer) is unknown")
        }
    }
}
