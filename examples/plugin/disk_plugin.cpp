// A saddle plugin with one float problem: the point of the disk |x| <= 2 closest to c = (3, 2),
//   min (x0 - 3)^2 + (x1 - 2)^2   s.t.   x0^2 + x1^2 - 4 <= 0.
// Answer: x* = 2 c / |c|, lambda* = |c| / 2 - 1 (from 2 (x - c) + 2 lambda x = 0),
// f* = (|c| - 2)^2, with |c| = sqrt(13).
#include <cmath>
#include <cstdint>
#include <vector>

#include <saddle/plugin.hpp>

namespace {

class DiskProjection : public saddle::ProblemF {
 public:
  std::size_t num_parameters() const override { return 2; }
  std::vector<saddle::ConstraintSpec> constraints() const override {
    return {{"|x|^2<=4", saddle::ConstraintKind::inequality}};
  }
  void initial_point(saddle::Vector<float>& x, std::uint64_t /*seed*/) const override {
    x(0) = 0.0f;
    x(1) = 0.0f;
  }
  void forward(const saddle::Vector<float>& x, const saddle::Batch& /*batch*/,
               saddle::Evaluation& eval) override {
    x0_ = x(0);
    x1_ = x(1);
    eval.loss = (x0_ - 3.0) * (x0_ - 3.0) + (x1_ - 2.0) * (x1_ - 2.0);
    eval.constraints(0) = x0_ * x0_ + x1_ * x1_ - 4.0;
  }
  // grad of f + w0 g at the point of the last forward.
  void backward(const saddle::Vector<double>& w, saddle::Vector<float>& grad) override {
    grad(0) = static_cast<float>(2.0 * (x0_ - 3.0) + 2.0 * w(0) * x0_);
    grad(1) = static_cast<float>(2.0 * (x1_ - 2.0) + 2.0 * w(0) * x1_);
  }

 private:
  double x0_ = 0.0, x1_ = 0.0;
};

}  // namespace

SADDLE_PLUGIN(registry) {
  const double norm_c = std::sqrt(13.0);
  saddle::SolverOptions defaults;  // used for every scheme; flags override single values
  defaults.primal.lr = 0.05;
  defaults.dual.lr = 0.05;
  defaults.max_iterations = 20000;
  defaults.tolerance = 1e-6;
  defaults.feasibility_tolerance = 1e-5;
  registry.add(
      saddle::plugin_problem<DiskProjection>("disk-projection",
                                             "min |x - (3, 2)|^2 s.t. |x|^2 <= 4 (float)")
          .with_defaults(defaults)
          .with_answer({{6.0 / norm_c, 4.0 / norm_c},
                        {norm_c / 2.0 - 1.0},
                        (norm_c - 2.0) * (norm_c - 2.0),
                        "x* = 2 c / |c|, lambda* = |c| / 2 - 1"})
          .with_converging_schemes({"gda", "extragradient", "extrapolation-from-the-past"}));
}
