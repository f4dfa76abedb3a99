// The solver's per-element work split over a RangeRunner (SolverOptions::range_runner):
// chunk_range tiles [0, n) in whole blocks; every primal rule's begin_step + step_range over
// those ranges equals step() bit for bit (x and the rule's saved state); whole solves on 2 and
// 3 threads equal the serial solve bit for bit (x, multipliers, the whole solver state);
// a NaN in any range of the gradient still stops the solve; a split step allocates nothing
// in any thread.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "common/allocation_counter.hpp"
#include "common/step_allocations.hpp"
#include "saddle/range_runner.hpp"
#include "saddle/rules.hpp"
#include "saddle/solvers.hpp"
#include "saddle/thread_parallel.hpp"

using namespace saddle;

namespace {

// Bitwise equality of two vectors (NaN payloads included).
template <class T>
bool same_bits(const Vector<T>& a, const Vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

TEST(ChunkRange, TilesTheRangeInWholeBlocks) {
  for (std::size_t n : {0u, 1u, 63u, 64u, 65u, 1000u, 266610u})
    for (std::size_t parts : {1u, 2u, 3u, 7u}) {
      std::size_t next = 0;
      for (std::size_t i = 0; i < parts; ++i) {
        const IndexRange r = chunk_range(n, i, parts);
        EXPECT_EQ(r.begin, next) << n << " " << parts << " " << i;
        EXPECT_LE(r.begin, r.end);
        if (r.begin != n) {
          EXPECT_EQ(r.begin % kRangeBlock, 0u);
        }
        if (r.end != n) {
          EXPECT_EQ(r.end % kRangeBlock, 0u);
        }
        next = r.end;
      }
      EXPECT_EQ(next, n) << n << " " << parts;
    }
  // Even: 266,610 floats = 4166 blocks (the last partial) -> 2083 blocks each.
  EXPECT_EQ(chunk_range(266610, 1, 2).begin, 2083u * 64u);
}

TEST(BlockRange, TilesTheRangeInWholeBlocksOfAnySize) {
  for (std::size_t block : {1u, 4u, 16u})
    for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 300u, 784u})
      for (std::size_t parts : {1u, 2u, 3u, 5u}) {
        std::size_t next = 0, largest = 0, smallest = n;
        for (std::size_t i = 0; i < parts; ++i) {
          const IndexRange r = block_range(n, i, parts, block);
          EXPECT_EQ(r.begin, next) << n << " " << parts << " " << block;
          EXPECT_LE(r.begin, r.end);
          if (r.end != n) {
            EXPECT_EQ(r.end % block, 0u);
          }
          largest = std::max(largest, r.end - r.begin);
          smallest = std::min(smallest, r.end - r.begin);
          next = r.end;
        }
        EXPECT_EQ(next, n);
        // As even as whole blocks allow (the last block may be partial).
        EXPECT_LT(largest - smallest, 2 * block) << n << " " << parts << " " << block;
      }
  EXPECT_EQ(block_range(300, 0, 2, 4).end, 152u);  // the MLP's 300 columns: 152 + 148
  EXPECT_EQ(block_range(300, 0, 2, 16).end, 160u);
  // chunk_range is the kRangeBlock case.
  EXPECT_EQ(chunk_range(1000, 1, 3).begin, block_range(1000, 1, 3, kRangeBlock).begin);
}

TEST(ForParts, CallsEveryPartOnceWithTheTeamSize) {
  std::vector<std::size_t> seen(4, 0), parts_seen(4, 0);
  auto f = [&](std::size_t i, std::size_t parts) {
    seen[i] += 1;
    parts_seen[i] = parts;
  };
  for_parts(nullptr, f);  // no runner: one part on the calling thread
  EXPECT_EQ(seen[0], 1u);
  EXPECT_EQ(parts_seen[0], 1u);
  ThreadTeam team(3, ThreadBackend::std_thread);
  for_parts(&team, f);
  // Element by element: GCC 12.2 at -O2/-O3 with AVX-512 (-march=x86-64-v4 or native on
  // such a CPU) builds the temporary std::vector<std::size_t>{3, 3, 3, 0} inside EXPECT_EQ as
  // {3, 3, 3, 3} (its SLP vectoriser; -fno-tree-slp-vectorize avoids it; seen on a 5-line test).
  const std::size_t want_seen[4] = {2, 1, 1, 0}, want_parts[4] = {3, 3, 3, 0};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(seen[i], want_seen[i]) << i;
    EXPECT_EQ(parts_seen[i], want_parts[i]) << i;
  }
}

