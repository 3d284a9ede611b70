/// How the normalization engine sees an input: a contiguous row-major block of
/// `outer × channels × inner` elements, with statistics pooled over one of two groupings.
///
/// Every layer is a configuration of this one engine:
///
/// | layer          | outer | channels | inner        | grouping                    |
/// |----------------|-------|----------|--------------|-----------------------------|
/// | BatchNorm      | N     | C        | ∏ spatial    | `.perChannel`               |
/// | GroupNorm      | N     | C        | ∏ spatial    | `.perSample(groups: G)`     |
/// | InstanceNorm   | N     | C        | ∏ spatial    | `.perSample(groups: C)`     |
/// | LayerNorm      | ∏ lead| ∏ normalized | 1        | `.perSample(groups: 1)`     |
/// | RMSNorm        | as LayerNorm, with `centered == false`                             |
///
/// The affine parameters are always indexed by channel.
struct NormalizationGeometry: Sendable, Equatable {
    /// Which elements share one mean and one variance.
    enum Grouping: Sendable, Equatable {
        /// One statistic per channel, pooled over the outer and inner dimensions (BatchNorm).
        case perChannel
        /// One statistic per (sample, group of `channels / groups` consecutive channels).
        case perSample(groups: Int)
    }

    let outer: Int
    let channels: Int
    let inner: Int
    let grouping: Grouping

    /// The number of means (and inverse standard deviations) the input has.
    var statisticCount: Int {
        switch grouping {
        case .perChannel: return channels
        case let .perSample(groups): return outer * groups
        }
    }

    /// How many elements pool into each statistic, the `M` of the mean `Σx / M`.
    var elementsPerStatistic: Int {
        switch grouping {
        case .perChannel: return outer * inner
        case let .perSample(groups): return channels / groups * inner
        }
    }

    /// The statistic that the block of `inner` elements at (`sample`, `channel`) belongs to.
    @inline(__always)
    func statisticIndex(sample: Int, channel: Int) -> Int {
        switch grouping {
        case .perChannel: return channel
        case let .perSample(groups): return sample * groups + channel / (channels / groups)
        }
    }
}
