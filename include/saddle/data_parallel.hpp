#pragma once
/// \file data_parallel.hpp
/// Data-parallel evaluation of a stochastic problem over several processes.
///
/// Every process (rank) runs the same solve with the same options and seed. On each
/// minibatch, rank r evaluates only its contiguous share of the batch's rows; the loss, the
/// constraint values and the gradient are then summed over the ranks, each weighted by its
/// share of the rows, so every rank sees the values of the whole batch and applies the same
/// primal and dual step: the model stays identical on every rank, and the global batch (and
/// so the optimisation) is the one of a single process. The communication is one all-reduce
/// of 1 + 2m doubles per forward and one of n scalars per backward.
///
/// What this requires of the wrapped problem (the ones of saddle's L0 plugin and the analytic
/// regression satisfy it):
/// - loss and constraint values are means over the batch rows plus terms that do not depend
///   on the rows (e.g. an expected density, an L2 term): the share-weighted sum is then exactly
///   the value of the whole batch. Ratios over the batch (e.g. a recall over the rows of one
///   class) are combined as share-weighted means of the ranks' ratios: an approximation, which
///   the problem's documentation must state;
/// - any randomness of one evaluation is drawn from `Batch::noise_seed` only, never from the
///   rows it sees (L0 gates: one noise sample per layer per minibatch, identical on all ranks);
/// - `shuffle(seed)` gives the same order on every rank (it depends on the seed only).
///
/// The Communicator is an interface: `saddle::mpi::Communicator` (<saddle/mpi.hpp>, library
/// saddle_mpi, optional) implements it on MPI_Allreduce; SerialCommunicator is the one-process
/// case.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "saddle/problem.hpp"
#include "saddle/types.hpp"

namespace saddle {

/// Sum-reductions across the processes of a data-parallel run.
class Communicator {
 public:
  virtual ~Communicator() = default;
  /// This process's index in [0, size()).
  virtual int rank() const = 0;
  /// Number of processes.
  virtual int size() const = 0;
  /// In place, data: [n] <- elementwise sum over the ranks; every rank receives the same
  /// result. Throws InputError when the transport fails.
  virtual void allreduce_sum(double* data, std::size_t n) = 0;
  virtual void allreduce_sum(float* data, std::size_t n) = 0;
  /// Blocks until every rank has called it.
  virtual void barrier() = 0;
};

/// The one-process communicator: rank 0 of 1; reductions leave the data as it is.
class SerialCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(double* data, std::size_t n) override { (void)data, (void)n; }
  void allreduce_sum(float* data, std::size_t n) override { (void)data, (void)n; }
  void barrier() override {}
};

/// The rows of a batch of `batch_size` rows that rank `rank` of `size` evaluates: contiguous,
/// in rank order, the first batch_size % size ranks one row more. `count` may be 0 when the
/// batch has fewer rows than there are ranks.
struct Shard {
  std::size_t offset = 0;  ///< first row, relative to the batch's first row
  std::size_t count = 0;   ///< number of rows
};
Shard shard_of(std::size_t batch_size, int rank, int size);

/// A stochastic problem evaluated data-parallel (see the file comment). Wraps `inner` and
/// `comm` without owning them; both must outlive it. Throws InvalidOption for a
/// deterministic inner problem (num_samples() == 0: nothing to split). forward and backward
/// allocate nothing after construction.
template <class T>
class DataParallelProblem final : public BasicProblem<T> {
 public:
  DataParallelProblem(BasicProblem<T>& inner, Communicator& comm);

  std::size_t num_parameters() const override { return inner_.num_parameters(); }
  std::vector<ConstraintSpec> constraints() const override { return inner_.constraints(); }
  void initial_point(Vector<T>& x, std::uint64_t seed) const override { inner_.initial_point(x, seed); }
  /// Evaluates this rank's share of `batch` (a batch of size 0 means all samples) and sums
  /// the share-weighted loss, constraints and strict values over the ranks.
  void forward(const Vector<T>& x, const Batch& batch, Evaluation& eval) override;
  /// This rank's share-weighted gradient, summed over the ranks: grad: [n].
  void backward(const Vector<double>& weights, Vector<T>& grad) override;
  void evaluate_constraints(const Vector<T>& x, const Batch& batch, Evaluation& eval) override;
  std::size_t num_samples() const override { return inner_.num_samples(); }
  void shuffle(std::uint64_t seed) override { inner_.shuffle(seed); }
  void project(Vector<T>& x) const override { inner_.project(x); }

  /// The rows this rank evaluated in the last forward (relative to the batch).
  const Shard& last_shard() const { return shard_; }
  /// Its share of the batch rows, last_shard().count / rows, in [0, 1].
  double last_share() const { return share_; }
  BasicProblem<T>& inner() { return inner_; }

 private:
  void evaluate(const Vector<T>& x, const Batch& batch, Evaluation& eval, bool constraints_only);

  BasicProblem<T>& inner_;
  Communicator& comm_;
  std::size_t m_ = 0;
  Shard shard_;
  double share_ = 0.0;             // shard_.count / batch rows
  Evaluation local_;               // [m] this rank's evaluation
  std::vector<double> reduce_;     // [1 + 2m + 1] loss, constraints, strict, has_strict
};

extern template class DataParallelProblem<float>;
extern template class DataParallelProblem<double>;

}  // namespace saddle
