#if MPI
import CMPI
import CMPIShim
import Foundation
import NormKit

/// A ``ProcessGroup`` over an MPI communicator: ranks are processes started by `mpirun`.
///
/// ```swift
/// import NormKitMPI
/// let group = try MPIProcessGroup.world(timeout: 30)   // MPI_COMM_WORLD, duplicated
/// let bn = SyncBatchNorm<Float>(numFeatures: 64, processGroup: group)
/// ```
///
/// | collective       | MPI functions                                                        |
/// |------------------|----------------------------------------------------------------------|
/// | every collective | first `MPI_Iallreduce(…, MPI_MAX)` of a 9-value header (see below)   |
/// | `allReduceSum`   | then `MPI_Iallreduce(MPI_IN_PLACE, …, MPI_SUM)`                       |
/// | `allGather`      | then `MPI_Iallgather`                                                 |
/// | `barrier`        | the header alone                                                      |
/// | `subgroup`       | the header, an `MPI_Iallgather` of the lists' digests, then `MPI_Comm_group`, `MPI_Group_incl`, `MPI_Comm_create` |
/// | `world`          | `MPI_Comm_idup` of `MPI_COMM_WORLD`                                  |
///
/// **Bounded waiting.** Every collective is non-blocking and waits by polling `MPI_Test` (see
/// `MPIRuntime.wait(for:deadline:)`: a 50 µs spin, a yielding spin up to 200 µs, then sleeps
/// that double up to 1 ms, so a waiting rank uses little CPU). A rank that waits longer than ``timeout`` seconds throws
/// ``NormError/collectiveTimeout(operation:rank:timeout:arrived:size:)`` (with `arrived` empty:
/// MPI does not say which ranks are missing). The group is then **broken for good**: every later
/// collective on it throws ``NormError/processGroupBroken(cause:)`` at once; so does any failed
/// MPI call inside a collective. A collective that never completes cannot be cancelled, and the
/// ranks that never arrived may still be blocked elsewhere, so the job cannot recover by itself:
/// report the error and call ``abort(code:)``, which ends every rank (`mpirun` then exits with
/// that code). A job whose ranks all throw something else, such as a mismatch, may go on.
///
/// **Counts are checked.** Before any payload moves, the ranks all-reduce (with `MPI_MAX`) a
/// fixed header: which operation each rank called (one slot per operation), which element type
/// (one slot per type), and (count, −count). If any two ranks differ, every rank throws
/// ``NormError/collectiveMismatch(operation:expected:actual:)``, and the group stays usable. So
/// no rank reads another's mismatched buffer, and ranks that call different collectives (one
/// rank's forward all-gather against another's gradient all-reduce) fail at once instead of
/// hanging. The header costs one small extra collective (72 bytes) per call.
///
/// MPI is initialized on first use and finalized at exit (see `MPIRuntime`). Errors come back as
/// ``NormError/mpiError(function:code:message:)``. Collectives on one group must be called from
/// one thread at a time, in the same order on every rank, as in MPI.
///
/// Build with the package trait `MPI`: `swift build --traits MPI`.
public final class MPIProcessGroup: ProcessGroup, @unchecked Sendable {
    // @unchecked: `communicator` is an immutable MPI handle, which MPI itself synchronizes
    // (MPI_THREAD_MULTIPLE) or MPIRuntime serializes; `broken` is only used under `lock`.
    /// This process's rank in the communicator (`MPI_Comm_rank`), in `0..<size`.
    public let rank: Int
    /// The number of ranks (`MPI_Comm_size`).
    public let size: Int
    /// Seconds a collective waits for the other ranks before it throws and breaks the group.
    public let timeout: Double
    package let communicator: MPI_Comm
    private let lock = NSLock()
    private var broken: NormError?

    /// The timeout of ``world(timeout:)`` when none is given: 30 seconds.
    public static let defaultTimeout: Double = 30
    /// The longest timeout accepted: 10⁶ seconds, about 11.6 days.
    public static let maximumTimeout: Double = 1_000_000

    private init(communicator: MPI_Comm, timeout: Double) throws {
        var rank: Int32 = 0, size: Int32 = 0
        try MPIRuntime.call("MPI_Comm_rank") { MPI_Comm_rank(communicator, &rank) }
        try MPIRuntime.call("MPI_Comm_size") { MPI_Comm_size(communicator, &size) }
        self.communicator = communicator
        self.rank = Int(rank)
        self.size = Int(size)
        self.timeout = timeout
    }

