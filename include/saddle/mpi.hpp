#pragma once
/// \file mpi.hpp
/// MPI transport for data-parallel runs (library saddle_mpi, CMake target saddle::mpi; built
/// only when CMake finds MPI: Debian's libopenmpi-dev). MPI's own header is not included
/// here, so code that uses this header compiles without MPI's include paths.
///
///     saddle::mpi::Session session(&argc, &argv);   // MPI_Init ... MPI_Finalize
///     saddle::mpi::Communicator comm;                // MPI_COMM_WORLD
///     saddle::DataParallelProblem<float> parallel(problem, comm);
///     saddle::solve(parallel, options, "gda");       // same model on every rank

#include <cstddef>
#include <string>

#include "saddle/data_parallel.hpp"

namespace saddle::mpi {

/// Initialises MPI (MPI_Init_thread, funneled) unless it is already initialised, and
/// finalises it on destruction if it initialised it. One per process, in main().
/// Errors of later MPI calls are returned, not fatal: Communicator turns them into InputError.
class Session {
 public:
  Session(int* argc, char*** argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// True when this process was started by an MPI launcher (mpirun / mpiexec / srun with
  /// PMI): the environment names a world size. Cheap; does not initialise MPI.
  static bool launched();

 private:
  bool owns_ = false;
};

/// saddle::Communicator on MPI_COMM_WORLD (MPI_Allreduce with MPI_SUM; MPI_Barrier).
/// Requires an initialised MPI (a Session). Allocates nothing per call.
class Communicator final : public saddle::Communicator {
 public:
  /// Throws InputError when MPI is not initialised.
  Communicator();
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allreduce_sum(double* data, std::size_t n) override;
  void allreduce_sum(float* data, std::size_t n) override;
  void barrier() override;
  /// Point-to-point messages (work assignment, results sent to rank 0). Blocking send of
  /// `bytes` (< 2 GiB) to rank `dest` with message tag `tag` (>= 0).
  void send(int dest, int tag, const std::string& bytes);
  /// Blocking receive of the next message with `tag` from rank `source` (-1: any rank);
  /// `from` (may be null) receives the sender's rank.
  std::string receive(int source, int tag, int* from = nullptr);
  /// The rank of a message with `tag` waiting to be received, or -1 (never blocks).
  int poll(int tag);
  /// Ends every process of the job with exit code `code` (MPI_Abort): for a failure on one
  /// rank while the others wait inside a collective call.
  [[noreturn]] void abort(int code);

 private:
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace saddle::mpi
