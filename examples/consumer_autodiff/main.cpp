// Out-of-tree use of saddle::autodiff: a stochastic problem written once, differentiated by
// ADOL-C, solved, and checked against its closed-form answer.
//
//   min_w (1/2B) sum_{r in batch} (w - a_r)^2   s.t.   g(w) = w - 1 <= 0,
//
// with the 8 samples a_r = 1.5 + 0.25 (r - 3.5) (mean 1.5). The full-data minimiser w = 1.5
// violates the bound, so w* = 1 and, from (w - mean) + lambda = 0, lambda* = 0.5.
// Minibatches of 4 samples (two per epoch, reshuffled every epoch): the stochastic gradient
// is w - mean(batch) + lambda, so GDA with the constant steps 0.02 fluctuates around
// (w*, lambda*); 4000 epochs, measured error below 1e-3, checked to 5e-3. The samples are
// ADOL-C tape parameters: one tape (batch size 4), recorded once. Exits 0 iff the solve
// reaches both.

#include <cmath>
#include <cstdio>

#include <saddle/autodiff.hpp>
#include <saddle/saddle.hpp>
#include <saddle/solvers.hpp>

namespace {

struct MeanWithBound {
  template <class S>
  void operator()(const S* w, const saddle::SampleBatch<S>& batch, S& loss, S* c) const {
    S sum = 0.0;
    for (std::size_t r = 0; r < batch.rows; ++r) {
      const S d = w[0] - batch(r, 0);
      sum += d * d;
    }
    loss = sum / (2.0 * static_cast<double>(batch.rows));
    c[0] = w[0] - 1.0;
  }
};

}  // namespace

int main() {
  saddle::FunctionProblemSpec spec;
  spec.name = "mean-with-bound";
  spec.num_parameters = 1;
  spec.constraints = {{"w <= 1", saddle::ConstraintKind::inequality}};
  spec.samples.width = 1;
  for (int r = 0; r < 8; ++r) spec.samples.values.push_back(1.5 + 0.25 * (r - 3.5));

  saddle::SolverOptions opts;
  opts.primal.lr = 0.02;
  opts.dual.lr = 0.02;
  opts.batch_size = 4;
  opts.max_epochs = 4000;
  opts.max_iterations = 0;
  saddle::autodiff::AutoDiffProblem<MeanWithBound> problem(spec, MeanWithBound{});
  saddle::Solver<double> solver(saddle::make_scheme<double>("gda"), opts);
  const saddle::Summary<double> s = solver.solve(problem);

  const double w = s.x(0);
  const double lambda = s.multipliers(0);
  const saddle::autodiff::TapeStats tapes = problem.tape_stats();
  std::printf("termination = %s after %zu iterations, %zu tape(s), %zu recording(s)\n",
              saddle::to_string(s.termination), s.iterations, tapes.tapes, tapes.recordings);
  std::printf("w = %.6f (expected 1), lambda = %.6f (expected 0.5)\n", w, lambda);
  const bool ok = std::abs(w - 1.0) < 5e-3 && std::abs(lambda - 0.5) < 5e-3 && tapes.tapes == 1;
  std::printf("%s\n", ok ? "consumer_autodiff: OK" : "consumer_autodiff: FAILED");
  return ok ? 0 : 1;
}
