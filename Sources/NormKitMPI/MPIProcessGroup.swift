#if MPI
import CMPI
import CMPIShim
import NormKit

/// A ``ProcessGroup`` over an MPI communicator: ranks are processes started by `mpirun`.
///
/// ```swift
/// import NormKitMPI
/// let group = try MPIProcessGroup.world()     // MPI_COMM_WORLD, duplicated
/// let bn = SyncBatchNorm<Float>(numFeatures: 64, processGroup: group)
/// ```
///
/// | collective       | MPI function                                  |
/// |------------------|-----------------------------------------------|
/// | `allReduceSum`   | `MPI_Allreduce(MPI_IN_PLACE, …, MPI_SUM)`     |
/// | `allGather`      | `MPI_Allgather`                               |
/// | `barrier`        | `MPI_Barrier`                                 |
/// | `subgroup`       | `MPI_Comm_group`, `MPI_Group_incl`, `MPI_Comm_create` |
///
/// MPI is initialized on first use and finalized at exit (see ``MPIRuntime``). Errors come back as
/// ``NormError/mpiError(function:code:message:)``. MPI collectives have no timeout: a rank that
/// never arrives blocks the others until `mpirun` (or a `timeout` around it) ends the job. As in
/// MPI, ranks must pass equal counts to a collective; a mismatch is undefined behaviour that
/// this class cannot detect — ``SyncBatchNorm`` never causes one, because it exchanges fixed-size
/// frames and validates their headers first.
///
/// Build with the package trait `MPI`: `swift build --traits MPI`.
public final class MPIProcessGroup: ProcessGroup, @unchecked Sendable {
    // @unchecked: `communicator` is an immutable MPI handle; MPI itself synchronizes its use
    // (MPI_THREAD_MULTIPLE) or MPIRuntime serializes every call.
    public let rank: Int
    public let size: Int
    package let communicator: MPI_Comm

    private init(communicator: MPI_Comm) throws {
        var rank: Int32 = 0, size: Int32 = 0
        try MPIRuntime.call("MPI_Comm_rank") { MPI_Comm_rank(communicator, &rank) }
        try MPIRuntime.call("MPI_Comm_size") { MPI_Comm_size(communicator, &size) }
        self.communicator = communicator
        self.rank = Int(rank)
        self.size = Int(size)
    }

    deinit {
        guard !MPIRuntime.isFinalized else { return }
        var handle: MPI_Comm? = communicator
        try? MPIRuntime.call("MPI_Comm_free") { MPI_Comm_free(&handle) }
    }

    /// All processes of the job: a duplicate of `MPI_COMM_WORLD` (`MPI_Comm_dup`), so NormKit's
    /// messages never mix with the host program's. A collective over the world.
    public static func world() throws -> MPIProcessGroup {
        try MPIRuntime.ensureInitialized()
        var duplicate: MPI_Comm? = normkit_mpi_comm_null()
        try MPIRuntime.call("MPI_Comm_dup") { MPI_Comm_dup(normkit_mpi_comm_world(), &duplicate) }
        try MPIRuntime.call("MPI_Comm_set_errhandler") {
            MPI_Comm_set_errhandler(duplicate, normkit_mpi_errors_return())
        }
        return try MPIProcessGroup(communicator: duplicate!)
    }

    public func allReduceSum(_ buffer: inout [Float]) throws {
        try allReduce(&buffer, type: normkit_mpi_float())
    }

    public func allReduceSum(_ buffer: inout [Double]) throws {
        try allReduce(&buffer, type: normkit_mpi_double())
    }

    public func allGather(_ buffer: [Float]) throws -> [Float] {
        try gather(buffer, type: normkit_mpi_float())
    }

    public func allGather(_ buffer: [Double]) throws -> [Double] {
        try gather(buffer, type: normkit_mpi_double())
    }

    public func barrier() throws {
        guard size > 1 else { return }
        try MPIRuntime.call("MPI_Barrier") { MPI_Barrier(communicator) }
    }

    /// See ``ProcessGroup/subgroup(ranks:)``. Before `MPI_Comm_create`, which requires identical
    /// arguments on every rank, the ranks all-gather a fixed-size digest of their lists and all
    /// throw ``NormError/collectiveMismatch(operation:expected:actual:)`` if the lists differ.
    public func subgroup(ranks: [Int]) throws -> (any ProcessGroup)? {
        var hash: UInt64 = 0
        for rank in ranks { hash = (hash &* 1_000_003 &+ UInt64(truncatingIfNeeded: rank + 1)) & (1 << 50 - 1) }
        let digest = Double(hash)  // exact: below 2^53
        let all = try allGather([Double(ranks.count), digest])
        for other in 0..<size where all[2 * other] != Double(ranks.count) || all[2 * other + 1] != digest {
            throw NormError.collectiveMismatch(operation: "subgroup", expected: "ranks \(ranks) on every rank",
                                               actual: "a different list on rank \(other)")
        }
        try validateSubgroupRanks(ranks, size: size)
        var parentGroup: MPI_Group?
        try MPIRuntime.call("MPI_Comm_group") { MPI_Comm_group(communicator, &parentGroup) }
        defer { try? MPIRuntime.call("MPI_Group_free") { MPI_Group_free(&parentGroup) } }
        var members: MPI_Group?
        let included = ranks.map(Int32.init)
        try MPIRuntime.call("MPI_Group_incl") { MPI_Group_incl(parentGroup, Int32(included.count), included, &members) }
        defer { try? MPIRuntime.call("MPI_Group_free") { MPI_Group_free(&members) } }
        var created: MPI_Comm? = normkit_mpi_comm_null()
        try MPIRuntime.call("MPI_Comm_create") { MPI_Comm_create(communicator, members, &created) }
        guard let created, created != normkit_mpi_comm_null() else { return nil }
        try MPIRuntime.call("MPI_Comm_set_errhandler") { MPI_Comm_set_errhandler(created, normkit_mpi_errors_return()) }
        return try MPIProcessGroup(communicator: created)
    }

    private func allReduce<T>(_ buffer: inout [T], type: MPI_Datatype) throws {
        guard size > 1 else { return }
        let count = try Self.count(buffer.count)
        let communicator = self.communicator
        try buffer.withUnsafeMutableBytes { bytes in
            try MPIRuntime.call("MPI_Allreduce") {
                MPI_Allreduce(normkit_mpi_in_place(), bytes.baseAddress, count, type, normkit_mpi_sum(), communicator)
            }
        }
    }

    private func gather<T: BinaryFloatingPoint>(_ buffer: [T], type: MPI_Datatype) throws -> [T] {
        guard size > 1 else { return buffer }
        let count = try Self.count(buffer.count)
        var result = [T](repeating: 0, count: buffer.count * size)
        let communicator = self.communicator
        try buffer.withUnsafeBytes { send in
            try result.withUnsafeMutableBytes { receive in
                try MPIRuntime.call("MPI_Allgather") {
                    MPI_Allgather(send.baseAddress, count, type, receive.baseAddress, count, type, communicator)
                }
            }
        }
        return result
    }

    private static func count(_ count: Int) throws -> Int32 {
        guard let narrow = Int32(exactly: count) else {
            throw NormError.invalidArgument(name: "count", expected: "at most \(Int32.max) elements", actual: "\(count)")
        }
        return narrow
    }
}
#endif
