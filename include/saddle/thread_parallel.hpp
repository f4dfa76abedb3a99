#pragma once
/// \file thread_parallel.hpp
/// Data-parallel evaluation of a stochastic problem over the threads of one process.
///
/// ThreadParallelProblem<T> holds N replicas of a problem (built by a factory: each has its
/// own workspaces, none is shared between threads). On each minibatch, replica i evaluates
/// the contiguous share shard_of(rows, i, N) of the batch's rows on its own thread; the loss,
/// the constraint values and the gradient are then summed **in a fixed order**, replica 0
/// first, each weighted by its share of the rows:
///
///   loss = sum_i share_i * loss_i,   grad[k] = ((s_0 g_0[k] + s_1 g_1[k]) + s_2 g_2[k]) + ...
///
/// so the result depends on N but never on the timing of the threads: two runs with the same
/// seed and the same N are bit-identical, and N threads agree with one thread up to the
/// rounding of these sums (and of the per-row sums each replica makes). N = 1 is the inner
/// problem exactly (a share of 1.0 multiplies by one). The gradient sum itself is split over
/// the threads by index ranges; the order of the terms of each element stays the one above.
///
/// What this requires of the replicated problem (the L0 DensityProblem satisfies it), the same
/// as DataParallelProblem (data_parallel.hpp) asks of the problem of each MPI rank:
/// - loss and constraint values are means over the batch rows plus terms that do not depend
///   on the rows, so the share-weighted sum is the value of the whole batch;
/// - any randomness of one evaluation is drawn from Batch::noise_seed only (every replica
///   draws the same gate noise), and shuffle(seed) gives every replica the same order;
/// - forward may read x concurrently from several threads (it must not write to it).
///
/// Threads compose with MPI ranks: wrap a ThreadParallelProblem in a DataParallelProblem
/// (ranks x threads; each rank splits its share of the batch over its threads).
///
/// Two fork-join backends run the replicas: oneTBB (a fixed-size tbb::task_arena; built when
/// CMake finds TBB, option SADDLE_WITH_TBB) and a small std::thread team (always built).
/// Idle threads of saddle's team poll for at most 50 microseconds, then sleep (TBB's workers
/// spin briefly and sleep too): a team between two solves costs no CPU.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "saddle/data_parallel.hpp"
#include "saddle/problem.hpp"
#include "saddle/range_runner.hpp"
#include "saddle/types.hpp"

namespace saddle {

/// Which fork-join implementation a ThreadTeam uses.
enum class ThreadBackend {
  automatic,   ///< tbb when saddle was built with oneTBB, std_thread otherwise
  tbb,         ///< a tbb::task_arena of the team's size (InvalidOption when built without TBB)
  std_thread,  ///< saddle's own team: N - 1 std::threads plus the calling thread
};
/// "automatic", "tbb" or "std-thread".
const char* to_string(ThreadBackend backend);
/// Parses the names of to_string; throws InvalidOption listing the choices.
ThreadBackend parse_thread_backend(const std::string& name);
/// True when saddle was built with oneTBB (ThreadBackend::tbb is available).
bool tbb_available();

/// A fixed team of `size()` threads (the calling thread included) running fork-join jobs.
/// Not reentrant: one run at a time, from one thread. As a RangeRunner it also splits the
/// solver's per-element work (SolverOptions::range_runner).
class ThreadTeam final : public RangeRunner {
 public:
  /// Starts size - 1 threads (std_thread) or sizes a task arena (tbb). Allocates. Throws
  /// InvalidOption for size 0 or for the tbb backend in a build without TBB.
  explicit ThreadTeam(std::size_t size, ThreadBackend backend = ThreadBackend::automatic);
  ~ThreadTeam() override;
  ThreadTeam(const ThreadTeam&) = delete;
  ThreadTeam& operator=(const ThreadTeam&) = delete;