    deinit {
        // A broken group may have a collective pending forever; leave its communicator alone.
        guard !MPIRuntime.isFinalized, broken == nil else { return }
        var handle: MPI_Comm? = communicator
        try? MPIRuntime.call("MPI_Comm_free") { MPI_Comm_free(&handle) }
    }

    /// All processes of the job: a duplicate of `MPI_COMM_WORLD` (`MPI_Comm_idup`), so NormKit's
    /// messages never mix with the host program's. A collective over the world.
    /// - Parameter timeout: seconds each collective (this one included) waits for the other
    ///   ranks, in `0 < timeout ≤` ``maximumTimeout``; default 30.
    /// - Throws: ``NormError/invalidArgument(name:expected:actual:)`` for a timeout out of range,
    ///   ``NormError/collectiveTimeout(operation:rank:timeout:arrived:size:)`` when some rank
    ///   does not call `world` in time (call ``abort(code:)``), and MPI's errors.
    public static func world(timeout: Double = defaultTimeout) throws -> MPIProcessGroup {
        guard timeout > 0, timeout <= maximumTimeout else {
            throw NormError.invalidArgument(
                name: "timeout", expected: "a positive number of seconds, at most \(maximumTimeout)", actual: "\(timeout)")
        }
        try MPIRuntime.ensureInitialized()
        let world = normkit_mpi_comm_world()
        let deadline = Self.deadline(after: timeout)
        // MPI writes the new handle when the duplication completes, which a timeout abandons:
        // the slot then stays allocated for good.
        let slot = UnsafeMutablePointer<MPI_Comm?>.allocate(capacity: 1)
        slot.initialize(to: normkit_mpi_comm_null())
        var request: MPI_Request? = normkit_mpi_request_null()
        try MPIRuntime.call("MPI_Comm_idup") { MPI_Comm_idup(world, slot, &request) }
        guard try MPIRuntime.wait(for: &request, deadline: deadline) else {
            var rank: Int32 = 0, size: Int32 = 0
            try MPIRuntime.call("MPI_Comm_rank") { MPI_Comm_rank(world, &rank) }
            try MPIRuntime.call("MPI_Comm_size") { MPI_Comm_size(world, &size) }
            throw NormError.collectiveTimeout(operation: "world", rank: Int(rank), timeout: timeout, arrived: [],
                                              size: Int(size))
        }
        let duplicate = slot.pointee
        slot.deallocate()
        try MPIRuntime.call("MPI_Comm_set_errhandler") {
            MPI_Comm_set_errhandler(duplicate, normkit_mpi_errors_return())
        }
        return try MPIProcessGroup(communicator: duplicate!, timeout: timeout)
    }

    /// Ends the whole job: `MPI_Abort(MPI_COMM_WORLD, code)`. `mpirun` kills every rank and
    /// exits with a non-zero status. The way out after
    /// ``NormError/collectiveTimeout(operation:rank:timeout:arrived:size:)`` or
    /// ``NormError/processGroupBroken(cause:)``: print the error, then abort. (Exits with `code`
    /// if MPI could not be initialized.)
    public static func abort(code: Int32 = 1) -> Never {
        if (try? MPIRuntime.ensureInitialized()) != nil {
            _ = MPI_Abort(normkit_mpi_comm_world(), code)
        }
        exit(code)
    }

    /// Whether a timeout (or a failed MPI call inside a collective) broke this group.
    public var isBroken: Bool {
        lock.lock()
        defer { lock.unlock() }
        return broken != nil
    }

    /// Replaces `buffer` on every rank by the elementwise sum of all ranks' buffers: the header,
    /// then `MPI_Iallreduce(MPI_IN_PLACE, …, MPI_FLOAT, MPI_SUM)`.
    /// - Throws: ``NormError/collectiveMismatch(operation:expected:actual:)`` when ranks pass
    ///   different counts or call another collective, the timeout and broken-group errors, and
    ///   ``NormError/mpiError(function:code:message:)``.
    public func allReduceSum(_ buffer: inout [Float]) throws {
        try allReduce(&buffer, .float32, type: normkit_mpi_float())
    }

    /// The `Double` form of ``allReduceSum(_:)-([Float])`` (`MPI_DOUBLE`); the same errors.
    public func allReduceSum(_ buffer: inout [Double]) throws {
        try allReduce(&buffer, .float64, type: normkit_mpi_double())
    }

