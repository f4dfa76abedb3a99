// A plugin with one problem of each kind the loader supports, for tests/cli/test_plugin.cpp:
//   plugin-qp              double, deterministic: min 6x0^2 + 4x0x1 + 3x1^2 s.t. x0 + x1 = 5,
//                          x* = (1, 4), lambda* = -28, f* = 70 (12x0 + 4x1 + lambda = 0);
//                          --problem-args x0=V starts at x = (V, 0) instead of (seed mod 3, 0);
//   plugin-float-qp        the same problem in float;
//   plugin-float-centroid  float, stochastic (64 samples): min mean_i |x - p_i|^2
//                          s.t. x0 + x1 <= 1, with mean_i p_i = (2, 3): x* = (0, 1) (the
//                          projection of the mean onto the half-plane), lambda* = 4
//                          (2 (x* - mean) + lambda (1, 1) = 0), f* = 8 + mean_i |p_i - mean|^2.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <vector>

#include <saddle/plugin.hpp>

namespace {

template <class T>
class Qp : public saddle::BasicProblem<T> {
 public:
  explicit Qp(const saddle::ProblemArgs& args) {
    for (const auto& [key, value] : args) {
      if (key != "x0")
        throw saddle::InputError("unknown --problem-args key '" + key + "' (choices: x0)");
      char* end = nullptr;
      start_ = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0')
        throw saddle::InputError("--problem-args x0 = '" + value + "': expected a number");
      has_start_ = true;
    }
  }
  std::size_t num_parameters() const override { return 2; }
  std::vector<saddle::ConstraintSpec> constraints() const override {
    return {{"x0+x1=5", saddle::ConstraintKind::equality}};
  }
  void initial_point(saddle::Vector<T>& x, std::uint64_t seed) const override {
    // The seed moves the start, so that compare's seeds differ.
    x(0) = static_cast<T>(has_start_ ? start_ : static_cast<double>(seed % 3));
    x(1) = 0;
  }
  void forward(const saddle::Vector<T>& x, const saddle::Batch&,
               saddle::Evaluation& eval) override {
    x0_ = x(0);
    x1_ = x(1);
    eval.loss = 6.0 * x0_ * x0_ + 4.0 * x0_ * x1_ + 3.0 * x1_ * x1_;
    eval.constraints(0) = x0_ + x1_ - 5.0;
  }
  void backward(const saddle::Vector<double>& w, saddle::Vector<T>& grad) override {
    grad(0) = static_cast<T>(12.0 * x0_ + 4.0 * x1_ + w(0));
    grad(1) = static_cast<T>(4.0 * x0_ + 6.0 * x1_ + w(0));
  }

