// forward, backward, evaluate_constraints and shuffle of every analytic problem must not
// allocate once the problem exists. Counted at the C allocator level (malloc, calloc,
// realloc, posix_memalign, aligned_alloc, memalign are interposed for this test binary and
// forwarded to glibc's __libc_* entry points), because xtensor allocates with
// posix_memalign, which a replacement of operator new would not see. Counting is per thread
// and only inside the measured window. Under AddressSanitizer (which owns malloc) the
// interposition is compiled out and the tests are skipped.

#include <gtest/gtest.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "analytic_test_util.hpp"

// This file defines the binary's interposed C allocator (tests/common/allocation_counter.hpp).
#define SADDLE_TEST_ALLOC_DEFINE
#include "common/allocation_counter.hpp"
#define SADDLE_COUNT_ALLOCATIONS SADDLE_TEST_COUNT_ALLOCATIONS

namespace saddle::problems {
namespace {
using saddle_test_alloc::AllocationCounter;

TEST(Allocation, CounterSeesXtensorAndOperatorNew) {
  if (!SADDLE_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under sanitizers";
  std::size_t seen = 0;
  {
    AllocationCounter counter;
    Vector<double> v = xt::zeros<double>({1000});  // posix_memalign
    int* volatile p = new int(3);                  // operator new -> malloc (volatile: not elided)
    delete p;
    seen = counter.count();
    (void)v;
  }
  EXPECT_GE(seen, 2u);
}

class NoAllocation : public ::testing::TestWithParam<std::string> {};

TEST_P(NoAllocation, ForwardBackwardConstraintsAndShuffleDoNotAllocate) {
  if (!SADDLE_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under sanitizers";
  const ProblemEntry& entry = testing::builtin_registry().get(GetParam());
  auto problem = entry.make();
  const std::size_t n = problem->num_parameters();
  const std::size_t m = problem->constraints().size();
  Vector<double> x = xt::zeros<double>({n});
  problem->initial_point(x, 0);
  x += 0.01;
  Vector<double> w = xt::ones<double>({m});
  Vector<double> grad = xt::zeros<double>({n});
  Evaluation eval;
  eval.resize(m);
  const Batch batch = problem->num_samples() > 0 ? Batch{128, 128, 0} : Batch{};
  // Warm-up: OpenBLAS initialises its buffers with its own allocator on first use.
  problem->forward(x, batch, eval);
  problem->backward(w, grad);

  AllocationCounter counter;
  for (int rep = 0; rep < 3; ++rep) {
    problem->shuffle(static_cast<std::uint64_t>(rep));
    problem->forward(x, batch, eval);
    problem->backward(w, grad);
    problem->evaluate_constraints(x, batch, eval);
    problem->forward(x, Batch{}, eval);  // the whole data set for stochastic problems
    problem->backward(w, grad);
  }
  EXPECT_EQ(counter.count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllProblems, NoAllocation,
                         ::testing::Values("active-inequality", "inactive-inequality", "equality-qp", "hs21",
                                           "linear-equality", "max-entropy", "norm-constrained-regression"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

}  // namespace
}  // namespace saddle::problems
