#pragma once
// A small MNIST-shaped data set for the l0 tests: 28x28 inputs drawn N(0, 1) from a seeded
// generator, labels cycling 0..9. Learnable by nothing, but every code path runs on it.
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

#include "saddle/problems/l0/density_problem.hpp"

namespace l0_test {

inline saddle::l0::Dataset random_dataset(std::size_t n_train, std::size_t n_test, std::uint64_t seed,
                                          const std::string& name) {
  saddle::l0::Dataset d;
  d.name = name;
  d.rows = d.cols = 28;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto fill = [&](saddle::l0::DataSplit& s, std::size_t n) {
    s.x = xt::xtensor<float, 2>::from_shape({n, 784});
    s.y = xt::xtensor<std::int32_t, 1>::from_shape({n});
    for (auto& v : s.x) v = normal(rng);
    for (std::size_t i = 0; i < n; ++i) s.y(i) = static_cast<std::int32_t>(i % 10);
  };
  fill(d.train, n_train);
  fill(d.test, n_test);
  return d;
}

}  // namespace l0_test