  std::size_t size() const { return size_; }
  std::size_t workers() const override { return size_; }
  /// The backend in use (never `automatic`).
  ThreadBackend backend() const { return backend_; }
  /// Calls task(ctx, i) once for each i in [0, size()), concurrently, and returns when all
  /// have returned. If tasks throw, the exception of the lowest index is rethrown after all
  /// have finished. Allocates nothing (std_thread; tbb: its task objects come from TBB's
  /// own reused pool).
  void run(void (*task)(void* ctx, std::size_t index), void* ctx) override;
  /// The same for a callable `f(std::size_t index)` (kept by reference, never copied).
  template <class F>
  void run_each(F& f) {
    run([](void* c, std::size_t i) { (*static_cast<F*>(c))(i); }, &f);
  }
  /// The backend's implementation (src/thread_parallel.cpp).
  struct Impl;

 private:
  std::size_t size_;
  ThreadBackend backend_;
  std::unique_ptr<Impl> impl_;
};

/// A stochastic problem evaluated by N replicas on N threads (see the file comment).
template <class T>
class ThreadParallelProblem final : public BasicProblem<T> {
 public:
  /// Builds replica i = make(i) for i in [0, threads). Throws InvalidOption for threads = 0,
  /// a null replica, a deterministic problem (num_samples() = 0) or replicas that disagree
  /// on n, m or the number of samples.
  using Factory = std::function<std::unique_ptr<BasicProblem<T>>(std::size_t index)>;
  ThreadParallelProblem(std::size_t threads, const Factory& make,
                        ThreadBackend backend = ThreadBackend::automatic);
  /// Takes ownership of already built replicas (one per thread).
  explicit ThreadParallelProblem(std::vector<std::unique_ptr<BasicProblem<T>>> replicas,
                                 ThreadBackend backend = ThreadBackend::automatic);
  ~ThreadParallelProblem() override;

  std::size_t num_parameters() const override { return n_; }
  std::vector<ConstraintSpec> constraints() const override { return replicas_[0]->constraints(); }
  /// Replica 0's initial point.
  void initial_point(Vector<T>& x, std::uint64_t seed) const override {
    replicas_[0]->initial_point(x, seed);
  }
  /// Each replica evaluates its share of `batch` (size 0 means all samples) on its thread;
  /// loss, constraints and strict values are the share-weighted sums in replica order.
  void forward(const Vector<T>& x, const Batch& batch, Evaluation& eval) override;
  /// grad: [n] <- sum_i share_i * grad_i in replica order (replicas with no rows skipped).
  void backward(const Vector<double>& weights, Vector<T>& grad) override;
  void evaluate_constraints(const Vector<T>& x, const Batch& batch, Evaluation& eval) override;
  std::size_t num_samples() const override { return replicas_[0]->num_samples(); }
  /// Shuffles every replica (concurrently) with the same seed.
  void shuffle(std::uint64_t seed) override;
  /// Replica 0's projection.
  void project(Vector<T>& x) const override { replicas_[0]->project(x); }

  std::size_t threads() const { return replicas_.size(); }
  ThreadTeam& team() { return team_; }
  BasicProblem<T>& replica(std::size_t i) { return *replicas_.at(i); }
  const BasicProblem<T>& replica(std::size_t i) const { return *replicas_.at(i); }
  /// The rows replica i evaluated in the last forward (relative to the batch).
  const Shard& last_shard(std::size_t i) const { return shards_.at(i); }
  /// Its share of the batch rows, last_shard(i).count / rows, in [0, 1].
  double last_share(std::size_t i) const { return shares_.at(i); }
  /// Runs f(i, replica(i)) for every replica concurrently, one per thread (e.g. each
  /// replica evaluating a share of a test set). Rethrows as ThreadTeam::run does.
  template <class F>
  void for_each_replica(F&& f) {
    auto body = [&](std::size_t i) { f(i, *replicas_[i]); };
    team_.run_each(body);
  }

 private:
  void evaluate(const Vector<T>& x, const Batch& batch, Evaluation& eval, bool constraints_only);

  std::vector<std::unique_ptr<BasicProblem<T>>> replicas_;
  ThreadTeam team_;
  std::size_t n_ = 0, m_ = 0;
  std::vector<Shard> shards_;      // [N] rows of each replica in the last forward
  std::vector<double> shares_;     // [N]
  std::vector<Evaluation> local_;  // [N] each replica's evaluation, [m]
  std::vector<Vector<T>> grads_;   // [N] replica i >= 1 writes its gradient here, [n]
};

extern template class ThreadParallelProblem<float>;
extern template class ThreadParallelProblem<double>;

}  // namespace saddle
