// min 6 x0^2 + 4 x0 x1 + 3 x1^2  s.t.  x0 + x1 = 5.   Answer: x = (1, 4), f = 70, lambda = -28.
#include <cstdio>
#include <vector>

#include <saddle/saddle.hpp>   // the core API: problems, options, Solver, Summary
#include <saddle/solvers.hpp>  // the update schemes and saddle::solve

class Quadratic : public saddle::Problem {
 public:
  std::size_t num_parameters() const override { return 2; }
  std::vector<saddle::ConstraintSpec> constraints() const override {
    return {{"x0+x1=5", saddle::ConstraintKind::equality}};  // h(x) = x0 + x1 - 5 = 0
  }
  void initial_point(saddle::Vector<double>& x, std::uint64_t /*seed*/) const override {
    x(0) = 0.0;
    x(1) = 0.0;
  }
  // Loss and constraint values at x; remember the point for backward.
  void forward(const saddle::Vector<double>& x, const saddle::Batch& /*batch*/,
               saddle::Evaluation& eval) override {
    x0_ = x(0);
    x1_ = x(1);
    eval.loss = 6.0 * x0_ * x0_ + 4.0 * x0_ * x1_ + 3.0 * x1_ * x1_;
    eval.constraints(0) = x0_ + x1_ - 5.0;
  }
  // grad = d/dx [ f(x) + w0 * h(x) ] at the point of the last forward.
  void backward(const saddle::Vector<double>& w, saddle::Vector<double>& grad) override {
    grad(0) = 12.0 * x0_ + 4.0 * x1_ + w(0);
    grad(1) = 4.0 * x0_ + 6.0 * x1_ + w(0);
  }

 private:
  double x0_ = 0.0, x1_ = 0.0;
};

int main() {
  saddle::SolverOptions options;
  options.primal.lr = 0.05;         // SGD on x
  options.dual.lr = 0.5;            // projected gradient ascent on lambda
  options.max_iterations = 20000;
  options.tolerance = 1e-12;        // stop when x and lambda no longer move
  for (const char* name : {"gda", "extragradient"}) {
    Quadratic problem;
    const saddle::Summary<double> s = saddle::solve(problem, options, name);
    std::printf("%s: x = (%.9f, %.9f), lambda = %.9f, %s after %zu steps\n", name, s.x(0), s.x(1),
                s.multipliers(0), saddle::to_string(s.termination), s.iterations);
  }
  return 0;
}
