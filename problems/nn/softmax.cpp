/// \file softmax.cpp
/// Row-wise softmax.

#include <cmath>
#include <string>

#include "saddle/nn/layers.hpp"

namespace saddle::nn {

template <class T>
void softmax(ConstView<T, 2> logits, View<T, 2> probs) {
  const std::size_t rows = logits.shape()[0], classes = logits.shape()[1];
  if (probs.shape()[0] != rows || probs.shape()[1] != classes || classes == 0) {
    throw InputError("softmax: logits [" + std::to_string(rows) + ", " + std::to_string(classes) +
                     "], probs [" + std::to_string(probs.shape()[0]) + ", " +
                     std::to_string(probs.shape()[1]) + "]: need equal shapes, >= 1 column");
  }
  for (std::size_t r = 0; r < rows; ++r) {
    const T* l = logits.data() + r * classes;
    T* p = probs.data() + r * classes;
    double m = static_cast<double>(l[0]);
    for (std::size_t c = 1; c < classes; ++c) m = std::max(m, static_cast<double>(l[c]));
    double sum = 0.0;
    for (std::size_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(l[c]) - m);
    const double inv = 1.0 / sum;
    for (std::size_t c = 0; c < classes; ++c) {  // reads l[c] before writing p[c]: alias-safe
      p[c] = static_cast<T>(std::exp(static_cast<double>(l[c]) - m) * inv);
    }
  }
}

template void softmax<float>(ConstView<float, 2>, View<float, 2>);
template void softmax<double>(ConstView<double, 2>, View<double, 2>);

}  // namespace saddle::nn
