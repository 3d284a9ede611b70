import Foundation
@testable import NormKit

/// The BatchNorm-folding cases written by `scripts/make_folding_fixtures.py`: a conv or linear
/// weight and bias, a BatchNorm's running statistics and affine parameters, and PyTorch's folded
/// weight and bias in float32 and float64.
struct FoldingFixture: Sendable, CustomStringConvertible {
    typealias TensorValue = TorchFixture.TensorValue

    var name: String
    /// "conv" or "linear".
    var kind: String
    var transposed: Bool
    var groups: Int
    var eps: Double
    var layerWeight: TensorValue
    var layerBias: TensorValue?
    var runningMean: TensorValue
    var runningVar: TensorValue
    var batchNormWeight: TensorValue?
    var batchNormBias: TensorValue?
    /// Per dtype ("float32", "float64"): the folded weight and bias.
    var expected: [String: (weight: TensorValue, bias: TensorValue)]

    var description: String { name }
    var channels: Int { runningMean.data.count }

    static let all: [FoldingFixture] = {
        let url = Bundle.module.url(forResource: "batchnorm_folding", withExtension: "json", subdirectory: "Fixtures")!
        let root = try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        return (root["cases"] as! [[String: Any]]).map(parse)
    }()

    private static func tensor(_ object: Any?) -> TensorValue? {
        guard let dictionary = object as? [String: Any] else { return nil }
        return TensorValue(shape: dictionary["shape"] as! [Int], data: (dictionary["data"] as! [NSNumber]).map(\.doubleValue))
    }

    private static func parse(_ object: [String: Any]) -> FoldingFixture {
        let batchNorm = object["batch_norm"] as! [String: Any]
        let expected = (object["expected"] as! [String: [String: Any]]).mapValues { (weight: tensor($0["weight"])!, bias: tensor($0["bias"])!) }
        return FoldingFixture(
            name: object["name"] as! String, kind: object["kind"] as! String, transposed: object["transposed"] as! Bool,
            groups: object["groups"] as! Int, eps: (object["eps"] as! NSNumber).doubleValue,
            layerWeight: tensor(object["layer_weight"])!, layerBias: tensor(object["layer_bias"]),
            runningMean: tensor(batchNorm["running_mean"])!, runningVar: tensor(batchNorm["running_var"])!,
            batchNormWeight: tensor(batchNorm["weight"]), batchNormBias: tensor(batchNorm["bias"]), expected: expected)
    }

    /// An eval-mode BatchNorm2d holding the case's statistics and affine parameters.
    func makeBatchNorm<Scalar: NormScalar>(_: Scalar.Type = Scalar.self) throws -> BatchNorm2d<Scalar> {
        let layer = BatchNorm2d<Scalar>(numFeatures: channels, eps: eps, affine: batchNormWeight != nil)
        var state = ["running_mean": runningMean.tensor(Scalar.self), "running_var": runningVar.tensor(Scalar.self)]
        state["weight"] = batchNormWeight?.tensor(Scalar.self)
        state["bias"] = batchNormBias?.tensor(Scalar.self)
        try layer.loadStateDict(state)
        layer.train(false)
        return layer
    }
}
