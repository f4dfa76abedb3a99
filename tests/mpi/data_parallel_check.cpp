// Data-parallel correctness, run under `mpirun -np P` by ctest (tests/CMakeLists.txt).
//
// Every rank solves with DataParallelProblem over MPI; rank 0 also solves the same problem in
// one process (no split) and compares. Two problems:
//   1. norm-constrained-regression (double, batch 37: uneven shards), 3 epochs of GDA: the
//      split changes only the order of the sums, so x and lambda agree to 1e-10 (relative to
//      1 + |value|).
//   2. the gated L0 MLP on a small generated data set (float32, batch 20, layer-level
//      density constraints, Adam, restarts), 5 steps: float sums in another order, so every
//      parameter agrees to 1e-4 (relative to 1 + |value|; measured ~1e-6) and the multipliers
//      to 1e-6 (the densities do not depend on the rows).
// Every rank also checks that its final x is bit-identical to rank 0's (the all-reduce gives
// every rank the same sums). Prints "data parallel: ok" on rank 0 and exits 0, else 1.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "saddle/data_parallel.hpp"
#include "saddle/mpi.hpp"
#include "saddle/problems/analytic.hpp"
#include "saddle/problems/l0/density_problem.hpp"
#include "saddle/solvers.hpp"

namespace {

int failures = 0;

void expect_close(const char* what, double a, double b, double tol, int rank) {
  if (std::abs(a - b) <= tol * (1.0 + std::abs(b))) return;
  std::fprintf(stderr, "rank %d: %s: data parallel %.17g vs one process %.17g (tolerance %g)\n", rank, what, a, b,
               tol);
  ++failures;
}

// Every rank's x must equal rank 0's bit for bit: the all-reduced sum of |x_r - x_0| is 0.
template <class T>
void expect_same_on_every_rank(saddle::Communicator& comm, const saddle::Vector<T>& x, const char* what) {
  std::vector<double> mine(x.begin(), x.end());
  std::vector<double> root = mine;
  if (comm.rank() != 0) std::fill(root.begin(), root.end(), 0.0);
  comm.allreduce_sum(root.data(), root.size());  // rank 0's x on every rank
  double diff = 0.0;
  for (std::size_t i = 0; i < mine.size(); ++i) diff += std::abs(mine[i] - root[i]);
  comm.allreduce_sum(&diff, 1);
  if (diff != 0.0) {
    if (comm.rank() == 0) std::fprintf(stderr, "%s: ranks disagree (sum |x_r - x_0| = %g)\n", what, diff);
    ++failures;
  }
}

void check_regression(saddle::Communicator& comm) {
  using saddle::problems::NormConstrainedRegression;
  auto options = NormConstrainedRegression::defaults("gda", saddle::FormulationKind::lagrangian);
  options.batch_size = 37;
  options.max_epochs = 3;
  options.max_iterations = 0;
  NormConstrainedRegression inner;
  saddle::DataParallelProblem<double> parallel(inner, comm);
  const auto split = saddle::solve(parallel, options, "gda");
  expect_same_on_every_rank(comm, split.x, "regression");
  if (comm.rank() != 0) return;
  NormConstrainedRegression alone;
  const auto whole = saddle::solve(alone, options, "gda");
  if (split.iterations != whole.iterations) ++failures;
  for (std::size_t i = 0; i < whole.x.size(); ++i) expect_close("regression x", split.x(i), whole.x(i), 1e-10, 0);
  expect_close("regression lambda", split.multipliers(0), whole.multipliers(0), 1e-10, 0);
  expect_close("regression loss", split.loss, whole.loss, 1e-10, 0);
}

saddle::l0::Dataset generated_data() {
  saddle::l0::Dataset d;
  d.name = "generated";
  d.rows = 6;
  d.cols = 6;
  const std::size_t n = 120;
  d.train.x = xt::xtensor<float, 2>::from_shape({n, 36});
  d.train.y = xt::xtensor<std::int32_t, 1>::from_shape({n});
  std::uint64_t state = 12345;
  auto next = [&state] {  // splitmix64
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  for (std::size_t i = 0; i < n; ++i) {
    d.train.y(i) = static_cast<std::int32_t>(next() % 10);
    for (std::size_t j = 0; j < 36; ++j) d.train.x(i, j) = static_cast<float>(next() % 256) / 255.0f;
  }
  d.test = d.train;
  return d;
}

void check_l0(saddle::Communicator& comm) {
  const auto data = generated_data();
  saddle::l0::DensityProblemOptions po;
  po.architecture = saddle::l0::Architecture::mlp;
  po.batch = 20;
  po.eval_batch = 20;
  po.weight_decay = 5e-4;
  saddle::l0::DensityProblem inner(data, po);
  auto groups = saddle::l0::layer_level(inner.model(), {0.3, 0.3, 0.3});
  po.groups = groups;
  saddle::l0::DensityProblem with_groups(data, po);
  saddle::SolverOptions options;
  options.primal.kind = saddle::PrimalRuleKind::adam;
  options.primal.lr = 1e-3;
  options.dual.lr = 1e-1;
  options.dual_restarts = true;
  options.batch_size = 20;
  options.max_iterations = 5;
  options.seed = 7;
  saddle::DataParallelProblem<float> parallel(with_groups, comm);
  const auto split = saddle::solve(parallel, options, "gda");
  expect_same_on_every_rank(comm, split.x, "l0");
  if (comm.rank() != 0) return;
  saddle::l0::DensityProblem alone(data, po);
  const auto whole = saddle::solve(alone, options, "gda");
  double worst = 0.0;
  for (std::size_t i = 0; i < whole.x.size(); ++i) {
    const double a = split.x(i), b = whole.x(i);
    worst = std::max(worst, std::abs(a - b) / (1.0 + std::abs(b)));
    expect_close("l0 x", a, b, 1e-4, 0);
  }
  std::printf("l0: largest relative difference of a parameter after 5 steps: %.3g\n", worst);
  for (std::size_t i = 0; i < whole.multipliers.size(); ++i)
    expect_close("l0 lambda", split.multipliers(i), whole.multipliers(i), 1e-6, 0);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    saddle::mpi::Session session(&argc, &argv);
    saddle::mpi::Communicator comm;
    if (comm.size() < 2) {
      std::fprintf(stderr, "run under mpirun -np 2 (or more)\n");
      return 1;
    }
    check_regression(comm);
    check_l0(comm);
    int mine = failures, total = 0;
    double f = mine;
    comm.allreduce_sum(&f, 1);
    total = static_cast<int>(f);
    if (comm.rank() == 0) std::printf(total == 0 ? "data parallel: ok\n" : "data parallel: %d failures\n", total);
    return total == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "data parallel check: %s\n", e.what());
    return 1;
  }
}
