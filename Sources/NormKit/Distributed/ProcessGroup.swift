/// A fixed set of ranks that run collectives together, like a PyTorch `ProcessGroup` or an MPI
/// communicator.
///
/// Every rank calls the same collectives in the same order; a collective returns on a rank only
/// once every rank of the group has entered it. All collectives throw, so a backend can report a
/// peer that never arrives (``NormError/collectiveTimeout(operation:rank:timeout:arrived:size:)``
/// from both ``LocalProcessGroup`` and `MPIProcessGroup`), ranks that disagree on the operation,
/// counts or element types (``NormError/collectiveMismatch(operation:expected:actual:)``, thrown
/// on every rank before any data moves), or a failed library call.
///
/// A group of size 1 does no communication: `allReduceSum` leaves the buffer as it is,
/// `allGather` returns the buffer, `barrier` returns at once.
///
/// Implementations: ``LocalProcessGroup`` (ranks are threads of one process) and
/// `MPIProcessGroup` in the `NormKitMPI` library (ranks are processes under `mpirun`; enable the
/// package trait `MPI`).
public protocol ProcessGroup: AnyObject, Sendable {
    /// This handle's rank, in `0..<size`.
    var rank: Int { get }
    /// The number of ranks in the group.
    var size: Int { get }

    /// Replaces `buffer` on every rank by the elementwise sum of all ranks' buffers
    /// (`MPI_Allreduce` with `MPI_SUM`). Every rank must pass the same count.
    func allReduceSum(_ buffer: inout [Float]) throws
    /// Replaces `buffer` on every rank by the elementwise sum of all ranks' buffers
    /// (`MPI_Allreduce` with `MPI_SUM`). Every rank must pass the same count.
    func allReduceSum(_ buffer: inout [Double]) throws

    /// Returns every rank's buffer, concatenated in rank order: `size × buffer.count` elements
    /// (`MPI_Allgather`). Every rank must pass the same count.
    func allGather(_ buffer: [Float]) throws -> [Float]
    /// Returns every rank's buffer, concatenated in rank order: `size × buffer.count` elements
    /// (`MPI_Allgather`). Every rank must pass the same count.
    func allGather(_ buffer: [Double]) throws -> [Double]

    /// Returns once every rank has called it (`MPI_Barrier`).
    func barrier() throws

    /// A group of the listed ranks of this one, numbered in the order given (like PyTorch's
    /// `new_group(ranks)` or Flax's `axis_index_groups`).
    ///
    /// A collective: every rank of this group calls it with the same list, and the ranks not in
    /// the list get `nil`. Ranks must be distinct and in `0..<size`.
    /// - Throws: ``NormError/invalidArgument(name:expected:actual:)`` for an invalid list, and
    ///   ``NormError/collectiveMismatch(operation:expected:actual:)`` when ranks pass different
    ///   lists.
    func subgroup(ranks: [Int]) throws -> (any ProcessGroup)?
}

extension ProcessGroup {
    /// The elementwise sum of every rank's `buffer`; see ``allReduceSum(_:)-([Double])``.
    public func allReducedSum(_ buffer: [Double]) throws -> [Double] {
        var result = buffer
        try allReduceSum(&result)
        return result
    }

    /// The elementwise sum of every rank's `buffer`; see ``allReduceSum(_:)-([Float])``.
    public func allReducedSum(_ buffer: [Float]) throws -> [Float] {
        var result = buffer
        try allReduceSum(&result)
        return result
    }
}

/// Checks a subgroup's rank list: non-empty, distinct, each in `0..<size`. Shared by the backends.
package func validateSubgroupRanks(_ ranks: [Int], size: Int) throws {
    guard !ranks.isEmpty, Set(ranks).count == ranks.count, ranks.allSatisfy({ (0..<size).contains($0) }) else {
        throw NormError.invalidArgument(
            name: "ranks", expected: "a non-empty list of distinct ranks in 0..<\(size)", actual: "\(ranks)")
    }
}
