#include "saddle/problem_builder.hpp"

#include <cmath>
#include <set>
#include <utility>

#include <xtensor/xnoalias.hpp>

namespace saddle {

namespace {

// The problem that ProblemBuilder::build returns.
template <class T>
class LambdaProblem final : public BasicProblem<T> {
 public:
  using Term = typename ProblemBuilder<T>::Term;

  LambdaProblem(std::string name, std::size_t n, Term objective, std::vector<Term> constraints,
                std::vector<double> x0)
      : name_(std::move(name)),
        objective_(std::move(objective)),
        constraints_(std::move(constraints)),
        x0_(std::move(x0)),
        x_(Vector<T>::from_shape({n})),
        scratch_(Vector<T>::from_shape({n})) {}

  std::size_t num_parameters() const override { return x_.size(); }
  std::vector<ConstraintSpec> constraints() const override {
    std::vector<ConstraintSpec> specs;
    for (const Term& t : constraints_) specs.push_back({t.name, t.kind});
    return specs;
  }
  void initial_point(Vector<T>& x, std::uint64_t /*seed*/) const override {
    check_size(x.size());
    for (std::size_t j = 0; j < x.size(); ++j) x(j) = x0_.empty() ? T(0) : static_cast<T>(x0_[j]);
  }
  void forward(const Vector<T>& x, const Batch& /*batch*/, Evaluation& eval) override {
    check_size(x.size());
    xt::noalias(x_) = x;
    eval.loss = objective_.value(x_);
    for (std::size_t i = 0; i < constraints_.size(); ++i)
      eval.constraints(i) = constraints_[i].value(x_);
    eval.has_strict = false;
    has_point_ = true;
  }
  void backward(const Vector<double>& weights, Vector<T>& grad) override {
    if (!has_point_) throw InputError(name_ + ": backward called before forward");
    const std::size_t n = x_.size();
    objective_.gradient(x_, grad);
    check_gradient_size(grad.size(), nullptr);
    for (std::size_t i = 0; i < constraints_.size(); ++i) {
      const double w = weights(i);
      if (w == 0.0) continue;  // a zero weight contributes nothing: skip the call
      constraints_[i].gradient(x_, scratch_);
      check_gradient_size(scratch_.size(), &constraints_[i]);
      const T wt = static_cast<T>(w);
      for (std::size_t j = 0; j < n; ++j) grad(j) += wt * scratch_(j);
    }
  }

 private:
  void check_size(std::size_t size) const {
    if (size != x_.size())
      throw InputError(name_ + ": x has " + std::to_string(size) + " values, expected " +
                       std::to_string(x_.size()));
  }
  // `term` is nullptr for the objective. The message is built only on error (no allocation).
  void check_gradient_size(std::size_t size, const Term* term) const {
    if (size != x_.size())
      throw InputError(name_ + ": the gradient lambda of " +
                       (term ? "constraint '" + term->name + "'" : std::string("the objective")) +
                       " resized its output to " + std::to_string(size) + " values, expected " +
                       std::to_string(x_.size()));
  }

  std::string name_;
  Term objective_;
  std::vector<Term> constraints_;
  std::vector<double> x0_;
  Vector<T> x_;        // [n] point of the last forward
  Vector<T> scratch_;  // [n] one constraint's gradient
  bool has_point_ = false;
};

}  // namespace

template <class T>
ProblemBuilder<T>& ProblemBuilder<T>::name(std::string name) {
  name_ = std::move(name);
  return *this;
}

template <class T>
ProblemBuilder<T>& ProblemBuilder<T>::objective(Value f, Gradient gradient) {
  ++objectives_;
  objective_ = Term{"objective", ConstraintKind::inequality, std::move(f), std::move(gradient)};
  return *this;
}

template <class T>
ProblemBuilder<T>& ProblemBuilder<T>::inequality(std::string name, Value g, Gradient gradient) {
  return constraint(std::move(name), ConstraintKind::inequality, std::move(g), std::move(gradient));
}

template <class T>
ProblemBuilder<T>& ProblemBuilder<T>::equality(std::string name, Value h, Gradient gradient) {
  return constraint(std::move(name), ConstraintKind::equality, std::move(h), std::move(gradient));
}

template <class T>
ProblemBuilder<T>& ProblemBuilder<T>::constraint(std::string name, ConstraintKind kind, Value c,
                                                 Gradient gradient) {
  constraints_.push_back(Term{std::move(name), kind, std::move(c), std::move(gradient)});
  return *this;
}

template <class T>
ProblemBuilder<T>& ProblemBuilder<T>::initial_point(std::vector<double> x0) {
  x0_ = std::move(x0);
  return *this;
}

template <class T>
std::unique_ptr<BasicProblem<T>> ProblemBuilder<T>::build() const {
  const std::string who = name_ + ": ";
  if (n_ == 0) throw InvalidOption(who + "num_parameters = 0: must be > 0");
  if (objectives_ == 0) throw InvalidOption(who + "no objective: call objective(f, gradient)");
  if (objectives_ > 1)
    throw InvalidOption(who + "objective given " + std::to_string(objectives_) +
                        " times: give it once");
  if (!objective_.value) throw InvalidOption(who + "the objective has no value function");
  if (!objective_.gradient) throw InvalidOption(who + "the objective has no gradient function");
  std::set<std::string> names;
  for (std::size_t i = 0; i < constraints_.size(); ++i) {
    const Term& t = constraints_[i];
    if (t.name.empty())
      throw InvalidOption(who + "constraint " + std::to_string(i) + " has an empty name");
    if (!names.insert(t.name).second)
      throw InvalidOption(who + "duplicate constraint name '" + t.name + "'");
    if (!t.value) throw InvalidOption(who + "constraint '" + t.name + "' has no value function");
    if (!t.gradient)
      throw InvalidOption(who + "constraint '" + t.name + "' has no gradient function");
  }
  if (!x0_.empty() && x0_.size() != n_)
    throw InvalidOption(who + "initial_point has " + std::to_string(x0_.size()) +
                        " values, expected num_parameters = " + std::to_string(n_));
  for (std::size_t j = 0; j < x0_.size(); ++j)
    if (!std::isfinite(x0_[j]))
      throw InvalidOption(who + "initial_point[" + std::to_string(j) + "] is not finite");
  return std::make_unique<LambdaProblem<T>>(name_, n_, objective_, constraints_, x0_);
}

template class ProblemBuilder<float>;
template class ProblemBuilder<double>;

}  // namespace saddle
