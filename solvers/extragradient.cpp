// Extragradient (Korpelevich 1976):
//   evaluate at (x, lambda); extrapolate to (x', lambda') = (U(x, g), [lambda + eta v]_+);
//   evaluate at (x', lambda'); apply that update to the saved (x, lambda).
// Two forwards, two backwards per step. The primal and dual rules advance their state on
// both half steps (as Cooper's ExtraAdam and Gidel et al.'s reference code do), so with
// Adam the moments see both gradients. Dual restarts and penalty growth apply only to the
// committed update.
#include "solvers/schemes.hpp"

namespace saddle::solvers {

template <class T>
class Extragradient final : public UpdateScheme<T> {
 public:
  std::string name() const override { return "extragradient"; }
  double forwards_per_step() const override { return 2; }
  double backwards_per_step() const override { return 2; }
  void initialize(std::size_t n, std::size_t m) override {
    grad_ = Vector<T>::from_shape({n});
    x_half_ = Vector<T>::from_shape({n});
    lambda_half_ = Vector<double>::from_shape({m});
    eval_.resize(m);
    eval_half_.resize(m);
  }
  StepResult<T> step(StepContext<T>& ctx, Vector<T>& x, Vector<double>& lambda) override {
    ctx.forward(x, eval_);
    ctx.backward(eval_, lambda, grad_);
    xt::noalias(x_half_) = x;
    xt::noalias(lambda_half_) = lambda;
    ctx.primal_step(x_half_, grad_);
    ctx.dual_step(lambda_half_, eval_, false);
    ctx.forward(x_half_, eval_half_);
    ctx.backward(eval_half_, lambda_half_, grad_);
    ctx.primal_step(x, grad_);
    ctx.dual_step(lambda, eval_half_, true);
    return {&eval_, nullptr};  // evaluated at the start of the step
  }

 private:
  Vector<T> grad_, x_half_;
  Vector<double> lambda_half_;
  Evaluation eval_, eval_half_;
};

template <class T>
std::unique_ptr<UpdateScheme<T>> make_extragradient() {
  return std::make_unique<Extragradient<T>>();
}
template std::unique_ptr<UpdateScheme<float>> make_extragradient<float>();
template std::unique_ptr<UpdateScheme<double>> make_extragradient<double>();

}  // namespace saddle::solvers