    /// Every rank's buffer concatenated in rank order, `size × buffer.count` elements: the
    /// header, then `MPI_Iallgather`. Every rank must pass the same count.
    /// - Throws: as ``allReduceSum(_:)-([Float])``.
    public func allGather(_ buffer: [Float]) throws -> [Float] {
        try gather(buffer, .allGather, .float32, type: normkit_mpi_float())
    }

    /// The `Double` form of ``allGather(_:)-([Float])``; the same errors.
    public func allGather(_ buffer: [Double]) throws -> [Double] {
        try gather(buffer, .allGather, .float64, type: normkit_mpi_double())
    }

    /// Returns once every rank has called it: the header all-reduce alone, which no rank can
    /// complete before every rank has contributed.
    public func barrier() throws {
        guard size > 1 else { return }
        try agree(.barrier, .none, count: 0, deadline: begin())
    }

    /// See ``ProcessGroup/subgroup(ranks:)``. Before `MPI_Comm_create`, which requires identical
    /// arguments on every rank, the ranks all-gather a fixed-size digest of their lists and all
    /// throw ``NormError/collectiveMismatch(operation:expected:actual:)`` if the lists differ.
    /// `MPI_Comm_create` itself blocks, but only after every rank was seen in the digest exchange.
    /// The subgroup has this group's timeout.
    public func subgroup(ranks: [Int]) throws -> (any ProcessGroup)? {
        var hash: UInt64 = 0
        for rank in ranks { hash = (hash &* 1_000_003 &+ UInt64(truncatingIfNeeded: rank + 1)) & (1 << 50 - 1) }
        let digest = Double(hash)  // exact: below 2^53
        let all = try gather([Double(ranks.count), digest], .subgroup, .float64, type: normkit_mpi_double())
        for other in 0..<size where all[2 * other] != Double(ranks.count) || all[2 * other + 1] != digest {
            throw NormError.collectiveMismatch(operation: "subgroup", expected: "ranks \(ranks)",
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
        return try MPIProcessGroup(communicator: created, timeout: timeout)
    }

    // MARK: - The collectives

    /// What a rank declares in a collective's header.
    private enum Operation: Int, CaseIterable {
        case allReduceSum, allGather, barrier, subgroup
        var name: String { "\(self)" }
    }

    private enum Element: Int, CaseIterable {
        case none, float32, float64
        var name: String {
            switch self {
            case .none: return "no"
            case .float32: return "float32"
            case .float64: return "float64"
            }
        }
    }

    private func allReduce<T>(_ buffer: inout [T], _ element: Element, type: MPI_Datatype) throws {
        guard size > 1 else { return }
        let deadline = try begin()
        let count = try Self.count(buffer.count)
        try agree(.allReduceSum, element, count: buffer.count, deadline: deadline)
        let bytes = buffer.count * MemoryLayout<T>.stride
        let communicator = self.communicator
        try buffer.withUnsafeMutableBytes { values in
            try nonBlocking("MPI_Iallreduce", .allReduceSum, byteCount: bytes, deadline: deadline,
                            fill: { $0.copyMemory(from: UnsafeRawBufferPointer(values)) },
                            start: { memory, request in
                                MPI_Iallreduce(normkit_mpi_in_place(), memory.baseAddress, count, type, normkit_mpi_sum(),
                                               communicator, request)
                            },
                            read: { values.copyMemory(from: UnsafeRawBufferPointer($0)) })
        }
    }

    private func gather<T: BinaryFloatingPoint>(
        _ buffer: [T], _ operation: Operation, _ element: Element, type: MPI_Datatype
    ) throws -> [T] {
        guard size > 1 else { return buffer }
        let deadline = try begin()
        let count = try Self.count(buffer.count)
        _ = try Self.count(buffer.count * size)
        try agree(operation, element, count: buffer.count, deadline: deadline)
        let sendBytes = buffer.count * MemoryLayout<T>.stride
        var result = [T](repeating: 0, count: buffer.count * size)
        let communicator = self.communicator, size = self.size
        try buffer.withUnsafeBytes { send in
            try result.withUnsafeMutableBytes { receive in
                // One allocation: this rank's buffer, then room for everyone's.
                try nonBlocking("MPI_Iallgather", operation, byteCount: sendBytes * (1 + size), deadline: deadline,
                                fill: { $0.copyMemory(from: send) },
                                start: { memory, request in
                                    MPI_Iallgather(memory.baseAddress, count, type, memory.baseAddress! + sendBytes, count,
                                                   type, communicator, request)
                                },
                                read: { receive.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[sendBytes...])) })
            }
        }
        return result
    }

