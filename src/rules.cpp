// Primal and dual update rules. Every step is written as xt::noalias assignments over
// buffers allocated once in resize(): no xtensor temporary, no allocation in a step.
#include "saddle/rules.hpp"

#include <algorithm>
#include <cmath>
#include <istream>
#include <ostream>

#include <array>

#include <xtensor/xadapt.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>

#include "saddle/serialize.hpp"

namespace saddle {
namespace {

// The elements [begin, end) of v as a 1-D xtensor expression (no allocation, no ownership):
// step_range applies the very expressions of step() to these, so every element goes through
// the same (xsimd) kernel as in the unsplit step.
template <class T>
auto part(Vector<T>& v, std::size_t begin, std::size_t end) {
  return xt::adapt(v.data() + begin, end - begin, xt::no_ownership(),
                   std::array<std::size_t, 1>{end - begin});
}
template <class T>
auto part(const Vector<T>& v, std::size_t begin, std::size_t end) {
  return xt::adapt(v.data() + begin, end - begin, xt::no_ownership(),
                   std::array<std::size_t, 1>{end - begin});
}

template <class T>
class Sgd final : public PrimalRule<T> {
 public:
  explicit Sgd(const PrimalRuleOptions& o) : lr_(o.lr) {}
  void resize(std::size_t) override {}
  void reset() override {}
  void step(Vector<T>& x, const Vector<T>& grad) override { update(x, x, grad); }
  void begin_step() override {}
  void step_range(Vector<T>& x, const Vector<T>& grad, std::size_t begin,
                  std::size_t end) override {
    auto xs = part(x, begin, end);
    update(xs, xs, part(grad, begin, end));
  }
  void step_range_to(const Vector<T>& x, const Vector<T>& grad, Vector<T>& out, std::size_t begin,
                     std::size_t end) override {
    auto os = part(out, begin, end);
    update(part(x, begin, end), os, part(grad, begin, end));
  }
  void save(std::ostream&) const override {}
  void load(std::istream&) override {}

 private:
  // out = x - lr g (out may be x itself: the in-place step).
  template <class X, class O, class G>
  void update(const X& x, O& out, const G& grad) const {
    xt::noalias(out) = x - static_cast<T>(lr_) * grad;
  }
  double lr_;
};

// Heavy ball (PyTorch convention): v <- mu v + g, x <- x - lr v.
// Nesterov (PyTorch convention): v <- mu v + g, x <- x - lr (g + mu v).
template <class T>
class Momentum final : public PrimalRule<T> {
 public:
  Momentum(const PrimalRuleOptions& o, bool nesterov)
      : lr_(o.lr), mu_(o.momentum), nesterov_(nesterov) {}
  void resize(std::size_t n) override {
    velocity_ = Vector<T>::from_shape({n});
    reset();
  }
  void reset() override { velocity_.fill(T(0)); }
  void step(Vector<T>& x, const Vector<T>& grad) override { update(x, x, grad, velocity_); }
  void begin_step() override {}
  void step_range(Vector<T>& x, const Vector<T>& grad, std::size_t begin,
                  std::size_t end) override {
    auto xs = part(x, begin, end);
    auto vs = part(velocity_, begin, end);
    update(xs, xs, part(grad, begin, end), vs);
  }
  void step_range_to(const Vector<T>& x, const Vector<T>& grad, Vector<T>& out, std::size_t begin,
                     std::size_t end) override {
    auto os = part(out, begin, end);
    auto vs = part(velocity_, begin, end);
    update(part(x, begin, end), os, part(grad, begin, end), vs);
  }
  void save(std::ostream& out) const override { io::write_vector(out, velocity_); }
  void load(std::istream& in) override { io::read_vector(in, velocity_, "momentum velocity"); }

 private:
  // velocity advanced, then out = x - lr (...) (out may be x itself: the in-place step).
  template <class X, class O, class G, class V>
  void update(const X& x, O& out, const G& grad, V& velocity) const {
    const T mu = static_cast<T>(mu_);
    const T lr = static_cast<T>(lr_);
    xt::noalias(velocity) = mu * velocity + grad;
    if (nesterov_)
      xt::noalias(out) = x - lr * (grad + mu * velocity);
    else
      xt::noalias(out) = x - lr * velocity;
  }
  double lr_, mu_;
  bool nesterov_;
  Vector<T> velocity_;
};

// Adam (Kingma & Ba 2015) with bias correction folded into the step size:
//   m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;
//   x <- x - lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps * sqrt(1-b2^t))
// which equals lr * m_hat / (sqrt(v_hat) + eps) exactly, as in PyTorch's Adam.
template <class T>
class Adam final : public PrimalRule<T> {
 public:
  explicit Adam(const PrimalRuleOptions& o)
      : lr_(o.lr), b1_(o.beta1), b2_(o.beta2), eps_(o.epsilon) {}
  void resize(std::size_t n) override {
    m_ = Vector<T>::from_shape({n});
    v_ = Vector<T>::from_shape({n});
    reset();
  }
  void reset() override {
    m_.fill(T(0));
    v_.fill(T(0));
    t_ = 0;
  }
  void step(Vector<T>& x, const Vector<T>& grad) override {
    begin_step();
    update(x, x, grad, m_, v_);
  }
  void begin_step() override {
    ++t_;
    const double c1 = 1.0 - std::pow(b1_, static_cast<double>(t_));
    const double c2 = std::sqrt(1.0 - std::pow(b2_, static_cast<double>(t_)));
    step_ = static_cast<T>(lr_ * c2 / c1);
    eps_t_ = static_cast<T>(eps_ * c2);
  }
  void step_range(Vector<T>& x, const Vector<T>& grad, std::size_t begin,
                  std::size_t end) override {
    auto xs = part(x, begin, end);
    auto ms = part(m_, begin, end);
    auto vs = part(v_, begin, end);
    update(xs, xs, part(grad, begin, end), ms, vs);
  }
  void step_range_to(const Vector<T>& x, const Vector<T>& grad, Vector<T>& out, std::size_t begin,
                     std::size_t end) override {
    auto os = part(out, begin, end);
    auto ms = part(m_, begin, end);
    auto vs = part(v_, begin, end);
    update(part(x, begin, end), os, part(grad, begin, end), ms, vs);
  }
  void save(std::ostream& out) const override {
    io::write_scalar<std::uint64_t>(out, t_);
    io::write_vector(out, m_);
    io::write_vector(out, v_);
  }
  void load(std::istream& in) override {
    t_ = io::read_scalar<std::uint64_t>(in, "adam step count");
    io::read_vector(in, m_, "adam first moment");
    io::read_vector(in, v_, "adam second moment");
  }

