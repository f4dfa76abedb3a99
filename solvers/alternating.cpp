// Alternating gradient descent-ascent.
// primal->dual: x+ = U(x, grad_x L(x, lambda)); then v(x+) from a constraints-only
//               evaluation; lambda+ = [lambda + eta v(x+)]_+.  Cost: 2 forwards
//               (one of them constraints only), 1 backward.
// dual->primal: lambda+ = [lambda + eta v(x)]_+ first; then x+ = U(x, grad_x L(x, lambda+))
//               reusing the same forward.  Cost: 1 forward, 1 backward.
#include "saddle/solvers.hpp"

namespace saddle {

template <class T>
void AlternatingPrimalDual<T>::initialize(std::size_t n, std::size_t m) {
  grad_ = Vector<T>::from_shape({n});
  eval_.resize(m);
  after_.resize(m);
}

template <class T>
StepResult<T> AlternatingPrimalDual<T>::step(StepContext<T>& ctx, Vector<T>& x, Vector<double>& lambda) {
  ctx.forward(x, eval_);
  ctx.backward(eval_, lambda, grad_);
  ctx.primal_step(x, grad_);
  ctx.evaluate_constraints(x, after_);  // constraints re-evaluated at the new point
  ctx.dual_step(lambda, after_, true);
  return {&eval_, nullptr};  // evaluated at the start of the step
}

template <class T>
void AlternatingDualPrimal<T>::initialize(std::size_t n, std::size_t m) {
  grad_ = Vector<T>::from_shape({n});
  eval_.resize(m);
}

template <class T>
StepResult<T> AlternatingDualPrimal<T>::step(StepContext<T>& ctx, Vector<T>& x, Vector<double>& lambda) {
  ctx.forward(x, eval_);
  ctx.dual_step(lambda, eval_, true);
  ctx.backward(eval_, lambda, grad_);  // weights from the new multipliers
  ctx.primal_step(x, grad_);
  return {&eval_, nullptr};  // evaluated at the start of the step
}

template class AlternatingPrimalDual<float>;
template class AlternatingPrimalDual<double>;
template class AlternatingDualPrimal<float>;
template class AlternatingDualPrimal<double>;

}  // namespace saddle
