// ThreadParallelProblem and ThreadTeam: every index runs once, errors come back, one thread
// equals the wrapped problem bit for bit, N threads repeat bit for bit (and agree between the
// two backends: the reduction order is fixed), N threads agree with one thread up to rounding,
// the wrapper's gradient passes a finite-difference check, and a step allocates nothing in
// any thread.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/allocation_counter.hpp"
#include "saddle/gradient_check.hpp"
#include "saddle/solvers.hpp"
#include "saddle/thread_parallel.hpp"
#include "toy_problems.hpp"

using namespace saddle;

namespace {

std::vector<ThreadBackend> backends() {
  std::vector<ThreadBackend> b{ThreadBackend::std_thread};
  if (tbb_available()) b.push_back(ThreadBackend::tbb);
  return b;
}

// Stochastic least squares with a row-dependent and a row-independent constraint and proxy
// (strict) values:  loss = mean_r 0.5 (a_r . x - b_r)^2 + 0.5 mu |x|^2,
//   c_0 = mean_r (a_r . x) - 0.3   (strict: the same minus 0.01),   c_1 = sum_j x_j^2 - 1.
// n = 37 parameters (not a multiple of the reduction's blocks), 50 rows.
template <class T>
class Regression final : public BasicProblem<T> {
 public:
  static constexpr std::size_t kN = 37, kRows = 50;
  Regression() : a_(kRows * kN), b_(kRows), order_(kRows), u_(kRows) {
    std::uint64_t s = 12345;
    auto next = [&] {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      return static_cast<double>(s >> 11) / 9007199254740992.0 - 0.5;
    };
    for (auto& v : a_) v = next();
    for (auto& v : b_) v = next();
    for (std::size_t k = 0; k < kRows; ++k) order_[k] = k;
  }
  std::size_t num_parameters() const override { return kN; }
  std::vector<ConstraintSpec> constraints() const override {
    return {{"mean_fit", ConstraintKind::inequality}, {"norm", ConstraintKind::inequality}};
  }
  void initial_point(Vector<T>& x, std::uint64_t seed) const override {
    for (std::size_t j = 0; j < kN; ++j)
      x(j) = static_cast<T>(0.1 * std::sin(static_cast<double>(j + seed)));
  }
  std::size_t num_samples() const override { return kRows; }
  void shuffle(std::uint64_t seed) override {
    for (std::size_t k = 0; k < kRows; ++k) order_[k] = k;
    std::uint64_t s = seed;
    for (std::size_t k = kRows; k > 1; --k) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      std::swap(order_[k - 1], order_[(s >> 33) % k]);
    }
  }
  void forward(const Vector<T>& x, const Batch& b, Evaluation& e) override {
    x_ = &x;
    begin_ = b.begin;
    rows_ = b.size;
    const double mu = 1e-3 * static_cast<double>(b.noise_seed % 7);  // noise from the seed only
    mu_ = mu;
    double loss = 0.0, fit = 0.0, norm = 0.0;
    for (std::size_t r = 0; r < rows_; ++r) {
      const double* a = a_.data() + order_[begin_ + r] * kN;
      double p = 0.0;
      for (std::size_t j = 0; j < kN; ++j) p += a[j] * static_cast<double>(x(j));
      u_[r] = p - b_[order_[begin_ + r]];
      loss += 0.5 * u_[r] * u_[r];
      fit += p;
    }
    for (std::size_t j = 0; j < kN; ++j)
      norm += static_cast<double>(x(j)) * static_cast<double>(x(j));
    e.loss = loss / static_cast<double>(rows_) + 0.5 * mu * norm;
    e.constraints(0) = fit / static_cast<double>(rows_) - 0.3;
    e.constraints(1) = norm - 1.0;
    e.strict(0) = e.constraints(0) - 0.01;
    e.strict(1) = e.constraints(1);
    e.has_strict = true;
  }
  void backward(const Vector<double>& w, Vector<T>& g) override {
    const Vector<T>& x = *x_;
    for (std::size_t j = 0; j < kN; ++j) {
      double sum = 0.0;
      for (std::size_t r = 0; r < rows_; ++r) {
        const double* a = a_.data() + order_[begin_ + r] * kN;
        sum += (u_[r] + w(0)) * a[j];
      }
      g(j) = static_cast<T>(sum / static_cast<double>(rows_) +
                            (mu_ + 2.0 * w(1)) * static_cast<double>(x(j)));
    }
  }

 private:
  std::vector<double> a_, b_;
  std::vector<std::size_t> order_;
  std::vector<double> u_;
  const Vector<T>* x_ = nullptr;
  std::size_t begin_ = 0, rows_ = 0;
  double mu_ = 0.0;
};

template <class T>
std::unique_ptr<ThreadParallelProblem<T>> threaded(std::size_t threads, ThreadBackend backend) {
  return std::make_unique<ThreadParallelProblem<T>>(
      threads, [](std::size_t) { return std::make_unique<Regression<T>>(); }, backend);
}

