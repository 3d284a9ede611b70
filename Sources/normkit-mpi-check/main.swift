// normkit-mpi-check: under `mpirun -np K`,
//   normkit-mpi-check [checks]           SyncBatchNorm over MPIProcessGroup equals BatchNorm on the
//                                        concatenated batch, ranks that disagree all throw, and MPI
//                                        errors come back as NormError;
//   normkit-mpi-check hangs [SECONDS]    the misuses that used to hang every rank end on every rank
//                                        with a typed error, with a group timeout of SECONDS (2);
//   normkit-mpi-check abort [SECONDS]    ranks that time out call MPIProcessGroup.abort(code: 3);
//                                        mpirun must end the job with status 3;
//   normkit-mpi-check kill-rank          the last rank kills itself; mpirun must end the job.
// Exits 0 when every rank passed, 1 otherwise, 2 when built without the `MPI` trait, and 64 for
// unknown arguments.
import Foundation

#if MPI
import NormKit
import NormKitMPI

let arguments = Array(CommandLine.arguments.dropFirst())
switch (arguments.first ?? "checks", arguments.dropFirst().first) {
case ("checks", nil):
    exit(runMPIChecks() == 0 ? 0 : 1)
case let ("hangs", seconds):
    guard let timeout = Double(seconds ?? "2"), timeout > 0 else { break }
    exit(runHangChecks(timeout: timeout) == 0 ? 0 : 1)
case let ("abort", seconds):
    guard let timeout = Double(seconds ?? "2"), timeout > 0 else { break }
    exit(Int32(runAbortAfterTimeout(timeout: timeout)))
case ("kill-rank", nil):
    exit(Int32(runKillRank()))
default:
    break
}
FileHandle.standardError.write(Data("usage: normkit-mpi-check [checks | hangs [SECONDS] | abort [SECONDS] | kill-rank]\n".utf8))
exit(64)
#else
FileHandle.standardError.write(Data(
    "normkit-mpi-check was built without MPI; build it with `swift build --traits MPI`\n".utf8))
exit(2)
#endif
