/// NormKit's one definition of how running statistics move. Every layer that tracks them
/// (BatchNorm, InstanceNorm, SyncBatchNorm) goes through here.
///
/// - The update is the exponential moving average r ← (1 − m)·r + m·s.
/// - `s` is the batch mean for `running_mean` and the *unbiased* batch variance M2/(n − 1) for
///   `running_var`, while the forward pass normalizes with the *biased* variance M2/n.
/// - `momentum: nil` means the cumulative moving average, m = 1 / numBatchesTracked, counted
///   after the current batch.
public enum RunningStatistics {
    /// The largest `num_batches_tracked` NormKit keeps, 2⁵³: every count up to it is exact in
    /// `Double`, a state dict may not hold more (larger values are rejected on load, so that
    /// converting them to `Int` cannot trap), and the layers' counter stops there. At that count,
    /// `momentum: nil` moves the running statistics by 1/2⁵³ per batch, which is no movement at all.
    public static let maxTrackedBatches = 1 << 53

    /// The factor m of r ← (1 − m)·r + m·s for a batch that makes `numBatchesTracked` batches
    /// in all.
    public static func momentumFactor(momentum: Double?, numBatchesTracked: Int) -> Double {
        momentum ?? 1 / Double(max(numBatchesTracked, 1))
    }

    /// Both running statistics moved toward a batch's moments: `running_mean` toward the batch
    /// mean, `running_var` toward the batch's *unbiased* variance.
    static func updated<Scalar: NormScalar>(
        mean runningMean: Tensor<Scalar>, variance runningVar: Tensor<Scalar>,
        toward batch: Moments, factor: Double
    ) -> (mean: Tensor<Scalar>, variance: Tensor<Scalar>) {
        updated(mean: runningMean, variance: runningVar, towardMean: batch.mean,
                unbiasedVariance: batch.unbiasedVariance, factor: factor)
    }

    /// Both running statistics moved toward a batch mean and unbiased variance given directly
    /// (InstanceNorm averages them over the batch's instances).
    static func updated<Scalar: NormScalar>(
        mean runningMean: Tensor<Scalar>, variance runningVar: Tensor<Scalar>,
        towardMean mean: [Double], unbiasedVariance: [Double], factor: Double
    ) -> (mean: Tensor<Scalar>, variance: Tensor<Scalar>) {
        (updated(runningMean, toward: mean, factor: factor), updated(runningVar, toward: unbiasedVariance, factor: factor))
    }

    /// r ← (1 − m)·r + m·s, computed in `Double` and stored in the buffer's scalar type.
    private static func updated<Scalar: NormScalar>(
        _ running: Tensor<Scalar>, toward batch: [Double], factor: Double
    ) -> Tensor<Scalar> {
        Tensor(uncheckedShape: running.shape, scalars: Kernels.movedToward(running.storage, batch: batch, factor: factor))
    }
}