 private:
  // The step of begin_step's scalars on m, v: [k] and out = x - ... (whole vectors or ranges
  // of them; out may be x itself: the in-place step).
  template <class X, class O, class G, class M>
  void update(const X& x, O& out, const G& grad, M& m, M& v) const {
    const T b1 = static_cast<T>(b1_), b2 = static_cast<T>(b2_);
    xt::noalias(m) = b1 * m + (T(1) - b1) * grad;
    xt::noalias(v) = b2 * v + (T(1) - b2) * grad * grad;
    if (static_cast<const void*>(x.data()) == static_cast<const void*>(out.data())) {
      xt::noalias(out) -= step_ * m / (xt::sqrt(v) + eps_t_);
      return;
    }
    xt::noalias(out) = x - step_ * m / (xt::sqrt(v) + eps_t_);  // the same kernel, out of place
  }
  double lr_, b1_, b2_, eps_;
  std::uint64_t t_ = 0;
  T step_ = T(0), eps_t_ = T(0);  // this step's lr * sqrt(1-b2^t)/(1-b1^t) and eps * sqrt(1-b2^t)
  Vector<T> m_, v_;
};

class GradientAscent final : public DualRule {
 public:
  void resize(std::size_t) override {}
  void step(Vector<double>& lambda, const Vector<double>& v, const Vector<double>& lr,
            const std::vector<ConstraintSpec>& specs) override {
    xt::noalias(lambda) += lr * v;
    project_multipliers(lambda, specs);
  }
  void reset(std::size_t) override {}
  void save(std::ostream&) const override {}
  void load(std::istream&) override {}
};

// nuPI (Sohrabi et al. 2024), recursive form: xi_t = nu xi_{t-1} + (1-nu) v_t,
// lambda <- [lambda + lr v_t + kp (xi_t - xi_{t-1})]_+, with xi_{-1} = 0.
class NuPi final : public DualRule {
 public:
  explicit NuPi(const DualRuleOptions& o) : kp_(o.kp), nu_(o.nu), clip_(o.kp_clip) {}
  void resize(std::size_t m) override {
    xi_ = Vector<double>::from_shape({m});
    xi_.fill(0.0);
  }
  void step(Vector<double>& lambda, const Vector<double>& v, const Vector<double>& lr,
            const std::vector<ConstraintSpec>& specs) override {
    for (std::size_t i = 0; i < lambda.size(); ++i) {
      const double xi_new = nu_ * xi_(i) + (1.0 - nu_) * std::clamp(v(i), -clip_, clip_);
      lambda(i) += lr(i) * v(i) + kp_ * (xi_new - xi_(i));
      xi_(i) = xi_new;
    }
    project_multipliers(lambda, specs);
  }
  void reset(std::size_t i) override { xi_(i) = 0.0; }
  void save(std::ostream& out) const override { io::write_vector(out, xi_); }
  void load(std::istream& in) override { io::read_vector(in, xi_, "nupi error average"); }

 private:
  double kp_, nu_, clip_;
  Vector<double> xi_;
};

}  // namespace

void project_multipliers(Vector<double>& lambda, const std::vector<ConstraintSpec>& specs) {
  for (std::size_t i = 0; i < specs.size(); ++i)
    if (specs[i].kind == ConstraintKind::inequality && !(lambda(i) >= 0.0) &&
        !std::isnan(lambda(i)))
      lambda(i) = 0.0;
}

template <class T>
std::unique_ptr<PrimalRule<T>> make_primal_rule(const PrimalRuleOptions& options) {
  options.validate();
  switch (options.kind) {
    case PrimalRuleKind::sgd:
      return std::make_unique<Sgd<T>>(options);
    case PrimalRuleKind::momentum:
      return std::make_unique<Momentum<T>>(options, false);
    case PrimalRuleKind::nesterov:
      return std::make_unique<Momentum<T>>(options, true);
    case PrimalRuleKind::adam:
      return std::make_unique<Adam<T>>(options);
  }
  throw InvalidOption("primal.kind: unknown rule");
}

std::unique_ptr<DualRule> make_dual_rule(const DualRuleOptions& options) {
  options.validate();
  switch (options.kind) {
    case DualRuleKind::gradient_ascent:
      return std::make_unique<GradientAscent>();
    case DualRuleKind::nupi:
      return std::make_unique<NuPi>(options);
  }
  throw InvalidOption("dual.kind: unknown rule");
}

template std::unique_ptr<PrimalRule<float>> make_primal_rule<float>(const PrimalRuleOptions&);
template std::unique_ptr<PrimalRule<double>> make_primal_rule<double>(const PrimalRuleOptions&);

}  // namespace saddle
