// Extrapolation from the past (Popov 1980; Gidel et al. 2019), for both players:
//   x'  = U(x, g_prev),            lambda' = [lambda + eta v_prev]_+
//   evaluate at (x', lambda') -> g, v
//   x+  = U(x, g),                 lambda+ = [lambda + eta v]_+
//   g_prev <- g, v_prev <- v
// One forward and one backward per step; the very first step pays one extra pair to
// initialise g_prev and v_prev at the starting point. Rule states advance on both updates.
#include <xtensor/xnoalias.hpp>

#include "saddle/serialize.hpp"
#include "solvers/schemes.hpp"

namespace saddle::solvers {

template <class T>
class ExtrapolationFromThePast final : public UpdateScheme<T> {
 public:
  std::string name() const override { return "extrapolation-from-the-past"; }
  double forwards_per_step() const override { return 1; }
  double backwards_per_step() const override { return 1; }
  void initialize(std::size_t n, std::size_t m) override {
    grad_ = Vector<T>::from_shape({n});
    grad_prev_ = Vector<T>::from_shape({n});
    x_half_ = Vector<T>::from_shape({n});
    lambda_half_ = Vector<double>::from_shape({m});
    eval_.resize(m);
    prev_.resize(m);
    have_prev_ = false;
  }
  StepResult<T> step(StepContext<T>& ctx, Vector<T>& x, Vector<double>& lambda) override {
    if (!have_prev_) {
      ctx.forward(x, prev_);
      ctx.backward(prev_, lambda, grad_prev_);
      // Keep only the dual values: prev_ then stands for "the last dual signal".
      xt::noalias(prev_.strict) = prev_.dual_values();
      prev_.has_strict = true;
      have_prev_ = true;
    }
    xt::noalias(x_half_) = x;
    xt::noalias(lambda_half_) = lambda;
    ctx.primal_step(x_half_, grad_prev_);
    ctx.dual_step(lambda_half_, prev_, false);
    ctx.forward(x_half_, eval_);
    ctx.backward(eval_, lambda_half_, grad_);
    ctx.primal_step(x, grad_);
    ctx.dual_step(lambda, eval_, true);
    xt::noalias(grad_prev_) = grad_;
    xt::noalias(prev_.strict) = eval_.dual_values();
    return {&eval_, &x_half_};
  }
  void save(std::ostream& out) const override {
    io::write_scalar<std::uint8_t>(out, have_prev_ ? 1 : 0);
    io::write_vector(out, grad_prev_);
    io::write_vector(out, prev_.strict);
  }
  void load(std::istream& in) override {
    have_prev_ = io::read_scalar<std::uint8_t>(in, "extrapolation flag") != 0;
    io::read_vector(in, grad_prev_, "previous gradient");
    io::read_vector(in, prev_.strict, "previous dual values");
    prev_.has_strict = true;
  }

 private:
  Vector<T> grad_, grad_prev_, x_half_;
  Vector<double> lambda_half_;
  Evaluation eval_, prev_;
  bool have_prev_ = false;
};

template <class T>
std::unique_ptr<UpdateScheme<T>> make_extrapolation_from_the_past() {
  return std::make_unique<ExtrapolationFromThePast<T>>();
}
template std::unique_ptr<UpdateScheme<float>> make_extrapolation_from_the_past<float>();
template std::unique_ptr<UpdateScheme<double>> make_extrapolation_from_the_past<double>();

}  // namespace saddle::solvers
