// Data-parallel threads: a fork-join team (oneTBB task arena or std::threads) and the
// replicated problem that splits each minibatch over it (include/saddle/thread_parallel.hpp).
#include "saddle/thread_parallel.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <xtensor/xnoalias.hpp>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#ifdef SADDLE_HAS_TBB
#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>
#endif

namespace saddle {

const char* to_string(ThreadBackend backend) {
  switch (backend) {
    case ThreadBackend::automatic:
      return "automatic";
    case ThreadBackend::tbb:
      return "tbb";
    case ThreadBackend::std_thread:
      return "std-thread";
  }
  return "?";
}

ThreadBackend parse_thread_backend(const std::string& name) {
  if (name == "automatic") return ThreadBackend::automatic;
  if (name == "tbb") return ThreadBackend::tbb;
  if (name == "std-thread") return ThreadBackend::std_thread;
  throw InvalidOption("unknown thread backend '" + name +
                      "' (choices: automatic, tbb, std-thread)");
}

bool tbb_available() {
#ifdef SADDLE_HAS_TBB
  return true;
#else
  return false;
#endif
}

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// How long an idle thread polls before it sleeps on a condition variable: long enough to
// catch the next fork of a training step (forward -> backward -> reduce follow each other
// within microseconds), short enough not to burn a core that another process could use.
constexpr auto kSpin = std::chrono::microseconds(50);

// Polls `ready` for at most kSpin; true when it became true.
template <class Ready>
bool spin_until(Ready ready) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int k = 0; k < 64; ++k) {
      if (ready()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= until) return ready();
  }
}

}  // namespace

// One implementation per backend; both call task(ctx, i) for every index and keep the
// exception of each index.
struct ThreadTeam::Impl {
  virtual ~Impl() = default;
  virtual void run(void (*task)(void*, std::size_t), void* ctx) = 0;
};

namespace {

// Runs one index and records its exception (the caller rethrows the lowest index's).
inline void run_guarded(void (*task)(void*, std::size_t), void* ctx, std::size_t i,
                        std::exception_ptr& error) {
  try {
    task(ctx, i);
  } catch (...) {
    error = std::current_exception();
  }
}

// saddle's own team: thread i (1..N-1) runs index i, the calling thread runs index 0. A run
// publishes the job under the mutex by bumping `generation_`; workers poll it briefly, then
// sleep on `start_` (woken only when someone sleeps); the caller waits for `pending_` the
// same way.
class StdThreadTeam final : public ThreadTeam::Impl {
 public:
  explicit StdThreadTeam(std::size_t size) : errors_(size) {
    workers_.reserve(size - 1);
    for (std::size_t i = 1; i < size; ++i) workers_.emplace_back([this, i] { work(i); });
  }
  ~StdThreadTeam() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    start_.notify_all();
    for (auto& t : workers_) t.join();
  }
  void run(void (*task)(void*, std::size_t), void* ctx) override {
    for (auto& e : errors_) e = nullptr;
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = task;
      ctx_ = ctx;
      pending_.store(workers_.size(), std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
      wake = sleeping_workers_ > 0;
    }
    if (wake) start_.notify_all();
    run_guarded(task, ctx, 0, errors_[0]);
    auto done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
    if (!spin_until(done)) {
      std::unique_lock<std::mutex> lock(mutex_);
      caller_sleeping_ = true;
      done_.wait(lock, done);
      caller_sleeping_ = false;
    }
    for (auto& e : errors_)
      if (e) std::rethrow_exception(e);
  }

 private:
  void work(std::size_t index) {
    std::uint64_t seen = 0;
    for (;;) {
      auto started = [&] { return generation_.load(std::memory_order_acquire) != seen; };
      if (!spin_until(started)) {
        std::unique_lock<std::mutex> lock(mutex_);
        ++sleeping_workers_;
        start_.wait(lock, started);
        --sleeping_workers_;
      }
      void (*task)(void*, std::size_t);
      void* ctx;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        seen = generation_.load(std::memory_order_relaxed);
        if (stop_) return;
        task = task_;
        ctx = ctx_;
      }
      run_guarded(task, ctx, index, errors_[index]);
      bool wake = false;
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        wake = caller_sleeping_;
      }
      if (wake) done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::vector<std::exception_ptr> errors_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::size_t> pending_{0};
  std::size_t sleeping_workers_ = 0;  // guarded by mutex_
  bool caller_sleeping_ = false;      // guarded by mutex_
  bool stop_ = false;                 // guarded by mutex_
  void (*task_)(void*, std::size_t) = nullptr;
  void* ctx_ = nullptr;
};

