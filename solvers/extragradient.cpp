// Extragradient (Korpelevich 1976):
//   evaluate at (x, lambda); extrapolate to (x', lambda') = (U(x, g), [lambda + eta v]_+);
//   evaluate at (x', lambda'); apply that update to the saved (x, lambda).
// Two forwards, two backwards per step. The primal and dual rules advance their state on
// both half steps (as Cooper's ExtraAdam and Gidel et al.'s reference code do), so with
// Adam the moments see both gradients. Dual restarts and penalty growth apply only to the
// committed update.
#include <xtensor/xnoalias.hpp>

#include "saddle/solvers.hpp"

namespace saddle {

template <class T>
void Extragradient<T>::initialize(std::size_t n, std::size_t m) {
  grad_ = Vector<T>::from_shape({n});
  x_half_ = Vector<T>::from_shape({n});
  lambda_half_ = Vector<double>::from_shape({m});
  eval_.resize(m);
  eval_half_.resize(m);
}

template <class T>
StepResult<T> Extragradient<T>::step(StepContext<T>& ctx, Vector<T>& x, Vector<double>& lambda) {
  ctx.forward(x, eval_);
  ctx.backward(eval_, lambda, grad_);
  xt::noalias(lambda_half_) = lambda;
  ctx.primal_step_from(x_half_, x, grad_);  // x_half_ = U(x, g), x kept
  ctx.dual_step(lambda_half_, eval_, false);
  ctx.forward(x_half_, eval_half_);
  ctx.backward(eval_half_, lambda_half_, grad_);
  ctx.primal_step(x, grad_);
  ctx.dual_step(lambda, eval_half_, true);
  return {&eval_, nullptr};  // evaluated at the start of the step
}

template class Extragradient<float>;
template class Extragradient<double>;

}  // namespace saddle
