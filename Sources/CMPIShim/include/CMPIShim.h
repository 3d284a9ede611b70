// The MPI handles and constants that are macros in <mpi.h>, and so do not import into Swift,
// exposed as functions. Empty unless <mpi.h> is on the include path (package trait `MPI`).
#ifndef NORMKIT_CMPISHIM_H
#define NORMKIT_CMPISHIM_H

#if __has_include(<mpi.h>)
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>

MPI_Comm normkit_mpi_comm_world(void);
MPI_Comm normkit_mpi_comm_null(void);
MPI_Datatype normkit_mpi_float(void);
MPI_Datatype normkit_mpi_double(void);
MPI_Op normkit_mpi_sum(void);
void *normkit_mpi_in_place(void);
MPI_Errhandler normkit_mpi_errors_return(void);
int normkit_mpi_success(void);
int normkit_mpi_thread_multiple(void);
int normkit_mpi_max_error_string(void);
MPI_Datatype normkit_mpi_int64(void);
MPI_Op normkit_mpi_max(void);
MPI_Request normkit_mpi_request_null(void);
MPI_Status *normkit_mpi_status_ignore(void);
#endif

#endif