#ifdef SADDLE_HAS_TBB
// oneTBB: an arena of exactly `size` slots (one reserved for the calling thread), and a
// parallel_for over the indices with grain 1 and the static partitioner (one index per
// slot). TBB's default pool has one worker less than the machine has cores; a team larger
// than that (3 threads on 2 cores) raises the limit while it lives, so that every slot
// gets a thread.
class TbbTeam final : public ThreadTeam::Impl {
 public:
  explicit TbbTeam(std::size_t size)
      : limit_(tbb::global_control::max_allowed_parallelism,
               std::max(size, tbb::global_control::active_value(
                                  tbb::global_control::max_allowed_parallelism))),
        arena_(static_cast<int>(size), 1),
        errors_(size) {
    arena_.initialize();
  }
  void run(void (*task)(void*, std::size_t), void* ctx) override {
    for (auto& e : errors_) e = nullptr;
    arena_.execute([&] {
      tbb::parallel_for(
          tbb::blocked_range<std::size_t>(0, errors_.size(), 1),
          [&](const tbb::blocked_range<std::size_t>& r) {
            for (std::size_t i = r.begin(); i != r.end(); ++i)
              run_guarded(task, ctx, i, errors_[i]);
          },
          tbb::static_partitioner());
    });
    for (auto& e : errors_)
      if (e) std::rethrow_exception(e);
  }

 private:
  tbb::global_control limit_;
  tbb::task_arena arena_;
  std::vector<std::exception_ptr> errors_;
};
#endif

// Runs every index on the calling thread (a team of one).
class InlineTeam final : public ThreadTeam::Impl {
 public:
  void run(void (*task)(void*, std::size_t), void* ctx) override { task(ctx, 0); }
};

}  // namespace

ThreadTeam::ThreadTeam(std::size_t size, ThreadBackend backend) : size_(size), backend_(backend) {
  if (size == 0) throw InvalidOption("threads = 0: must be >= 1");
  if (backend_ == ThreadBackend::automatic)
    backend_ = tbb_available() ? ThreadBackend::tbb : ThreadBackend::std_thread;
  if (backend_ == ThreadBackend::tbb && !tbb_available())
    throw InvalidOption(
        "thread backend tbb: saddle was built without oneTBB (install libtbb-dev and rebuild)");
  if (size == 1) {
    impl_ = std::make_unique<InlineTeam>();
  } else if (backend_ == ThreadBackend::std_thread) {
    impl_ = std::make_unique<StdThreadTeam>(size);
  } else {
#ifdef SADDLE_HAS_TBB
    impl_ = std::make_unique<TbbTeam>(size);
#endif
  }
}

ThreadTeam::~ThreadTeam() = default;

void ThreadTeam::run(void (*task)(void*, std::size_t), void* ctx) { impl_->run(task, ctx); }

// --- ThreadParallelProblem ---

namespace {

template <class T>
std::vector<std::unique_ptr<BasicProblem<T>>> build_replicas(
    std::size_t threads, const typename ThreadParallelProblem<T>::Factory& make) {
  if (threads == 0) throw InvalidOption("threads = 0: must be >= 1");
  std::vector<std::unique_ptr<BasicProblem<T>>> replicas;
  for (std::size_t i = 0; i < threads; ++i) replicas.push_back(make(i));
  return replicas;
}

template <class T>
std::size_t checked_size(const std::vector<std::unique_ptr<BasicProblem<T>>>& replicas) {
  if (replicas.empty()) throw InvalidOption("threads = 0: must be >= 1");
  for (std::size_t i = 0; i < replicas.size(); ++i)
    if (!replicas[i])
      throw InvalidOption("thread parallel: replica " + std::to_string(i) + " is null");
  return replicas.size();
}

}  // namespace

template <class T>
ThreadParallelProblem<T>::ThreadParallelProblem(std::size_t threads, const Factory& make,
                                                ThreadBackend backend)
    : ThreadParallelProblem(build_replicas<T>(threads, make), backend) {}

template <class T>
ThreadParallelProblem<T>::ThreadParallelProblem(
    std::vector<std::unique_ptr<BasicProblem<T>>> replicas, ThreadBackend backend)
    : replicas_(std::move(replicas)), team_(checked_size(replicas_), backend) {
  const BasicProblem<T>& first = *replicas_[0];
  if (first.num_samples() == 0)
    throw InvalidOption(
        "thread parallel: the problem is deterministic (num_samples() = 0): nothing to split");
  n_ = first.num_parameters();
  m_ = first.constraints().size();
  for (std::size_t i = 1; i < replicas_.size(); ++i) {
    const BasicProblem<T>& r = *replicas_[i];
    if (r.num_parameters() != n_ || r.constraints().size() != m_ ||
        r.num_samples() != first.num_samples())
      throw InvalidOption("thread parallel: replica " + std::to_string(i) +
                          " (n = " + std::to_string(r.num_parameters()) +
                          ", m = " + std::to_string(r.constraints().size()) +
                          ", samples = " + std::to_string(r.num_samples()) +
                          ") differs from replica 0 (n = " + std::to_string(n_) +
                          ", m = " + std::to_string(m_) +
                          ", samples = " + std::to_string(first.num_samples()) + ")");
  }
  const std::size_t N = replicas_.size();
  shards_.assign(N, Shard{});
  shares_.assign(N, 0.0);
  local_.resize(N);
  for (auto& e : local_) e.resize(m_);
  // With two or more replicas every replica (0 included) writes its own buffer, which only
  // its thread writes: no cache line of `grad` or of a gradient buffer is written by two
  // cores in one step (see backward).
  grads_.resize(N);
  if (N > 1)
    for (std::size_t i = 0; i < N; ++i) grads_[i] = Vector<T>::from_shape({n_});
}

