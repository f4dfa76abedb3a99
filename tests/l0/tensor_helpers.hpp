#pragma once
// Small tensor helpers of the l0 layer tests: filled vectors and matrices, seeded normal
// fills and a double-precision dot product over whole tensors.
#include <cstddef>
#include <random>

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

}  // namespace l0_test
