/// NormKit's one definition of how running statistics move. Every layer that tracks them
/// (BatchNorm, InstanceNorm, SyncBatchNorm) goes through here.
///
/// - The update is the exponential moving average r ← (1 − m)·r + m·s.
/// - `s` is the batch mean for `running_mean` and the *unbiased* batch variance M2/(n − 1) for
///   `running_var`, while the forward pass normalizes with the *biased* variance M2/n.
/// - `momentum: nil` means the cumulative moving average, m = 1 / numBatchesTracked, counted
///   after the current batch.
public enum RunningStatistics {
    /// The factor m of r ← (1 − m)·r + m·s for a batch that makes `numBatchesTracked` batches
    /// in all.
    public static func momentumFactor(momentum: Double?, numBatchesTracked: Int) -> Double {
        momentum ?? 1 / Double(max(numBatchesTracked, 1))
    }

    /// r ← (1 − m)·r + m·s, computed in the accumulator and stored in the buffer's scalar type.
    static func updated<Scalar: NormScalar>(
        _ running: Tensor<Scalar>, toward batch: [Scalar.Accumulator], factor: Double
    ) -> Tensor<Scalar> {
        typealias Acc = Scalar.Accumulator
        let m = Acc(factor)
        let values = zip(running.scalars, batch).map { r, s in Scalar((1 - m) * Acc(r) + m * s) }
        return Tensor(uncheckedShape: running.shape, scalars: values)
    }
}
