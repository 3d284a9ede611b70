// Open MPI's C API, found through pkg-config (`ompi`). Only imported when the package trait
// `MPI` is enabled.
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>
