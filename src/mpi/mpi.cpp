// MPI transport of data-parallel runs (include/saddle/mpi.hpp).
#include "saddle/mpi.hpp"

#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <string>

namespace saddle::mpi {
namespace {

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw InputError(std::string("MPI: ") + what + " failed: " + std::string(text, static_cast<std::size_t>(length)));
}

// MPI counts are int: reduce in chunks of at most INT_MAX elements.
template <class T>
void allreduce(T* data, std::size_t n, MPI_Datatype type) {
  while (n > 0) {
    const int count = static_cast<int>(n > static_cast<std::size_t>(INT_MAX) ? INT_MAX : n);
    check(MPI_Allreduce(MPI_IN_PLACE, data, count, type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    data += count;
    n -= static_cast<std::size_t>(count);
  }
}

}  // namespace

Session::Session(int* argc, char*** argv) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    owns_ = true;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

Session::~Session() {
  if (!owns_) return;
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (!finalised) MPI_Finalize();
}

bool Session::launched() {
  // Open MPI's mpirun, MPICH/Hydra (PMI), Slurm's srun with PMIx.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

Communicator::Communicator() {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) throw InputError("MPI: not initialised (create a saddle::mpi::Session first)");
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
}

void Communicator::allreduce_sum(double* data, std::size_t n) { allreduce(data, n, MPI_DOUBLE); }
void Communicator::allreduce_sum(float* data, std::size_t n) { allreduce(data, n, MPI_FLOAT); }
void Communicator::barrier() { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

void Communicator::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; in case it does
}

}  // namespace saddle::mpi
