import Foundation
import NormKit

/// The normalizations the lab compares, each placed after every convolution.
public enum Normalization: String, CaseIterable, Sendable, Codable {
    /// No normalization (the convolutions then have a bias).
    case none
    /// `BatchNorm2d`: statistics over (N, H, W) of each rank's own shard.
    case batchNorm = "bn"
    /// `GroupNorm` with ``NetworkConfiguration/groupNormGroups`` groups: per sample and group.
    case groupNorm = "gn"
    /// `LayerNorm` over (C, H, W), with an elementwise affine of that shape: per sample.
    case layerNorm = "ln"
    /// `InstanceNorm2d(affine: true)`: per sample and channel.
    case instanceNorm = "in"
    /// `SyncBatchNorm`: BatchNorm whose statistics span the global batch of every rank, obtained
    /// from the BatchNorm model with `convertSyncBatchNorm`.
    case syncBatchNorm = "syncbn"

    /// The layer's name, as the table and the plot show it.
    public var displayName: String {
        switch self {
        case .none: return "none"
        case .batchNorm: return "BatchNorm"
        case .groupNorm: return "GroupNorm"
        case .layerNorm: return "LayerNorm"
        case .instanceNorm: return "InstanceNorm"
        case .syncBatchNorm: return "SyncBatchNorm"
        }
    }
}

/// The shape of the lab's network.
public struct NetworkConfiguration: Equatable, Sendable {
    /// (C, H, W) of an input image.
    public var inputShape: [Int]
    public var classes: Int
    /// Output channels of the 3×3 convolutions, in order. A 2×2 max pool follows the second.
    public var widths: [Int]
    /// Groups of every GroupNorm (reduced to the largest divisor of the channel count at most this).
    public var groupNormGroups: Int

    public init(inputShape: [Int], classes: Int, widths: [Int] = [8, 16, 32], groupNormGroups: Int = 4) {
        self.inputShape = inputShape
        self.classes = classes
        self.widths = widths
        self.groupNormGroups = groupNormGroups
    }
}

extension NetworkConfiguration {
    /// The weights of the network's 3×3 convolutions and final linear layer, or `nil` when the
    /// count overflows `Int`.
    var weightCount: Int? {
        var total = 0, inChannels = inputShape.first ?? 0
        for (outChannels, kernel) in widths.map({ ($0, 9) }) + [(classes, 1)] {
            let (perOutput, o1) = inChannels.multipliedReportingOverflow(by: kernel)
            let (layer, o2) = perOutput.multipliedReportingOverflow(by: outChannels)
            let (sum, o3) = total.addingReportingOverflow(layer)
            guard !(o1 || o2 || o3) else { return nil }
            (total, inChannels) = (sum, outChannels)
        }
        return total
    }

    /// Checks that every width is positive and that the weights, with their gradients and
    /// momentum, fit in a quarter of this machine's memory.
    func checkFits(scalarBytes: Int) throws {
        let budget = ProcessInfo.processInfo.physicalMemory / 4
        let bytes = weightCount.flatMap { count in
            let (bytes, overflow) = count.multipliedReportingOverflow(by: 3 * scalarBytes)
            return overflow ? nil : bytes
        }
        guard widths.allSatisfy({ $0 > 0 }), let bytes, UInt64(bytes) <= budget else {
            throw NormError.invalidArgument(
                name: "widths", expected: "positive widths whose weights, gradients and momentum fit in \(budget) bytes "
                    + "(a quarter of this machine's memory)", actual: "\(widths)")
        }
    }
}

/// The lab's convolutional network, with `normalization` after every convolution:
///
///     [Conv2d 3×3 (padding 1) → norm → ReLU] × widths.count, with MaxPool2d(2) after the second
///     → GlobalAvgPool2d → Flatten → Linear(widths.last → classes)
///
/// Weights are Kaiming-normal from `SeededGenerator(seed:)`, drawn in the same order whatever the
/// normalization, so every normalization starts from the same convolution weights. The
/// convolutions have a bias only without normalization (a bias before a normalization that
/// subtracts the mean has no effect). For ``Normalization/syncBatchNorm`` the network is built
/// with `BatchNorm2d` and converted with `convertSyncBatchNorm(_:processGroup:)`.
public func makeNetwork<Scalar: LabScalar>(
    _ normalization: Normalization, _ configuration: NetworkConfiguration, seed: UInt64,
    processGroup: (any ProcessGroup)? = nil, as _: Scalar.Type = Scalar.self
) -> Sequential<Scalar> {
    var generator = SeededGenerator(seed: seed)
    var layers: [any Module<Scalar>] = []
    var channels = configuration.inputShape[0]
    var height = configuration.inputShape[1], width = configuration.inputShape[2]
    for (index, outChannels) in configuration.widths.enumerated() {
        layers.append(Conv2d<Scalar>(inChannels: channels, outChannels: outChannels, kernelSize: 3, padding: 1,
                                     bias: normalization == .none, using: &generator))
        channels = outChannels
        switch normalization {
        case .none:
            break
        case .batchNorm, .syncBatchNorm:
            layers.append(BatchNorm2d<Scalar>(numFeatures: channels))
        case .groupNorm:
            let groups = (1...max(1, min(configuration.groupNormGroups, channels))).last { channels % $0 == 0 }!
            layers.append(GroupNorm<Scalar>(numGroups: groups, numChannels: channels))
        case .layerNorm:
            layers.append(LayerNorm<Scalar>(normalizedShape: [channels, height, width]))
        case .instanceNorm:
            layers.append(InstanceNorm2d<Scalar>(numFeatures: channels, affine: true))
        }
        layers.append(ReLU<Scalar>())
        if index == 1 && height >= 2 && width >= 2 {
            layers.append(MaxPool2d<Scalar>(kernelSize: 2))
            height /= 2
            width /= 2
        }
    }
    layers.append(GlobalAvgPool2d<Scalar>())
    layers.append(Flatten<Scalar>())
    layers.append(Linear<Scalar>(inFeatures: channels, outFeatures: configuration.classes, using: &generator))
    let model = Sequential<Scalar>(layers)
    if normalization == .syncBatchNorm {
        _ = convertSyncBatchNorm(model, processGroup: processGroup)
    }
    return model
}
