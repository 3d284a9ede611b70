// normkit-mpi-check: under `mpirun -np K`, checks that SyncBatchNorm over MPIProcessGroup
// equals BatchNorm on the concatenated batch, that ranks which disagree all throw, and that
// MPI errors come back as NormError. Exits 0 when every rank passed, 1 otherwise, and 2 when
// built without the `MPI` trait.
import Foundation

#if MPI
import NormKit
import NormKitMPI

let failures = runMPIChecks()
exit(failures == 0 ? 0 : 1)
#else
FileHandle.standardError.write(Data(
    "normkit-mpi-check was built without MPI; build it with `swift build --traits MPI`\n".utf8))
exit(2)
#endif