template <class T>
ThreadParallelProblem<T>::~ThreadParallelProblem() = default;

template <class T>
void ThreadParallelProblem<T>::evaluate(const Vector<T>& x, const Batch& batch, Evaluation& eval,
                                        bool constraints_only) {
  const std::size_t N = replicas_.size();
  const std::size_t rows = batch.size == 0 ? num_samples() : batch.size;
  for (std::size_t i = 0; i < N; ++i) {
    shards_[i] = shard_of(rows, static_cast<int>(i), static_cast<int>(N));
    shares_[i] = rows ? static_cast<double>(shards_[i].count) / static_cast<double>(rows) : 0.0;
  }
  auto body = [&](std::size_t i) {
    if (shards_[i].count == 0) return;
    const Batch mine{batch.begin + shards_[i].offset, shards_[i].count, batch.noise_seed};
    local_[i].has_strict = false;
    if (constraints_only)
      replicas_[i]->evaluate_constraints(x, mine, local_[i]);
    else
      replicas_[i]->forward(x, mine, local_[i]);
  };
  team_.run_each(body);
  // Share-weighted sums in replica order (fixed: independent of the threads' timing).
  bool first = true, has_strict = false;
  for (std::size_t i = 0; i < N; ++i) {
    if (shards_[i].count == 0) continue;
    const Evaluation& e = local_[i];
    const double s = shares_[i];
    has_strict = has_strict || e.has_strict;
    if (first) {
      eval.loss = s * e.loss;
      for (std::size_t k = 0; k < m_; ++k) {
        eval.constraints(k) = s * e.constraints(k);
        eval.strict(k) = s * (e.has_strict ? e.strict(k) : e.constraints(k));
      }
      first = false;
    } else {
      eval.loss += s * e.loss;
      for (std::size_t k = 0; k < m_; ++k) {
        eval.constraints(k) += s * e.constraints(k);
        eval.strict(k) += s * (e.has_strict ? e.strict(k) : e.constraints(k));
      }
    }
  }
  eval.has_strict = has_strict;
}

template <class T>
void ThreadParallelProblem<T>::forward(const Vector<T>& x, const Batch& batch, Evaluation& eval) {
  evaluate(x, batch, eval, false);
}

template <class T>
void ThreadParallelProblem<T>::evaluate_constraints(const Vector<T>& x, const Batch& batch,
                                                    Evaluation& eval) {
  evaluate(x, batch, eval, true);
}

template <class T>
void ThreadParallelProblem<T>::backward(const Vector<double>& weights, Vector<T>& grad) {
  const std::size_t N = replicas_.size();
  if (N == 1) {
    if (shards_[0].count > 0) replicas_[0]->backward(weights, grad);
    if (shares_[0] != 1.0) xt::noalias(grad) = static_cast<T>(shares_[0]) * grad;
    return;
  }
  // Replica i writes its private buffer grads_[i] on thread i.
  auto body = [&](std::size_t i) {
    if (shards_[i].count == 0) return;
    replicas_[i]->backward(weights, grads_[i]);
  };
  team_.run_each(body);
  // grad[k] = s_0 g_0[k] + s_1 g_1[k] + ... in replica order. Thread t sums the elements
  // chunk_range(n, t, N): whole cache lines, and the same ranges the primal rule's update
  // uses on a team of this size (SolverOptions::range_runner), so the gradient a thread
  // writes here is the gradient it reads there, in its own cache. Measured on two cores: the
  // earlier split (replica 0 writing `grad`, the other thread summing into half of it) moved
  // those lines between the cores twice a step.
  auto reduce = [&](std::size_t t) {
    const IndexRange part = chunk_range(n_, t, N);
    const std::size_t lo = part.begin, hi = part.end;
    T* out = grad.data();
    bool first = true;
    for (std::size_t i = 0; i < N; ++i) {
      if (shards_[i].count == 0) continue;
      const T s = static_cast<T>(shares_[i]);
      const T* g = grads_[i].data();
      if (first) {
        for (std::size_t k = lo; k < hi; ++k) out[k] = s * g[k];
        first = false;
      } else {
        for (std::size_t k = lo; k < hi; ++k) out[k] += s * g[k];
      }
    }
    if (first)  // no replica had rows (an empty batch): the gradient is zero
      for (std::size_t k = lo; k < hi; ++k) out[k] = T(0);
  };
  team_.run_each(reduce);
}

template <class T>
void ThreadParallelProblem<T>::shuffle(std::uint64_t seed) {
  auto body = [&](std::size_t i) { replicas_[i]->shuffle(seed); };
  team_.run_each(body);
}

template class ThreadParallelProblem<float>;
template class ThreadParallelProblem<double>;

}  // namespace saddle