// A rule stepped through ranges (step_range in place, or step_range_to out of place,
// ping-ponging between two buffers as the solver does) against the same rule's whole step():
// the same x bits and the same state; out of place, the input is left untouched and every
// element of the output is written.
template <class T>
void expect_ranged_rule_matches(PrimalRuleKind kind, std::size_t parts, bool out_of_place) {
  PrimalRuleOptions o;
  o.kind = kind;
  o.lr = 0.01;
  o.momentum = 0.9;
  const std::size_t n = 5003;  // not a multiple of the block: a partial last range
  auto serial = make_primal_rule<T>(o);
  auto split = make_primal_rule<T>(o);
  serial->resize(n);
  split->resize(n);
  Vector<T> xs = Vector<T>::from_shape({n}), xp = Vector<T>::from_shape({n}),
            out = Vector<T>::from_shape({n}), g = Vector<T>::from_shape({n});
  for (std::size_t i = 0; i < n; ++i)
    xs(i) = xp(i) = static_cast<T>(std::sin(0.37 * static_cast<double>(i)));
  out.fill(std::numeric_limits<T>::quiet_NaN());  // every element must be written
  const std::string what = std::string(to_string(kind)) + ", " + std::to_string(parts) + " parts" +
                           (out_of_place ? ", out of place" : "");
  for (int t = 0; t < 6; ++t) {
    for (std::size_t i = 0; i < n; ++i)
      g(i) = static_cast<T>(std::cos(0.11 * static_cast<double>(i * (t + 1))) *
                            (1.0 + 1e-3 * static_cast<double>(i)));
    serial->step(xs, g);
    const Vector<T> before = xp;
    split->begin_step();
    for (std::size_t i = parts; i-- > 0;) {  // any order: the ranges are disjoint
      const IndexRange r = chunk_range(n, i, parts);
      if (out_of_place)
        split->step_range_to(xp, g, out, r.begin, r.end);
      else
        split->step_range(xp, g, r.begin, r.end);
    }
    if (out_of_place) {
      EXPECT_TRUE(same_bits(xp, before)) << what << ": the input changed";
      std::swap(xp, out);
    }
  }
  EXPECT_TRUE(same_bits(xs, xp)) << what;
  std::ostringstream a, b;
  serial->save(a);
  split->save(b);
  EXPECT_EQ(a.str(), b.str()) << what;
}

TEST(PrimalRuleRanges, OutOfPlaceStepEqualsStepBitForBit) {
  for (auto kind : {PrimalRuleKind::sgd, PrimalRuleKind::momentum, PrimalRuleKind::nesterov,
                    PrimalRuleKind::adam})
    for (std::size_t parts : {1u, 2u, 3u}) {
      expect_ranged_rule_matches<float>(kind, parts, true);
      expect_ranged_rule_matches<double>(kind, parts, true);
    }
}

TEST(PrimalRuleRanges, SplitStepEqualsStepBitForBit) {
  for (auto kind : {PrimalRuleKind::sgd, PrimalRuleKind::momentum, PrimalRuleKind::nesterov,
                    PrimalRuleKind::adam})
    for (std::size_t parts : {2u, 3u, 5u}) {
      expect_ranged_rule_matches<float>(kind, parts, false);
      expect_ranged_rule_matches<double>(kind, parts, false);
    }
}

// min sum_i (x_i - c_i)^2 / 2 s.t. mean(x) <= -0.05 (active), with c_i = sin(i): n floats,
// enough to take the solver's streaming copy of x (>= 256 KB). nan_at >= 0: the gradient's
// entry nan_at is NaN from the third backward on.
class WideQuadratic final : public ProblemF {
 public:
  explicit WideQuadratic(std::size_t n, long nan_at = -1) : n_(n), nan_at_(nan_at) {}
  std::size_t num_parameters() const override { return n_; }
  std::vector<ConstraintSpec> constraints() const override {
    return {{"mean_le", ConstraintKind::inequality}};
  }
  void initial_point(Vector<float>& x, std::uint64_t) const override { x.fill(0.5f); }
  void forward(const Vector<float>& x, const Batch&, Evaluation& e) override {
    x_ = &x;
    double loss = 0.0, mean = 0.0;
    for (std::size_t i = 0; i < n_; ++i) {
      const double d = static_cast<double>(x(i)) - std::sin(static_cast<double>(i));
      loss += 0.5 * d * d;
      mean += static_cast<double>(x(i));
    }
    e.loss = loss;
    e.constraints(0) = mean / static_cast<double>(n_) + 0.05;
  }
  void backward(const Vector<double>& w, Vector<float>& g) override {
    const float c = static_cast<float>(w(0) / static_cast<double>(n_));
    for (std::size_t i = 0; i < n_; ++i)
      g(i) = (*x_)(i) - static_cast<float>(std::sin(static_cast<double>(i))) + c;
    if (nan_at_ >= 0 && ++backwards_ >= 3)
      g(static_cast<std::size_t>(nan_at_)) = std::numeric_limits<float>::quiet_NaN();
  }

