// Formulations: Lagrangian, augmented Lagrangian, quadratic penalty, fixed penalty.
#include "saddle/formulation.hpp"

#include <algorithm>
#include <cmath>
#include <istream>
#include <ostream>

#include <xtensor/xnoalias.hpp>

#include "saddle/serialize.hpp"

namespace saddle {
namespace {

bool is_ineq(const ConstraintSpec& s) { return s.kind == ConstraintKind::inequality; }

class FormulationBase : public Formulation {
 public:
  explicit FormulationBase(const FormulationOptions& o) : options_(o) {}
  FormulationKind kind() const override { return options_.kind; }
  void reset(const std::vector<ConstraintSpec>& specs) override {
    specs_ = specs;
    rho_ = Vector<double>::from_shape({specs.size()});
    rho_.fill(uses_penalty() ? options_.penalty : 0.0);
  }
  void dual_step_sizes(double dual_lr, Vector<double>& lr) const override {
    for (std::size_t i = 0; i < lr.size(); ++i)
      lr(i) = (options_.kind == FormulationKind::augmented_lagrangian && options_.dual_lr_is_penalty) ? rho_(i)
                                                                                                      : dual_lr;
  }
  void update_penalties(const Vector<double>& v) override {
    if (!uses_penalty() || options_.growth == PenaltyGrowth::none) return;
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      const double violation = is_ineq(specs_[i]) ? std::max(0.0, v(i)) : std::abs(v(i));
      if (violation <= options_.growth_tolerance) continue;
      const double grown = options_.growth == PenaltyGrowth::multiplicative ? rho_(i) * options_.growth_factor
                                                                            : rho_(i) + options_.growth_increment;
      rho_(i) = std::min(grown, options_.max_penalty);
    }
  }
  void restart(std::size_t i) override {
    if (uses_penalty()) rho_(i) = options_.penalty;
  }
  const Vector<double>& penalties() const override { return rho_; }
  void save(std::ostream& out) const override { io::write_vector(out, rho_); }
  void load(std::istream& in) override { io::read_vector(in, rho_, "penalty coefficients"); }

 protected:
  virtual bool uses_penalty() const { return false; }
  FormulationOptions options_;
  std::vector<ConstraintSpec> specs_;
  Vector<double> rho_;
};

// L = f + sum lambda_i c_i; fixed penalty is the same function with lambda held constant.
class Lagrangian final : public FormulationBase {
 public:
  using FormulationBase::FormulationBase;
  void primal_weights(const Vector<double>&, const Vector<double>& lambda, Vector<double>& w) const override {
    xt::noalias(w) = lambda;
  }
  double objective(double loss, const Vector<double>& c, const Vector<double>& lambda) const override {
    double sum = loss;
    for (std::size_t i = 0; i < c.size(); ++i) sum += lambda(i) * c(i);
    return sum;
  }
  bool updates_multipliers() const override { return options_.kind != FormulationKind::fixed_penalty; }
};

// Augmented Lagrangian (Rockafellar's form for inequalities):
//   ineq.: f + (max(0, lambda + rho g)^2 - lambda^2) / (2 rho), weight max(0, lambda + rho g)
//   eq.:   f + lambda h + rho h^2 / 2,                          weight lambda + rho h
class Augmented final : public FormulationBase {
 public:
  using FormulationBase::FormulationBase;
  void primal_weights(const Vector<double>& c, const Vector<double>& lambda, Vector<double>& w) const override {
    for (std::size_t i = 0; i < c.size(); ++i) {
      const double t = lambda(i) + rho_(i) * c(i);
      w(i) = is_ineq(specs_[i]) ? std::max(0.0, t) : t;
    }
  }
  double objective(double loss, const Vector<double>& c, const Vector<double>& lambda) const override {
    double sum = loss;
    for (std::size_t i = 0; i < c.size(); ++i) {
      if (is_ineq(specs_[i])) {
        const double t = std::max(0.0, lambda(i) + rho_(i) * c(i));
        sum += (t * t - lambda(i) * lambda(i)) / (2.0 * rho_(i));
      } else {
        sum += lambda(i) * c(i) + 0.5 * rho_(i) * c(i) * c(i);
      }
    }
    return sum;
  }
  bool updates_multipliers() const override { return true; }

 protected:
  bool uses_penalty() const override { return true; }
};

// Quadratic penalty: f + rho/2 sum max(0, g)^2 + rho/2 sum h^2; multipliers unused.
class QuadraticPenalty final : public FormulationBase {
 public:
  using FormulationBase::FormulationBase;
  void primal_weights(const Vector<double>& c, const Vector<double>&, Vector<double>& w) const override {
    for (std::size_t i = 0; i < c.size(); ++i)
      w(i) = rho_(i) * (is_ineq(specs_[i]) ? std::max(0.0, c(i)) : c(i));
  }
  double objective(double loss, const Vector<double>& c, const Vector<double>&) const override {
    double sum = loss;
    for (std::size_t i = 0; i < c.size(); ++i) {
      const double v = is_ineq(specs_[i]) ? std::max(0.0, c(i)) : c(i);
      sum += 0.5 * rho_(i) * v * v;
    }
    return sum;
  }
  bool updates_multipliers() const override { return false; }

 protected:
  bool uses_penalty() const override { return true; }
};

}  // namespace

std::unique_ptr<Formulation> make_formulation(const FormulationOptions& options) {
  options.validate();
  switch (options.kind) {
    case FormulationKind::lagrangian:
    case FormulationKind::fixed_penalty: return std::make_unique<Lagrangian>(options);
    case FormulationKind::augmented_lagrangian: return std::make_unique<Augmented>(options);
    case FormulationKind::quadratic_penalty: return std::make_unique<QuadraticPenalty>(options);
  }
  throw InvalidOption("formulation.kind: unknown formulation");
}

}  // namespace saddle
