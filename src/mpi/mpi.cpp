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

void Communicator::send(int dest, int tag, const std::string& bytes) {
  if (bytes.size() > static_cast<std::size_t>(INT_MAX))
    throw InputError("MPI: message of " + std::to_string(bytes.size()) + " bytes is too large (at most 2 GiB)");
  check(MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, dest, tag, MPI_COMM_WORLD), "MPI_Send");
}

std::string Communicator::receive(int source, int tag, int* from) {
  MPI_Status status;
  check(MPI_Probe(source < 0 ? MPI_ANY_SOURCE : source, tag, MPI_COMM_WORLD, &status), "MPI_Probe");
  int count = 0;
  check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  std::string bytes(static_cast<std::size_t>(count), '\0');
  check(MPI_Recv(bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
        "MPI_Recv");
  if (from != nullptr) *from = status.MPI_SOURCE;
  return bytes;
}

int Communicator::poll(int tag) {
  int flag = 0;
  MPI_Status status;
  check(MPI_Iprobe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &flag, &status), "MPI_Iprobe");
  return flag ? status.MPI_SOURCE : -1;
}

void Communicator::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; in case it does
}

}  // namespace saddle::mpi
