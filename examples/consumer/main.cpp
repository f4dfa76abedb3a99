// Out-of-tree use of an installed saddle: define a problem, solve it, check the answer.
//
//   min_x (x - 2)^2   s.t.   g(x) = x - 1 <= 0.
//
// KKT: 2 (x - 2) + lambda = 0, lambda (x - 1) = 0, lambda >= 0  =>  x* = 1, lambda* = 2.
// Exits 0 iff the solve reaches both within 1e-6.

#include <cmath>
#include <cstdio>
#include <vector>

#include <saddle/saddle.hpp>
#include <saddle/solvers.hpp>

namespace {

class BoundedQuadratic final : public saddle::Problem {
 public:
  std::size_t num_parameters() const override { return 1; }
  std::vector<saddle::ConstraintSpec> constraints() const override {
    return {{"x <= 1", saddle::ConstraintKind::inequality}};
  }
  void initial_point(saddle::Vector<double>& x, std::uint64_t /*seed*/) const override {
    x(0) = 0.0;
  }
  void forward(const saddle::Vector<double>& x, const saddle::Batch& /*batch*/,
               saddle::Evaluation& eval) override {
    x_ = x(0);
    eval.loss = (x_ - 2.0) * (x_ - 2.0);
    eval.constraints(0) = x_ - 1.0;
  }
  // d/dx [ (x - 2)^2 + w (x - 1) ] = 2 (x - 2) + w.
  void backward(const saddle::Vector<double>& weights, saddle::Vector<double>& grad) override {
    grad(0) = 2.0 * (x_ - 2.0) + weights(0);
  }

 private:
  double x_ = 0.0;
};

}  // namespace

int main() {
  saddle::SolverOptions opts;
  // With both step sizes 0.1 the linearised GDA map has a double eigenvalue 0.9
  // (critically damped), so 2000 steps are far more than enough for 1e-10.
  opts.primal.lr = 0.1;
  opts.dual.lr = 0.1;
  opts.max_iterations = 2000;
  opts.tolerance = 1e-12;

  BoundedQuadratic problem;
  saddle::Solver<double> solver(saddle::make_scheme<double>("gda"), opts);
  const saddle::Summary<double> summary = solver.solve(problem);

  const double x = summary.x(0);
  const double lambda = summary.multipliers(0);
  std::printf("termination = %s after %zu iterations\n", saddle::to_string(summary.termination),
              summary.iterations);
  std::printf("x = %.10f (expected 1), lambda = %.10f (expected 2)\n", x, lambda);

  const bool ok = std::abs(x - 1.0) < 1e-6 && std::abs(lambda - 2.0) < 1e-6;
  std::printf("%s\n", ok ? "consumer: OK" : "consumer: FAILED");
  return ok ? 0 : 1;
}
