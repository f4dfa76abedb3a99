#pragma once
// Small tensor helpers of the l0 layer tests: filled vectors and matrices, seeded normal
// fills, a double-precision dot product over whole tensors, the relative difference of two
// arrays and a central-difference check.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

namespace l0_test {

/// [n] filled with `value`.
template <class T>
xt::xtensor<T, 1> vec(std::size_t n, double value = 0.0) {
  xt::xtensor<T, 1> v = xt::xtensor<T, 1>::from_shape({n});
  v.fill(static_cast<T>(value));
  return v;
}
/// [r, c] filled with `value`.
template <class T>
xt::xtensor<T, 2> mat(std::size_t r, std::size_t c, double value = 0.0) {
  xt::xtensor<T, 2> m = xt::xtensor<T, 2>::from_shape({r, c});
  m.fill(static_cast<T>(value));
  return m;
}
/// Every element of `e` drawn from N(0, sd^2).
template <class E>
void fill_normal(E& e, std::mt19937_64& rng, double sd = 1.0) {
  std::normal_distribution<double> d(0.0, sd);
  for (auto& v : e) v = static_cast<typename E::value_type>(d(rng));
}
/// sum_i a[i] * b[i] over the elements in memory order, accumulated in double.
template <class A, class B>
double dot_all(const A& a, const B& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a.data()[i]) * b.data()[i];
  return s;
}

/// max_i |a[i] - b[i]| / max(max_i |b[i]|, 1e-30): the relative difference of two arrays of
/// the same size (any element types).
template <class A, class B>
double rel_diff(const A& a, const B& b) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    num = std::max(num, std::abs(static_cast<double>(a.data()[i]) - static_cast<double>(b.data()[i])));
    den = std::max(den, std::abs(static_cast<double>(b.data()[i])));
  }
  return num / std::max(den, 1e-30);
}

/// Central differences of f() w.r.t. x[i] for the listed i, against the analytic gradient g
/// (ASSERT within tol * (1 + |fd|)).
inline void check_fd(const std::string& what, double* x, const std::vector<std::size_t>& coords,
                     const double* g, const std::function<double()>& f, double h = 1e-6,
                     double tol = 1e-6) {
  for (const std::size_t i : coords) {
    const double old = x[i];
    x[i] = old + h;
    const double fp = f();
    x[i] = old - h;
    const double fm = f();
    x[i] = old;
    const double fd = (fp - fm) / (2 * h);
    ASSERT_NEAR(g[i], fd, tol * (1.0 + std::abs(fd))) << what << " [" << i << "]";
  }
}
/// 0, 1, ..., n - 1.
inline std::vector<std::size_t> all_coords(std::size_t n) {
  std::vector<std::size_t> c(n);
  for (std::size_t i = 0; i < n; ++i) c[i] = i;
  return c;
}
/// Every coordinate x[0..n).
inline void check_fd(const std::string& what, double* x, std::size_t n, const double* g,
                     const std::function<double()>& f, double h = 1e-6, double tol = 1e-6) {
  check_fd(what, x, all_coords(n), g, f, h, tol);
}

}  // namespace l0_test
