#pragma once
/// \file numeric_diff.hpp
/// Gradients by central differences: write f and c once (values only) as a functor, and
/// `NumericDiffProblem` supplies `backward(w)` = grad [f + sum_i w_i c_i] by differencing
/// phi(x) = f(x) + sum_i w_i c_i(x) along every coordinate (the same differences as
/// `check_gradient`). Cost: 2n evaluations of the functor per backward. Accuracy: for a
/// smooth phi of unit scale, about eps^(2/3) ~ 1e-10 relative with the default step
/// (see docs/problem-api.md). No dependency beyond the core.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "saddle/function_problem.hpp"
#include "saddle/problem.hpp"
#include "saddle/types.hpp"

namespace saddle {

/// A scalar function of the parameters, evaluated by `central_difference`.
template <class T>
class ScalarFunction {
 public:
  /// phi(x), x: [n].
  virtual double operator()(const Vector<T>& x) = 0;

 protected:
  ~ScalarFunction() = default;
};

/// Central difference of phi along coordinate j:
///   (phi(x + h e_j) - phi(x - h e_j)) / ((x_j + h) - (x_j - h)),  h = step * max(1, |x_j|),
/// divided by the representable step actually taken. probe: [n], equal to x on entry; x_j is
/// restored on return. Two evaluations of phi, no allocation. Shared by `check_gradient` and
/// `NumericDiffProblem`.
template <class T>
double central_difference(ScalarFunction<T>& phi, Vector<T>& probe, std::size_t j, double step);

/// Options of `NumericDiffProblem`.
struct NumericDiffOptions {
  /// Relative step: h_j = step * max(1, |x_j|). The default, cbrt(machine epsilon) ~ 6.06e-6,
  /// balances the truncation error (h^2 |phi'''| / 6) against rounding (eps |phi| / h).
  double step = 6.0554544523933395e-06;
  /// Throws InvalidOption unless 0 < step < 1 (finite).
  void validate() const;
};

namespace detail {

template <class F>
constexpr bool deterministic_functor_v =
    std::is_invocable_v<const F&, const double*, double&, double*>;
template <class F>
constexpr bool stochastic_functor_v =
    std::is_invocable_v<const F&, const double*, const SampleBatch<double>&, double&, double*>;

/// Checks that a spec and a functor fit each other (samples iff a stochastic functor).
void check_functor_kind(const FunctionProblemSpec& spec, bool stochastic_functor);

}  // namespace detail

/// A double-precision problem from one functor of values (see function_problem.hpp for the
/// two functor forms); `backward` by central differences of the functor.
///
/// - forward: one functor evaluation; remembers x: [n] (copied) and the batch.
/// - backward: 2n functor evaluations on the batch of the last forward.
/// - forward/backward/shuffle do not allocate (the functor must not either).
/// - stochastic when spec.samples is not empty: the functor then receives the batch's rows.
template <class Functor>
class NumericDiffProblem final : public BasicProblem<double> {
  static_assert(detail::deterministic_functor_v<Functor> || detail::stochastic_functor_v<Functor>,
                "NumericDiffProblem: the functor must be callable as f(const double* x, double& "
                "loss, double* c) or f(const double* x, const SampleBatch<double>& batch, "
                "double& loss, double* c)");

 public:
  /// Validates spec and options (InvalidOption) and allocates every buffer.
  NumericDiffProblem(FunctionProblemSpec spec, Functor functor, NumericDiffOptions options = {})
      : spec_(std::move(spec)), functor_(std::move(functor)), options_(options) {
    spec_.validate();
    options_.validate();
    detail::check_functor_kind(spec_, detail::stochastic_functor_v<Functor>);
    const std::size_t n = spec_.num_parameters;
    const std::size_t m = spec_.constraints.size();
    samples_ = ShuffledSamples(spec_.samples);
    spec_.samples.values = std::vector<double>();  // samples_ holds them (width stays)
    x_ = Vector<double>::from_shape({n});
    probe_ = Vector<double>::from_shape({n});
    c_.assign(m, 0.0);
  }

  std::size_t num_parameters() const override { return spec_.num_parameters; }
  std::vector<ConstraintSpec> constraints() const override { return spec_.constraints; }
  void initial_point(Vector<double>& x, std::uint64_t /*seed*/) const override {
    detail::write_initial_point(spec_, x);
  }
  std::size_t num_samples() const override { return samples_.rows(); }
  void shuffle(std::uint64_t seed) override { samples_.shuffle(seed); }

  void forward(const Vector<double>& x, const Batch& batch, Evaluation& eval) override {
    detail::check_parameter_count(spec_.name, x.size(), spec_.num_parameters);
    if (samples_.rows() > 0) rows_ = samples_.batch(batch, spec_.name, batch_rows_);
    double loss = 0.0;
    evaluate(x.data(), loss, c_.data());
    eval.loss = loss;
    for (std::size_t i = 0; i < c_.size(); ++i) eval.constraints(i) = c_[i];
    eval.has_strict = false;
    std::copy(x.begin(), x.end(), x_.begin());
    has_point_ = true;
  }

  void backward(const Vector<double>& weights, Vector<double>& grad) override {
    if (!has_point_) throw InputError(spec_.name + ": backward called before forward");
    phi_.owner = this;  // also right after a copy of the problem
    phi_.weights = &weights;
    std::copy(x_.begin(), x_.end(), probe_.begin());
    for (std::size_t j = 0; j < spec_.num_parameters; ++j)
      grad(j) = central_difference<double>(phi_, probe_, j, options_.step);
  }

  const NumericDiffOptions& options() const { return options_; }

 private:
  // phi(x) = loss(x) + sum_i w_i c_i(x) on the batch of the last forward.
  struct Phi final : ScalarFunction<double> {
    NumericDiffProblem* owner = nullptr;
    const Vector<double>* weights = nullptr;
    double operator()(const Vector<double>& x) override {
      double loss = 0.0;
      owner->evaluate(x.data(), loss, owner->c_.data());
      for (std::size_t i = 0; i < owner->c_.size(); ++i) loss += (*weights)(i)*owner->c_[i];
      return loss;
    }
  };

  void evaluate(const double* x, double& loss, double* c) const {
    if constexpr (detail::stochastic_functor_v<Functor>) {
      const SampleBatch<double> batch{rows_, batch_rows_, samples_.width()};
      functor_(x, batch, loss, c);
    } else {
      functor_(x, loss, c);
    }
  }

  FunctionProblemSpec spec_;
  Functor functor_;
  NumericDiffOptions options_;
  ShuffledSamples samples_;
  Vector<double> x_;              // [n] point of the last forward
  Vector<double> probe_;          // [n] x with one coordinate moved
  std::vector<double> c_;         // [m] constraint values of one evaluation
  const double* rows_ = nullptr;  // rows of the last forward's batch
  std::size_t batch_rows_ = 0;
  bool has_point_ = false;
  Phi phi_;
};

/// Deduces the functor type: `auto p = make_numeric_diff_problem(spec, [](const auto* x, ...){});`
template <class Functor>
NumericDiffProblem<Functor> make_numeric_diff_problem(FunctionProblemSpec spec, Functor functor,
                                                      NumericDiffOptions options = {}) {
  return NumericDiffProblem<Functor>(std::move(spec), std::move(functor), options);
}

}  // namespace saddle