    /// The header all-reduce: every rank learns which operations, element types and counts the
    /// ranks called, and all throw the same mismatch if they differ.
    private func agree(_ operation: Operation, _ element: Element, count: Int, deadline: UInt64) throws {
        let operations = Operation.allCases.count, elements = Element.allCases.count
        let length = operations + elements + 2
        var header = [Int64](repeating: 0, count: length)
        header[operation.rawValue] = 1
        header[operations + element.rawValue] = 1
        header[length - 2] = Int64(count)
        header[length - 1] = -Int64(count)
        let communicator = self.communicator
        try header.withUnsafeMutableBytes { values in
            try nonBlocking("MPI_Iallreduce", operation, byteCount: values.count, deadline: deadline,
                            fill: { $0.copyMemory(from: UnsafeRawBufferPointer(values)) },
                            start: { memory, request in
                                MPI_Iallreduce(normkit_mpi_in_place(), memory.baseAddress, Int32(length), normkit_mpi_int64(),
                                               normkit_mpi_max(), communicator, request)
                            },
                            read: { values.copyMemory(from: UnsafeRawBufferPointer($0)) })
        }
        let called = Operation.allCases.filter { header[$0.rawValue] != 0 }
        let types = Element.allCases.filter { header[operations + $0.rawValue] != 0 }
        let (largest, smallest) = (header[length - 2], -header[length - 1])
        guard called.count > 1 || types.count > 1 || largest != smallest else { return }
        var differences: [String] = []
        if called.count > 1 { differences.append("the ranks called \(called.map(\.name).joined(separator: " and "))") }
        if types.count > 1 { differences.append("with \(types.map(\.name).joined(separator: " and ")) values") }
        if largest != smallest { differences.append("with counts from \(smallest) to \(largest)") }
        throw NormError.collectiveMismatch(operation: operation.name,
                                           expected: "\(operation.name) of \(count) \(element.name) values",
                                           actual: differences.joined(separator: ", "))
    }

    /// Runs one non-blocking MPI operation on memory of its own and waits for it until
    /// `deadline`. `fill` writes the memory, `start` starts the operation on it (returning
    /// MPI's code), `read` reads the result.
    ///
    /// On a timeout the operation stays pending: MPI may write into its memory whenever the
    /// missing ranks arrive, so the memory is never freed. The group is then marked broken and
    /// ``NormError/collectiveTimeout(operation:rank:timeout:arrived:size:)`` is thrown. A failed
    /// MPI call breaks the group too (its peers' state is unknown).
    private func nonBlocking(
        _ function: String, _ operation: Operation, byteCount: Int, deadline: UInt64,
        fill: (UnsafeMutableRawBufferPointer) -> Void,
        start: (UnsafeMutableRawBufferPointer, UnsafeMutablePointer<MPI_Request?>) -> Int32,
        read: (UnsafeMutableRawBufferPointer) -> Void
    ) throws {
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(byteCount, 16), alignment: 16)
        let region = UnsafeMutableRawBufferPointer(rebasing: memory[..<byteCount])
        fill(region)
        var request: MPI_Request? = normkit_mpi_request_null()
        do {
            try MPIRuntime.call(function) { start(region, &request) }
        } catch let error as NormError {
            memory.deallocate()
            throw markBroken(error)
        }
        let completed: Bool
        do {
            completed = try MPIRuntime.wait(for: &request, deadline: deadline)
        } catch let error as NormError {
            throw markBroken(error)  // the request may still be live: keep its memory
        }
        guard completed else {
            throw markBroken(.collectiveTimeout(operation: operation.name, rank: rank, timeout: timeout, arrived: [],
                                                size: size))
        }
        read(region)
        memory.deallocate()
    }

    /// Throws if the group is broken; returns the deadline of a collective that starts now.
    private func begin() throws -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        if let broken { throw NormError.processGroupBroken(cause: broken.description) }
        return Self.deadline(after: timeout)
    }

    private func markBroken(_ error: NormError) -> NormError {
        lock.lock()
        defer { lock.unlock() }
        if broken == nil { broken = error }
        return error
    }

    private static func deadline(after seconds: Double) -> UInt64 {
        MPIRuntime.now() &+ UInt64(seconds * 1e9)
    }

    private static func count(_ count: Int) throws -> Int32 {
        guard let narrow = Int32(exactly: count) else {
            throw NormError.invalidArgument(name: "count", expected: "at most \(Int32.max) elements", actual: "\(count)")
        }
        return narrow
    }
}
#endif
