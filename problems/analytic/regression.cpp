// Norm-constrained least squares on generated data: the stochastic analytic problem.

#include <cmath>
#include <numeric>
#include <string>
#include <utility>

#include <xtensor-blas/xblas.hpp>
#include <xtensor/xadapt.hpp>
#include <xtensor/xnoalias.hpp>

#include "common.hpp"
#include "saddle/problems/analytic.hpp"

namespace saddle::problems {

namespace {

// splitmix64 (Steele, Lea, Flood 2014): a portable generator, so that the data and the
// shuffles are identical on every platform and standard library.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  /// Uniform in (0, 1): 53 random bits, shifted off zero.
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  /// Standard normal by Box-Muller (one of the pair; simplicity over speed).
  double normal() {
    const double u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  /// Uniform integer in [0, n) (n > 0), by rejection to avoid modulo bias.
  std::size_t below(std::size_t n) {
    const std::uint64_t bound = static_cast<std::uint64_t>(n);
    const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % bound);
    std::uint64_t r;
    do r = next(); while (r >= limit);
    return static_cast<std::size_t>(r % bound);
  }

 private:
  std::uint64_t state_;
};

// Solves (A) z = b for a symmetric positive definite A: [d, d] by Cholesky (d is small).
Vector<double> solve_spd(xt::xtensor<double, 2> a, Vector<double> b) {
  const std::size_t d = b.size();
  for (std::size_t j = 0; j < d; ++j) {
    double s = a(j, j);
    for (std::size_t k = 0; k < j; ++k) s -= a(j, k) * a(j, k);
    if (!(s > 0.0)) throw InputError(std::string(NormConstrainedRegression::kName) +
                                     ": Gram matrix is not positive definite");
    a(j, j) = std::sqrt(s);
    for (std::size_t i = j + 1; i < d; ++i) {
      double t = a(i, j);
      for (std::size_t k = 0; k < j; ++k) t -= a(i, k) * a(j, k);
      a(i, j) = t / a(j, j);
    }
  }
  for (std::size_t i = 0; i < d; ++i) {  // L y = b
    for (std::size_t k = 0; k < i; ++k) b(i) -= a(i, k) * b(k);
    b(i) /= a(i, i);
  }
  for (std::size_t i = d; i-- > 0;) {  // L^T z = y
    for (std::size_t k = i + 1; k < d; ++k) b(i) -= a(k, i) * b(k);
    b(i) /= a(i, i);
  }
  return b;
}

double norm2(const Vector<double>& v) {
  double s = 0.0;
  for (double e : v) s += e * e;
  return std::sqrt(s);
}

using Shape2 = std::array<std::size_t, 2>;
using Shape1 = std::array<std::size_t, 1>;

}  // namespace

NormConstrainedRegression::NormConstrainedRegression(Config config) : config_(config) {
  const std::string name = kName;
  if (config_.samples == 0) throw InvalidOption(name + ": samples = 0: must be > 0");
  if (config_.features == 0) throw InvalidOption(name + ": features = 0: must be > 0");
  if (!(config_.radius_fraction > 0.0))
    throw InvalidOption(name + ": radius_fraction = " + std::to_string(config_.radius_fraction) +
                        ": must be > 0");
  if (!(config_.noise >= 0.0))
    throw InvalidOption(name + ": noise = " + std::to_string(config_.noise) + ": must be >= 0");
  const std::size_t n = config_.samples;
  const std::size_t d = config_.features;

  // w_true = (1, -2, 0.5, 3, -1, 1.5, -2, 0.5, 3, -1, ...): a fixed pattern, repeated.
  static constexpr double kPattern[] = {1.0, -2.0, 0.5, 3.0, -1.0, 1.5};
  Vector<double> w_true = xt::zeros<double>(Shape1{d});
  for (std::size_t j = 0; j < d; ++j) w_true(j) = kPattern[j < 6 ? j : 2 + (j - 2) % 4];

  SplitMix64 rng(config_.data_seed);
  x_ = xt::zeros<double>(Shape2{n, d});
  y_ = xt::zeros<double>(Shape1{n});
  for (std::size_t i = 0; i < n; ++i) {
    double yi = 0.0;
    for (std::size_t j = 0; j < d; ++j) {
      x_(i, j) = rng.normal();
      yi += x_(i, j) * w_true(j);
    }
    y_(i) = yi + config_.noise * rng.normal();
  }
  x_shuf_ = x_;
  y_shuf_ = y_;
  order_.resize(n);
  std::iota(order_.begin(), order_.end(), std::size_t{0});
  residual_ = xt::zeros<double>(Shape1{n});
  w_ = xt::zeros<double>(Shape1{d});

  // Normal equations of the full-data loss: gram = X^T X / N, xty = X^T y / N.
  gram_ = xt::zeros<double>(Shape2{d, d});
  xty_ = xt::zeros<double>(Shape1{d});
  xt::blas::gemm(x_, x_, gram_, true, false, 1.0 / static_cast<double>(n), 0.0);
  xt::blas::gemv(x_, y_, xty_, true, 1.0 / static_cast<double>(n), 0.0);
  radius_ = config_.radius_fraction * norm2(ridge_solution(0.0));
}