 private:
  std::size_t n_;
  long nan_at_;
  int backwards_ = 0;
  const Vector<float>* x_ = nullptr;
};

struct Solved {
  Summary<float> summary;
  std::string state;  // Solver::save_state without its elapsed seconds
};

Solved solve_wide(PrimalRuleKind kind, const std::string& scheme, RangeRunner* runner,
                  long nan_at = -1) {
  WideQuadratic p(100003, nan_at);
  SolverOptions o;
  o.primal.kind = kind;
  o.primal.lr = 0.05;
  o.primal.momentum = 0.5;
  o.dual.kind = DualRuleKind::nupi;
  o.dual.lr = 0.5;
  o.dual.kp = 1.0;
  o.max_iterations = 25;
  o.range_runner = runner;
  Solver<float> solver(make_scheme<float>(scheme), o);
  Solved r{solver.solve(p), {}};
  std::ostringstream state;
  solver.save_state(state);
  r.state = state.str();
  r.state.erase(80, 8);  // magic, version, scalar size, 8 counters (80 bytes), then the seconds
  return r;
}

TEST(SolverRanges, SplitSolveEqualsSerialBitForBit) {
  std::vector<ThreadBackend> backends{ThreadBackend::std_thread};
  if (tbb_available()) backends.push_back(ThreadBackend::tbb);
  for (auto kind : {PrimalRuleKind::sgd, PrimalRuleKind::momentum, PrimalRuleKind::nesterov,
                    PrimalRuleKind::adam})
    for (const std::string scheme : {"gda", "extragradient"}) {
      const Solved serial = solve_wide(kind, scheme, nullptr);
      ASSERT_EQ(serial.summary.termination, Termination::iteration_limit);
      EXPECT_GT(serial.summary.multipliers(0), 0.0);  // the constraint is active
      for (const auto backend : backends)
        for (std::size_t threads : {2u, 3u}) {
          ThreadTeam team(threads, backend);
          const Solved split = solve_wide(kind, scheme, &team);
          const std::string what = std::string(to_string(kind)) + ", " + scheme + ", " +
                                   std::to_string(threads) + " threads, " + to_string(backend);
          EXPECT_TRUE(same_bits(serial.summary.x, split.summary.x)) << what;
          EXPECT_TRUE(same_bits(serial.summary.multipliers, split.summary.multipliers)) << what;
          EXPECT_EQ(serial.state, split.state) << what;  // x, multipliers, Adam/momentum/nuPI state
        }
    }
}

TEST(SolverRanges, NaNInAnyRangeStopsTheSolve) {
  ThreadTeam team(3, ThreadBackend::std_thread);
  for (long at : {0L, 50000L, 100002L}) {
    const Solved serial = solve_wide(PrimalRuleKind::adam, "gda", nullptr, at);
    const Solved split = solve_wide(PrimalRuleKind::adam, "gda", &team, at);
    EXPECT_EQ(serial.summary.termination, Termination::numerical_failure) << at;
    EXPECT_EQ(split.summary.termination, Termination::numerical_failure) << at;
    EXPECT_EQ(split.summary.iterations, serial.summary.iterations) << at;
    EXPECT_TRUE(same_bits(serial.summary.x, split.summary.x)) << at;
  }
}

TEST(SolverRanges, SplitStepsDoNotAllocateInAnyThread) {
  if (!saddle_test_alloc::kCountAllocations)
    GTEST_SKIP() << "allocation counting is off under sanitizers";
  std::vector<ThreadBackend> backends{ThreadBackend::std_thread};
  if (tbb_available()) backends.push_back(ThreadBackend::tbb);
  for (const auto backend : backends)
    for (std::size_t threads : {2u, 3u}) {
      ThreadTeam team(threads, backend);
      WideQuadratic p(100003);
      SolverOptions o;
      o.primal.kind = PrimalRuleKind::adam;
      o.primal.lr = 0.01;
      o.dual.kind = DualRuleKind::nupi;
      o.dual.kp = 1.0;
      o.max_iterations = 8;
      o.range_runner = &team;
      Solver<float> solver(make_scheme<float>("gda"), o);
      saddle_test_alloc::StepAllocations<float> count(2, 6);
      solver.add_callback(&count);
      solver.solve(p);
      EXPECT_EQ(count.allocations, 0u) << threads << " threads, " << to_string(backend);
    }
}

}  // namespace
