// Simultaneous gradient descent-ascent:
//   x+ = U(x, grad_x L(x, lambda));  lambda+ = [lambda + eta v(x)]_+
// Both players use the same evaluation. One forward, one backward per step.
#include "solvers/schemes.hpp"

namespace saddle::solvers {

template <class T>
class SimultaneousGda final : public UpdateScheme<T> {
 public:
  std::string name() const override { return "gda"; }
  double forwards_per_step() const override { return 1; }
  double backwards_per_step() const override { return 1; }
  void initialize(std::size_t n, std::size_t m) override {
    grad_ = Vector<T>::from_shape({n});
    eval_.resize(m);
  }
  StepResult<T> step(StepContext<T>& ctx, Vector<T>& x, Vector<double>& lambda) override {
    ctx.forward(x, eval_);
    ctx.backward(eval_, lambda, grad_);  // weights from the old multipliers
    ctx.primal_step(x, grad_);
    ctx.dual_step(lambda, eval_, true);
    return {&eval_, nullptr};  // evaluated at the start of the step
  }

 private:
  Vector<T> grad_;
  Evaluation eval_;
};

template <class T>
std::unique_ptr<UpdateScheme<T>> make_gda() {
  return std::make_unique<SimultaneousGda<T>>();
}
template std::unique_ptr<UpdateScheme<float>> make_gda<float>();
template std::unique_ptr<UpdateScheme<double>> make_gda<double>();

}  // namespace saddle::solvers