std::string NormConstrainedRegression::description() {
  return "least squares (1/2N)||Xw - y||^2 on N = 512 generated samples, d = 5, s.t. "
         "||w||^2 <= r^2 with r = ||w_ls|| / 2 (stochastic); answer: ridge w(lambda*) with "
         "||w|| = r";
}

KnownAnswer NormConstrainedRegression::answer() { return NormConstrainedRegression().known_answer(); }

Vector<double> NormConstrainedRegression::ridge_solution(double lambda) const {
  xt::xtensor<double, 2> a = gram_;
  for (std::size_t j = 0; j < config_.features; ++j) a(j, j) += 2.0 * lambda;
  return solve_spd(std::move(a), xty_);
}

double NormConstrainedRegression::full_loss(const Vector<double>& w) const {
  const std::size_t n = config_.samples;
  Vector<double> r = -y_;
  xt::blas::gemv(x_, w, r, false, 1.0, 1.0);
  double s = 0.0;
  for (double e : r) s += e * e;
  return 0.5 * s / static_cast<double>(n);
}

KnownAnswer NormConstrainedRegression::known_answer() const {
  // Stationarity of (1/2N)||Xw - y||^2 + lambda (||w||^2 - r^2):
  //   (X^T X / N + 2 lambda I) w = X^T y / N,
  // and ||w(lambda)|| decreases strictly in lambda >= 0: bracket, then bisect to the last
  // representable double.
  KnownAnswer a;
  double lambda = 0.0;
  Vector<double> w = ridge_solution(0.0);
  if (norm2(w) > radius_) {
    double lo = 0.0;
    double hi = 1.0;
    while (norm2(ridge_solution(hi)) > radius_) hi *= 2.0;
    for (int it = 0; it < 200; ++it) {
      const double mid = 0.5 * (lo + hi);
      if (mid == lo || mid == hi) break;
      if (norm2(ridge_solution(mid)) > radius_) lo = mid; else hi = mid;
    }
    lambda = 0.5 * (lo + hi);
    w = ridge_solution(lambda);
  }
  a.x.assign(w.begin(), w.end());
  a.multipliers = {lambda};
  a.loss = full_loss(w);
  a.note = "ridge w(lambda) = (X^T X/N + 2 lambda I)^-1 X^T y/N, lambda = " +
           std::to_string(lambda) + " by bisection on ||w(lambda)|| = r = " +
           std::to_string(radius_);
  return a;
}

// Tuning (stochastic). The full-data Hessian X^T X / N ~ I (standard normal features, N = 512),
// so the loss is well conditioned; the constraint adds curvature 2 lambda*. Plain SGD with a
// constant step fluctuates around the answer with a spread proportional to lr / batch_size,
// so the defaults use a moderate batch and a small step over many epochs: batch 128 (4 steps
// per epoch), primal and dual step 0.005, 3000 epochs (12000 steps, well under 0.1 s). Measured
// relative error of w about 2e-4 and of lambda* about 4e-4 for every scheme (tests allow 1e-3
// and 1e-2).
SolverOptions NormConstrainedRegression::defaults(const std::string& scheme,
                                                  FormulationKind formulation) {
  detail::Tuning t;
  t.primal_lr = 0.005;
  t.dual_lr = 0.005;
  t.max_iterations = 0;
  t.tolerance = 0.0;
  t.al_penalty = 0.1;    // adds curvature 4 rho w w^T ~ 1.5 along w*
  t.qp_penalty = 10.0;   // curvature 1 + 4 rho r^2 ~ 150
  t.qp_primal_lr = 0.003;
  const KnownAnswer a = answer();
  SolverOptions options = detail::make_options(t, scheme, formulation, a.multipliers);
  options.batch_size = 128;
  options.max_epochs = 3000;
  return options;
}

