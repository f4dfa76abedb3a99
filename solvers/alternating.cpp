// Alternating gradient descent-ascent.
// primal->dual: x+ = U(x, grad_x L(x, lambda)); then v(x+) from a constraints-only
//               evaluation; lambda+ = [lambda + eta v(x+)]_+.  Cost: 2 forwards
//               (one of them constraints only), 1 backward.
// dual->primal: lambda+ = [lambda + eta v(x)]_+ first; then x+ = U(x, grad_x L(x, lambda+))
//               reusing the same forward.  Cost: 1 forward, 1 backward.
#include "solvers/schemes.hpp"

namespace saddle::solvers {

template <class T>
class AlternatingPrimalDual final : public UpdateScheme<T> {
 public:
  std::string name() const override { return "alternating-primal-dual"; }
  double forwards_per_step() const override { return 2; }
  double backwards_per_step() const override { return 1; }
  void initialize(std::size_t n, std::size_t m) override {
    grad_ = Vector<T>::from_shape({n});
    eval_.resize(m);
    after_.resize(m);
  }
  StepResult<T> step(StepContext<T>& ctx, Vector<T>& x, Vector<double>& lambda) override {
    ctx.forward(x, eval_);
    ctx.backward(eval_, lambda, grad_);
    ctx.primal_step(x, grad_);
    ctx.evaluate_constraints(x, after_);  // constraints re-evaluated at the new point
    ctx.dual_step(lambda, after_, true);
    return {&eval_, nullptr};  // evaluated at the start of the step
  }

 private:
  Vector<T> grad_;
  Evaluation eval_, after_;
};

template <class T>
class AlternatingDualPrimal final : public UpdateScheme<T> {
 public:
  std::string name() const override { return "alternating-dual-primal"; }
  double forwards_per_step() const override { return 1; }
  double backwards_per_step() const override { return 1; }
  void initialize(std::size_t n, std::size_t m) override {
    grad_ = Vector<T>::from_shape({n});
    eval_.resize(m);
  }
  StepResult<T> step(StepContext<T>& ctx, Vector<T>& x, Vector<double>& lambda) override {
    ctx.forward(x, eval_);
    ctx.dual_step(lambda, eval_, true);
    ctx.backward(eval_, lambda, grad_);  // weights from the new multipliers
    ctx.primal_step(x, grad_);
    return {&eval_, nullptr};  // evaluated at the start of the step
  }

 private:
  Vector<T> grad_;
  Evaluation eval_;
};

template <class T>
std::unique_ptr<UpdateScheme<T>> make_alternating_primal_dual() {
  return std::make_unique<AlternatingPrimalDual<T>>();
}
template <class T>
std::unique_ptr<UpdateScheme<T>> make_alternating_dual_primal() {
  return std::make_unique<AlternatingDualPrimal<T>>();
}
template std::unique_ptr<UpdateScheme<float>> make_alternating_primal_dual<float>();
template std::unique_ptr<UpdateScheme<double>> make_alternating_primal_dual<double>();
template std::unique_ptr<UpdateScheme<float>> make_alternating_dual_primal<float>();
template std::unique_ptr<UpdateScheme<double>> make_alternating_dual_primal<double>();

}  // namespace saddle::solvers
