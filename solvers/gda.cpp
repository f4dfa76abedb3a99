// Simultaneous gradient descent-ascent:
//   x+ = U(x, grad_x L(x, lambda));  lambda+ = [lambda + eta v(x)]_+
// Both players use the same evaluation. One forward, one backward per step.
#include <xtensor/xnoalias.hpp>

#include "saddle/solvers.hpp"

namespace saddle {

template <class T>
void SimultaneousGda<T>::initialize(std::size_t n, std::size_t m) {
  grad_ = Vector<T>::from_shape({n});
  eval_.resize(m);
}

template <class T>
StepResult<T> SimultaneousGda<T>::step(StepContext<T>& ctx, Vector<T>& x, Vector<double>& lambda) {
  ctx.forward(x, eval_);
  ctx.backward(eval_, lambda, grad_);  // weights from the old multipliers
  ctx.primal_step(x, grad_);
  ctx.dual_step(lambda, eval_, true);
  return {&eval_, nullptr};  // evaluated at the start of the step
}

template class SimultaneousGda<float>;
template class SimultaneousGda<double>;

}  // namespace saddle