SolverOptions minibatch_options() {
  SolverOptions o;
  o.primal.kind = PrimalRuleKind::adam;
  o.primal.lr = 0.02;
  o.dual.lr = 0.05;
  o.dual_restarts = true;
  o.batch_size = 16;  // 50 rows: batches of 16, 16, 16 and 2 (fewer rows than 3 threads)
  o.max_epochs = 6;
  o.max_iterations = 0;
  o.seed = 7;
  return o;
}

template <class T>
void expect_identical(const Summary<T>& a, const Summary<T>& b) {
  ASSERT_EQ(a.iterations, b.iterations);
  ASSERT_EQ(a.x.size(), b.x.size());
  for (std::size_t i = 0; i < a.x.size(); ++i) EXPECT_EQ(a.x(i), b.x(i)) << "x[" << i << "]";
  for (std::size_t i = 0; i < a.multipliers.size(); ++i)
    EXPECT_EQ(a.multipliers(i), b.multipliers(i));
  EXPECT_EQ(a.loss, b.loss);
}

}  // namespace

TEST(ThreadTeam, RunsEveryIndexOnceForEachBackendAndSize) {
  for (auto backend : backends())
    for (std::size_t size : {1u, 2u, 3u, 5u}) {
      ThreadTeam team(size, backend);
      EXPECT_EQ(team.size(), size);
      EXPECT_NE(team.backend(), ThreadBackend::automatic);
      std::vector<std::atomic<int>> hits(size);
      for (int round = 0; round < 200; ++round) {
        auto body = [&](std::size_t i) { hits[i].fetch_add(1); };
        team.run_each(body);
      }
      for (std::size_t i = 0; i < size; ++i)
        EXPECT_EQ(hits[i].load(), 200) << to_string(backend) << " size " << size;
    }
}

TEST(ThreadTeam, RethrowsTheLowestIndexAfterAllTasksFinished) {
  for (auto backend : backends()) {
    ThreadTeam team(3, backend);
    std::atomic<int> finished{0};
    auto body = [&](std::size_t i) {
      finished.fetch_add(1);
      if (i >= 1) throw std::runtime_error("task " + std::to_string(i));
    };
    try {
      team.run_each(body);
      FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), "task 1");
    }
    EXPECT_EQ(finished.load(), 3);
    // The team still works after an error.
    auto ok = [&](std::size_t) { finished.fetch_add(1); };
    team.run_each(ok);
    EXPECT_EQ(finished.load(), 6);
  }
}

TEST(ThreadTeam, RejectsZeroThreadsAndAMissingBackend) {
  EXPECT_THROW(ThreadTeam(0), InvalidOption);
  if (!tbb_available()) {
    EXPECT_THROW(ThreadTeam(2, ThreadBackend::tbb), InvalidOption);
  }
  EXPECT_EQ(parse_thread_backend("std-thread"), ThreadBackend::std_thread);
  EXPECT_THROW(parse_thread_backend("openmp"), InvalidOption);
}

TEST(ThreadParallel, OneThreadEqualsTheWrappedProblemBitForBit) {
  const auto o = minibatch_options();
  Regression<double> alone;
  auto one = threaded<double>(1, ThreadBackend::automatic);
  expect_identical(solve(alone, o, "extragradient"), solve(*one, o, "extragradient"));
}

TEST(ThreadParallel, SameThreadCountRepeatsBitForBitOnBothBackends) {
  // 2 threads and 3 (more threads than this machine may have cores): two runs, and the two
  // backends, give the same parameters, multipliers and loss bit for bit.
  const auto o = minibatch_options();
  for (std::size_t threads : {2u, 3u}) {
    auto first = threaded<float>(threads, ThreadBackend::std_thread);
    const auto reference = solve(*first, o, "gda");
    for (auto backend : backends())
      for (int run = 0; run < 2; ++run) {
        auto p = threaded<float>(threads, backend);
        SCOPED_TRACE(std::to_string(threads) + " threads, " + to_string(backend) + ", run " +
                     std::to_string(run));
        expect_identical(reference, solve(*p, o, "gda"));
      }
  }
}

TEST(ThreadParallel, ThreadsAgreeWithOneThreadUpToRounding) {
  // Double: after 6 epochs of Adam (24 steps) the parameters of N threads are within 1e-10 of
  // one thread's (the share-weighted sums round differently from one mean over the batch).
  const auto o = minibatch_options();
  Regression<double> alone;
  const auto a = solve(alone, o, "extragradient");
  for (std::size_t threads : {2u, 3u, 4u}) {
    auto p = threaded<double>(threads, ThreadBackend::automatic);
    const auto b = solve(*p, o, "extragradient");
    ASSERT_EQ(a.iterations, b.iterations);
    for (std::size_t i = 0; i < a.x.size(); ++i)
      EXPECT_NEAR(a.x(i), b.x(i), 1e-10) << threads << " threads, x[" << i << "]";
    for (std::size_t i = 0; i < a.multipliers.size(); ++i)
      EXPECT_NEAR(a.multipliers(i), b.multipliers(i), 1e-10);
    EXPECT_NEAR(a.loss, b.loss, 1e-10);
  }
}

