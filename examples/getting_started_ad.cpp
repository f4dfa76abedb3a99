// The same problem with gradients by ADOL-C: write f and h once, templated on the scalar.
#include <cstdio>

#include <saddle/autodiff.hpp>
#include <saddle/saddle.hpp>
#include <saddle/solvers.hpp>

struct Quadratic {
  template <class S>  // S = double, or ADOL-C's adouble when the function is recorded
  void operator()(const S* x, S& loss, S* c) const {
    loss = 6.0 * x[0] * x[0] + 4.0 * x[0] * x[1] + 3.0 * x[1] * x[1];
    c[0] = x[0] + x[1] - 5.0;  // h(x) = x0 + x1 - 5 = 0
  }
};

int main() {
  saddle::FunctionProblemSpec spec;
  spec.num_parameters = 2;
  spec.constraints = {{"x0+x1=5", saddle::ConstraintKind::equality}};
  spec.initial_point = {0.0, 0.0};

  saddle::SolverOptions options;
  options.primal.lr = 0.05;
  options.dual.lr = 0.5;
  options.max_iterations = 20000;
  options.tolerance = 1e-12;
  for (const char* name : {"gda", "extragradient"}) {
    saddle::autodiff::AutoDiffProblem<Quadratic> problem(spec, Quadratic{});
    const saddle::Summary<double> s = saddle::solve(problem, options, name);
    std::printf("%s: x = (%.9f, %.9f), lambda = %.9f, %s after %zu steps\n", name, s.x(0), s.x(1),
                s.multipliers(0), saddle::to_string(s.termination), s.iterations);
  }
  return 0;
}