std::vector<std::string> NormConstrainedRegression::converging_schemes() {
  return scheme_names();
}

std::vector<ConstraintSpec> NormConstrainedRegression::constraints() const {
  return {{"norm", ConstraintKind::inequality}};
}

void NormConstrainedRegression::initial_point(Vector<double>& x, std::uint64_t /*seed*/) const {
  detail::check_size(kName, "x", x.size(), config_.features);
  x.fill(0.0);
}

void NormConstrainedRegression::forward(const Vector<double>& x, const Batch& batch,
                                        Evaluation& eval) {
  const std::size_t n = config_.samples;
  const std::size_t d = config_.features;
  detail::check_size(kName, "x", x.size(), d);
  const std::size_t rows = batch.size == 0 ? n : batch.size;
  if (batch.begin > n || rows > n - batch.begin)
    throw InputError(std::string(kName) + ": batch [" + std::to_string(batch.begin) + ", " +
                     std::to_string(batch.begin + rows) + ") exceeds the " + std::to_string(n) +
                     " samples");
  batch_begin_ = batch.size == 0 ? 0 : batch.begin;
  batch_rows_ = rows;
  xt::noalias(w_) = x;

  // Contiguous rows of the current order, viewed in place (no copy, no allocation).
  auto xb = xt::adapt(x_shuf_.data() + batch_begin_ * d, rows * d, xt::no_ownership(), Shape2{rows, d});
  auto yb = xt::adapt(y_shuf_.data() + batch_begin_, rows, xt::no_ownership(), Shape1{rows});
  auto rb = xt::adapt(residual_.data(), rows, xt::no_ownership(), Shape1{rows});
  xt::noalias(rb) = -yb;
  xt::blas::gemv(xb, w_, rb, false, 1.0, 1.0);  // r = X_b w - y_b
  double ss = 0.0;
  for (std::size_t i = 0; i < rows; ++i) ss += rb(i) * rb(i);
  eval.loss = 0.5 * ss / static_cast<double>(rows);
  evaluate_constraints(x, batch, eval);
}

void NormConstrainedRegression::evaluate_constraints(const Vector<double>& x, const Batch& /*batch*/,
                                                     Evaluation& eval) {
  detail::check_size(kName, "x", x.size(), config_.features);
  double s = 0.0;
  for (double e : x) s += e * e;
  eval.constraints(0) = s - radius_ * radius_;
  eval.has_strict = false;
}

void NormConstrainedRegression::backward(const Vector<double>& weights, Vector<double>& grad) {
  const std::size_t d = config_.features;
  const std::size_t rows = batch_rows_;
  auto xb = xt::adapt(x_shuf_.data() + batch_begin_ * d, rows * d, xt::no_ownership(), Shape2{rows, d});
  auto rb = xt::adapt(residual_.data(), rows, xt::no_ownership(), Shape1{rows});
  // grad = X_b^T r / B + 2 w0 w: the loss gradient by one gemv, then the constraint term.
  xt::noalias(grad) = (2.0 * weights(0)) * w_;
  xt::blas::gemv(xb, rb, grad, true, 1.0 / static_cast<double>(rows), 1.0);
}

void NormConstrainedRegression::shuffle(std::uint64_t seed) {
  // Reset to the original order, then Fisher-Yates: the order depends only on `seed`.
  std::iota(order_.begin(), order_.end(), std::size_t{0});
  SplitMix64 rng(seed);
  for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(i)]);
  const std::size_t d = config_.features;
  for (std::size_t i = 0; i < order_.size(); ++i) {
    const std::size_t src = order_[i];
    for (std::size_t j = 0; j < d; ++j) x_shuf_(i, j) = x_(src, j);
    y_shuf_(i) = y_(src);
  }
}

}  // namespace saddle::problems
