#include <gtest/gtest.h>

#include "saddle/gradient_check.hpp"
#include "toy_problems.hpp"

using namespace saddle;

namespace {
// f = x0^2 x1 + sin(x1), c = x0 + x1^2; backward optionally wrong in one coordinate.
class Smooth : public Problem {
 public:
  explicit Smooth(bool wrong) : wrong_(wrong) {}
  std::size_t num_parameters() const override { return 2; }
  std::vector<ConstraintSpec> constraints() const override { return {{"c", ConstraintKind::equality}}; }
  void initial_point(Vector<double>& x, std::uint64_t) const override { x = {0.3, -0.7}; }
  void forward(const Vector<double>& x, const Batch&, Evaluation& e) override {
    a_ = x(0);
    b_ = x(1);
    e.loss = a_ * a_ * b_ + std::sin(b_);
    e.constraints(0) = a_ + b_ * b_;
  }
  void backward(const Vector<double>& w, Vector<double>& g) override {
    g(0) = 2 * a_ * b_ + w(0);
    g(1) = a_ * a_ + std::cos(b_) + w(0) * 2 * b_ * (wrong_ ? 1.01 : 1.0);
  }

 private:
  bool wrong_;
  double a_ = 0, b_ = 0;
};
}  // namespace

TEST(GradientCheck, AcceptsExactGradient) {
  Smooth p(false);
  Vector<double> x = {0.3, -0.7}, w = {1.7};
  const auto r = check_gradient(p, x, w);
  EXPECT_TRUE(r.ok) << r.report();
  EXPECT_EQ(r.checked, 2u);
  EXPECT_LT(r.max_abs_error, 1e-8);
}

TEST(GradientCheck, CatchesAOnePercentError) {
  Smooth p(true);
  Vector<double> x = {0.3, -0.7}, w = {1.7};
  const auto r = check_gradient(p, x, w);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.worst_index, 1u);
  EXPECT_EQ(r.failures, 1u);
  EXPECT_NE(r.report().find("MISMATCH"), std::string::npos);
}

TEST(GradientCheck, RejectsWrongSizes) {
  Smooth p(false);
  Vector<double> x = {0.3}, w = {1.0};
  EXPECT_THROW(check_gradient(p, x, w), InvalidOption);
}