TEST(ThreadParallel, OneEvaluationEqualsTheWholeBatch) {
  // One forward and backward over a batch of 16 rows: values and gradient of 3 threads equal
  // the unsplit problem's to 1e-13 (double), strict values included.
  Regression<double> alone;
  auto p = threaded<double>(3, ThreadBackend::automatic);
  Vector<double> x = Vector<double>::from_shape({Regression<double>::kN});
  alone.initial_point(x, 3);
  alone.shuffle(99);
  p->shuffle(99);
  const Batch batch{17, 16, 12345};
  Evaluation e1, e3;
  e1.resize(2);
  e3.resize(2);
  alone.forward(x, batch, e1);
  p->forward(x, batch, e3);
  EXPECT_NEAR(e1.loss, e3.loss, 1e-13);
  ASSERT_TRUE(e3.has_strict);
  for (std::size_t k = 0; k < 2; ++k) {
    EXPECT_NEAR(e1.constraints(k), e3.constraints(k), 1e-13);
    EXPECT_NEAR(e1.strict(k), e3.strict(k), 1e-13);
  }
  EXPECT_EQ(p->last_shard(0).count + p->last_shard(1).count + p->last_shard(2).count, 16u);
  EXPECT_DOUBLE_EQ(p->last_share(0), 6.0 / 16.0);
  Vector<double> w = {0.7, -0.4};
  Vector<double> g1 = Vector<double>::from_shape({Regression<double>::kN}), g3 = g1;
  alone.backward(w, g1);
  p->backward(w, g3);
  for (std::size_t j = 0; j < g1.size(); ++j) EXPECT_NEAR(g1(j), g3(j), 1e-13) << j;
}

TEST(ThreadParallel, GradientPassesAFiniteDifferenceCheck) {
  for (std::size_t threads : {2u, 3u}) {
    auto p = threaded<double>(threads, ThreadBackend::automatic);
    // check_gradient evaluates the full batch (size 0 = every sample, split over the threads).
    Vector<double> x = Vector<double>::from_shape({Regression<double>::kN});
    p->initial_point(x, 5);
    const Vector<double> w = {0.3, 1.5};
    const auto r = check_gradient<double>(*p, x, w);
    EXPECT_TRUE(r.ok) << threads << " threads: " << r.failures << " failures, worst index "
                      << r.worst_index << ": " << r.worst_analytic << " vs " << r.worst_numeric;
    EXPECT_EQ(r.checked, Regression<double>::kN);
  }
}

TEST(ThreadParallel, RejectsBadReplicas) {
  test::Parabola parabola;
  EXPECT_THROW(ThreadParallelProblem<double>(2,
                                             [](std::size_t) -> std::unique_ptr<Problem> {
                                               return std::make_unique<test::Parabola>();
                                             }),
               InvalidOption);  // deterministic
  EXPECT_THROW(ThreadParallelProblem<double>(2,
                                             [](std::size_t i) -> std::unique_ptr<Problem> {
                                               if (i == 0)
                                                 return std::make_unique<Regression<double>>();
                                               return std::make_unique<test::NoisyMean>();
                                             }),
               InvalidOption);  // replicas differ
  EXPECT_THROW(
      ThreadParallelProblem<double>(2, [](std::size_t) { return std::unique_ptr<Problem>(); }),
      InvalidOption);  // null
  EXPECT_THROW(threaded<double>(0, ThreadBackend::automatic), InvalidOption);
}

TEST(ThreadParallel, AStepAllocatesNothingInAnyThread) {
  if (!saddle_test_alloc::kCountAllocations)
    GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
  for (auto backend : backends()) {
    auto p = threaded<float>(3, backend);
    Vector<float> x = Vector<float>::from_shape({Regression<float>::kN});
    p->initial_point(x, 1);
    Evaluation e;
    e.resize(2);
    Vector<double> w = {0.2, 0.1};
    Vector<float> g = Vector<float>::from_shape({Regression<float>::kN});
    // Warm up (thread start-up, first use of each thread's state), then count.
    for (int k = 0; k < 3; ++k) {
      p->forward(x, Batch{0, 16, 1u + k}, e);
      p->backward(w, g);
    }
    std::size_t count = 0;
    {
      saddle_test_alloc::ProcessAllocationCounter counter;
      for (int k = 0; k < 50; ++k) {
        p->shuffle(10u + k);
        p->forward(x, Batch{16, 16, 100u + k}, e);
        p->evaluate_constraints(x, Batch{32, 16, 200u + k}, e);
        p->backward(w, g);
      }
      count = counter.count();
    }
    EXPECT_EQ(count, 0u) << to_string(backend);
  }
}