 private:
  double x0_ = 0.0, x1_ = 0.0;
  double start_ = 0.0;
  bool has_start_ = false;
};

// p_i = (2, 3) + d_i with d_i = (a_i, -a_i / 2), a_i = +-0.5, +-0.25 in a fixed pattern
// (sum zero in every group of 4, so the mean is exactly (2, 3)).
class Centroid : public saddle::ProblemF {
 public:
  static constexpr std::size_t kSamples = 64;
  Centroid() : px_(kSamples), py_(kSamples), order_(kSamples) {
    static const double a[4] = {0.5, -0.5, 0.25, -0.25};
    for (std::size_t i = 0; i < kSamples; ++i) {
      px_[i] = 2.0 + a[i % 4];
      py_[i] = 3.0 - a[i % 4] / 2.0;
    }
    std::iota(order_.begin(), order_.end(), std::size_t{0});
  }
  std::size_t num_parameters() const override { return 2; }
  std::vector<saddle::ConstraintSpec> constraints() const override {
    return {{"x0+x1<=1", saddle::ConstraintKind::inequality}};
  }
  void initial_point(saddle::Vector<float>& x, std::uint64_t) const override {
    x(0) = 0.0f;
    x(1) = 0.0f;
  }
  std::size_t num_samples() const override { return kSamples; }
  void shuffle(std::uint64_t seed) override {
    // Fisher-Yates with a SplitMix64 stream from the seed (no allocation).
    std::uint64_t s = seed;
    for (std::size_t i = kSamples - 1; i > 0; --i) {
      s += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = s;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      std::swap(order_[i], order_[z % (i + 1)]);
    }
  }
  void forward(const saddle::Vector<float>& x, const saddle::Batch& batch,
               saddle::Evaluation& eval) override {
    begin_ = batch.begin;
    size_ = batch.size == 0 ? kSamples : batch.size;
    x0_ = x(0);
    x1_ = x(1);
    double loss = 0.0;
    mean_x_ = mean_y_ = 0.0;
    for (std::size_t k = begin_; k < begin_ + size_; ++k) {
      const std::size_t i = order_[k];
      loss += (x0_ - px_[i]) * (x0_ - px_[i]) + (x1_ - py_[i]) * (x1_ - py_[i]);
      mean_x_ += px_[i];
      mean_y_ += py_[i];
    }
    const double n = static_cast<double>(size_);
    mean_x_ /= n;
    mean_y_ /= n;
    eval.loss = loss / n;
    eval.constraints(0) = x0_ + x1_ - 1.0;
  }
  void backward(const saddle::Vector<double>& w, saddle::Vector<float>& grad) override {
    grad(0) = static_cast<float>(2.0 * (x0_ - mean_x_) + w(0));
    grad(1) = static_cast<float>(2.0 * (x1_ - mean_y_) + w(0));
  }

 private:
  std::vector<double> px_, py_;
  std::vector<std::size_t> order_;
  std::size_t begin_ = 0, size_ = 0;
  double x0_ = 0.0, x1_ = 0.0, mean_x_ = 0.0, mean_y_ = 0.0;
};

saddle::SolverOptions qp_defaults(double tolerance) {
  saddle::SolverOptions o;
  o.primal.lr = 0.05;
  o.dual.lr = 0.5;
  o.max_iterations = 20000;
  o.tolerance = tolerance;
  o.feasibility_tolerance = 1e-4;
  return o;
}

}  // namespace

SADDLE_PLUGIN(registry) {
  const saddle::KnownAnswer qp_answer{
      {1.0, 4.0}, {-28.0}, 70.0, "12 x0 + 4 x1 + lambda = 0 at x = (1, 4)"};
  registry.add(saddle::plugin_problem<Qp<double>>(
                   "plugin-qp", "min 6x0^2 + 4x0x1 + 3x1^2 s.t. x0 + x1 = 5 (double)")
                   .with_defaults(qp_defaults(1e-12))
                   .with_answer(qp_answer)
                   .with_converging_schemes({"gda", "extragradient"}));
  registry.add(saddle::plugin_problem<Qp<float>>(
                   "plugin-float-qp", "min 6x0^2 + 4x0x1 + 3x1^2 s.t. x0 + x1 = 5 (float)")
                   .with_defaults(qp_defaults(1e-6))
                   .with_answer(qp_answer));
  saddle::SolverOptions centroid;
  centroid.primal.lr = 0.05;
  centroid.dual.lr = 0.05;
  centroid.max_iterations = 0;
  centroid.max_epochs = 100;
  centroid.batch_size = 16;
  // mean_i |p_i - mean|^2 = mean of a_i^2 (1 + 1/4) = (0.25 + 0.0625) / 2 * 1.25 = 0.1953125.
  registry.add(
      saddle::plugin_problem<Centroid>(
          "plugin-float-centroid", "min mean_i |x - p_i|^2 s.t. x0 + x1 <= 1, 64 samples (float)")
          .with_defaults(centroid)
          .with_answer(
              {{0.0, 1.0}, {4.0}, 8.1953125, "projection of the mean (2, 3) onto x0 + x1 <= 1"}));
}
