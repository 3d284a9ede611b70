/// How the normalization engine sees an input: `outer × channels × inner` elements stored in one
/// of two layouts, with statistics pooled over one of two groupings.
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

    /// Where element (n, c, s) lives in memory.
    enum Layout: Sendable, Equatable {
        /// `(n·C + c)·S + s`: NCHW, NCDHW, and every row-major tensor.
        case channelsFirst
        /// `(n·S + s)·C + c`: NHWC, NDHWC.
        case channelsLast
    }

    let outer: Int
    let channels: Int
    let inner: Int
    let grouping: Grouping
    var layout: Layout = .channelsFirst

    /// The number of means (and inverse standard deviations) the input has.
    var statisticCount: Int {
        switch grouping {
        case .perChannel: return channels
        case let .perSample(groups): return outer * groups
        }
    }

    /// The number of groups per sample (the channel count for `.perChannel`, where every channel
    /// is its own group).
    var groupsPerSample: Int {
        switch grouping {
        case .perChannel: return channels
        case let .perSample(groups): return groups
        }
    }

    /// Channels per statistic group.
    var channelsPerGroup: Int { groupsPerSample == 0 ? 0 : channels / groupsPerSample }

    /// How many elements pool into each statistic, the `M` of the mean `Σx / M`.
    var elementsPerStatistic: Int {
        switch grouping {
        case .perChannel: return outer * inner
        case .perSample: return channelsPerGroup * inner
        }
    }

    /// Every element: outer · channels · inner.
    var elementCount: Int { outer * channels * inner }

    /// True when channel c's elements of sample n form a run of `inner` contiguous elements; false
    /// when each position holds a contiguous row of `channels` values (channels-last, or an inner
    /// size of 1, where both layouts coincide).
    var channelRunsAreContiguous: Bool { layout == .channelsFirst && inner > 1 }

    /// The statistic that the elements at (`sample`, `channel`) belong to.
    @inline(__always)
    func statisticIndex(sample: Int, channel: Int) -> Int {
        switch grouping {
        case .perChannel: return channel
        case let .perSample(groups): return sample * groups + channel / (channels / groups)
        }
    }

    /// The memory offset of element (n, c, s).
    @inline(__always)
    func offset(sample n: Int, channel c: Int, position s: Int) -> Int {
        layout == .channelsFirst ? (n * channels + c) * inner + s : (n * inner + s) * channels + c
    }
}
