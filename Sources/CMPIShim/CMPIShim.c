#include "CMPIShim.h"

#if __has_include(<mpi.h>)
MPI_Comm normkit_mpi_comm_world(void) { return MPI_COMM_WORLD; }
MPI_Comm normkit_mpi_comm_null(void) { return MPI_COMM_NULL; }
MPI_Datatype normkit_mpi_float(void) { return MPI_FLOAT; }
MPI_Datatype normkit_mpi_double(void) { return MPI_DOUBLE; }
MPI_Op normkit_mpi_sum(void) { return MPI_SUM; }
void *normkit_mpi_in_place(void) { return MPI_IN_PLACE; }
MPI_Errhandler normkit_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
int normkit_mpi_success(void) { return MPI_SUCCESS; }
int normkit_mpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
int normkit_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
MPI_Datatype normkit_mpi_int64(void) { return MPI_INT64_T; }
MPI_Op normkit_mpi_max(void) { return MPI_MAX; }
MPI_Request normkit_mpi_request_null(void) { return MPI_REQUEST_NULL; }
MPI_Status *normkit_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
#else
// Built without the MPI trait: nothing to expose.
typedef int normkit_cmpishim_empty;
#endif
