// Extrapolation from the past (Popov 1980; Gidel et al. 2019), for both players:
//   x'  = U(x, g_prev),            lambda' = [lambda + eta v_prev]_+
//   evaluate at (x', lambda') -> g, v
//   x+  = U(x, g),                 lambda+ = [lambda + eta v]_+
//   g_prev <- g, v_prev <- v
// One forward and one backward per step; the very first step pays one extra pair to
// initialise g_prev and v_prev at the starting point. Rule states advance on both updates.
#include <xtensor/xnoalias.hpp>

#include "saddle/serialize.hpp"
#include "saddle/solvers.hpp"

namespace saddle {

template <class T>
void ExtrapolationFromThePast<T>::initialize(std::size_t n, std::size_t m) {
  grad_ = Vector<T>::from_shape({n});
  grad_prev_ = Vector<T>::from_shape({n});
  x_half_ = Vector<T>::from_shape({n});
  lambda_half_ = Vector<double>::from_shape({m});
  eval_.resize(m);
  prev_.resize(m);
  have_prev_ = false;
}

template <class T>
StepResult<T> ExtrapolationFromThePast<T>::step(StepContext<T>& ctx, Vector<T>& x,
                                                Vector<double>& lambda) {
  if (!have_prev_) {
    ctx.forward(x, prev_);
    ctx.backward(prev_, lambda, grad_prev_);
    // Keep only the dual values: prev_ then stands for "the last dual signal".
    xt::noalias(prev_.strict) = prev_.dual_values();
    prev_.has_strict = true;
    have_prev_ = true;
  }
  xt::noalias(lambda_half_) = lambda;
  ctx.primal_step_from(x_half_, x, grad_prev_);  // x_half_ = U(x, g_prev), x kept
  ctx.dual_step(lambda_half_, prev_, false);
  ctx.forward(x_half_, eval_);
  ctx.backward(eval_, lambda_half_, grad_);
  ctx.primal_step(x, grad_);
  ctx.dual_step(lambda, eval_, true);
  xt::noalias(grad_prev_) = grad_;
  xt::noalias(prev_.strict) = eval_.dual_values();
  return {&eval_, &x_half_};
}

template <class T>
void ExtrapolationFromThePast<T>::save(std::ostream& out) const {
  io::write_scalar<std::uint8_t>(out, have_prev_ ? 1 : 0);
  io::write_vector(out, grad_prev_);
  io::write_vector(out, prev_.strict);
}

template <class T>
void ExtrapolationFromThePast<T>::load(std::istream& in) {
  have_prev_ = io::read_scalar<std::uint8_t>(in, "extrapolation flag") != 0;
  io::read_vector(in, grad_prev_, "previous gradient");
  io::read_vector(in, prev_.strict, "previous dual values");
  prev_.has_strict = true;
}

template class ExtrapolationFromThePast<float>;
template class ExtrapolationFromThePast<double>;

}  // namespace saddle
