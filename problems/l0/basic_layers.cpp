/// \file basic_layers.cpp
/// ReLU, 2x2 max-pooling and softmax cross-entropy kernels.

#include "saddle/problems/l0/basic_layers.hpp"

#include "saddle/nn/im2col.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace saddle::l0 {

namespace {
std::string shape_str(std::size_t a, std::size_t b) {
  return "[" + std::to_string(a) + ", " + std::to_string(b) + "]";
}
template <class A, class B>
void check_same_shape(const char* what, const A& a, const B& b) {
  if (a.shape()[0] != b.shape()[0] || a.shape()[1] != b.shape()[1]) {
    throw InputError(std::string(what) + ": shapes " + shape_str(a.shape()[0], a.shape()[1]) +
                     " and " + shape_str(b.shape()[0], b.shape()[1]) + " differ");
  }
}
}  // namespace

// ---- ReLU ---------------------------------------------------------------------------------

template <class T>
void relu_forward(ConstView<T, 2> x, View<T, 2> y) {
  check_same_shape("relu_forward", x, y);
  const std::size_t n = x.size();
  const T* xp = x.data();
  T* yp = y.data();
  // A plain loop the compiler vectorises (and safe in place).
  for (std::size_t i = 0; i < n; ++i) yp[i] = xp[i] > T(0) ? xp[i] : T(0);
}

template <class T>
void relu_backward(ConstView<T, 2> y, ConstView<T, 2> dy, View<T, 2> dx) {
  check_same_shape("relu_backward", y, dy);
  check_same_shape("relu_backward", y, dx);
  const std::size_t n = y.size();
  const T* yp = y.data();
  const T* dyp = dy.data();
  T* dxp = dx.data();
  for (std::size_t i = 0; i < n; ++i) dxp[i] = yp[i] > T(0) ? dyp[i] : T(0);
}

// ---- MaxPool2d ----------------------------------------------------------------------------

template <class T>
MaxPool2d<T>::MaxPool2d(std::size_t channels, std::size_t in_height, std::size_t in_width)
    : c_(channels), h_(in_height), w_(in_width) {
  if (c_ == 0 || h_ < 2 || w_ < 2) {
    throw InvalidOption("MaxPool2d: need channels >= 1 and maps of at least 2x2, got " +
                        std::to_string(c_) + "x" + std::to_string(h_) + "x" + std::to_string(w_));
  }
}

template <class T>
void MaxPool2d<T>::reserve(std::size_t max_batch) {
  max_batch_ = max_batch;
  argmax_.assign(max_batch * out_features(), 0);
  has_forward_ = false;
}

template <class T>
void MaxPool2d<T>::forward(ConstView<T, 2> input, View<T, 2> output) {
  const std::size_t rows = input.shape()[0];
  if (input.shape()[1] != in_features() || output.shape()[0] != rows ||
      output.shape()[1] != out_features()) {
    throw InputError("MaxPool2d forward: input " + shape_str(rows, input.shape()[1]) + ", output " +
                     shape_str(output.shape()[0], output.shape()[1]) + ", expected width " +
                     std::to_string(in_features()) + " and " + std::to_string(out_features()));
  }
  if (rows > max_batch_) {
    throw InputError("MaxPool2d forward: batch of " + std::to_string(rows) +
                     " rows exceeds reserve(" + std::to_string(max_batch_) + ")");
  }
  batch_ = rows;
  has_forward_ = true;
  const std::size_t oh_n = h_ / 2, ow_n = w_ / 2;
  const std::size_t in_feat = in_features(), out_feat = out_features();
  for (std::size_t b = 0; b < rows; ++b) {
    const T* x = input.data() + b * in_feat;
    T* y = output.data() + b * out_feat;
    std::uint32_t* arg = argmax_.data() + b * out_feat;
    for (std::size_t c = 0; c < c_; ++c) {
      for (std::size_t oh = 0; oh < oh_n; ++oh) {
        const std::size_t r0 = (c * h_ + 2 * oh) * w_;  // top row of the window
        const std::size_t r1 = r0 + w_;
        for (std::size_t ow = 0; ow < ow_n; ++ow) {
          const std::size_t i00 = r0 + 2 * ow, i01 = i00 + 1, i10 = r1 + 2 * ow, i11 = i10 + 1;
          std::size_t best = i00;
          if (x[i01] > x[best]) best = i01;
          if (x[i10] > x[best]) best = i10;
          if (x[i11] > x[best]) best = i11;
          const std::size_t o = (c * oh_n + oh) * ow_n + ow;
          y[o] = x[best];
          arg[o] = static_cast<std::uint32_t>(best);
        }
      }
    }
  }
}

template <class T>
void MaxPool2d<T>::backward(ConstView<T, 2> grad_output, View<T, 2> grad_input) const {
  if (!has_forward_) throw InputError("MaxPool2d backward: no forward pass since reserve()");
  const std::size_t rows = batch_;
  if (grad_output.shape()[0] != rows || grad_output.shape()[1] != out_features() ||
      grad_input.shape()[0] != rows || grad_input.shape()[1] != in_features()) {
    throw InputError("MaxPool2d backward: grad_output " +
                     shape_str(grad_output.shape()[0], grad_output.shape()[1]) + ", grad_input " +
                     shape_str(grad_input.shape()[0], grad_input.shape()[1]) + ", expected " +
                     shape_str(rows, out_features()) + " and " + shape_str(rows, in_features()));
  }
  const std::size_t in_feat = in_features(), out_feat = out_features();
  T* dx = grad_input.data();
  std::fill(dx, dx + rows * in_feat, T(0));
  // Windows do not overlap (stride = size = 2): each input receives at most one value.
  for (std::size_t b = 0; b < rows; ++b) {
    const T* dy = grad_output.data() + b * out_feat;
    const std::uint32_t* arg = argmax_.data() + b * out_feat;
    T* dxr = dx + b * in_feat;
    for (std::size_t o = 0; o < out_feat; ++o) dxr[arg[o]] = dy[o];
  }
}

// ---- PackedReluPool2d --------------------------------------------------------------------

template <class T>
PackedReluPool2d<T>::PackedReluPool2d(std::size_t channels, std::size_t in_height,
                                      std::size_t in_width)
    : c_(channels), h_(in_height), w_(in_width) {
  if (c_ == 0 || h_ < 2 || w_ < 2) {
    throw InvalidOption("PackedReluPool2d: need channels >= 1 and maps of at least 2x2, got " +
                        std::to_string(c_) + "x" + std::to_string(h_) + "x" + std::to_string(w_));
  }
  maps_.reserve(c_);
}

template <class T>
void PackedReluPool2d<T>::reserve(std::size_t max_batch) {
  max_batch_ = max_batch;
  argmax_.assign(c_ * max_batch * (h_ / 2) * (w_ / 2), 0);
  has_forward_ = false;
}

template <class T>
void PackedReluPool2d<T>::forward(ConstView<T, 1> y, std::size_t chunk,
                                  const std::vector<std::size_t>& maps, ConstView<T, 1> bias,
                                  View<T, 2> out) {
  const std::size_t rows = out.shape()[0];
  const std::size_t n = maps.size();
  const std::size_t plane = h_ * w_;
  if (out.shape()[1] != out_features() || n > c_ || bias.size() != n || chunk == 0 ||
      (n > 0 && y.size() != n * rows * plane)) {
    throw InputError("PackedReluPool2d forward: " + std::to_string(y.size()) + " packed values for " +
                     std::to_string(n) + " maps, output " +
                     shape_str(out.shape()[0], out.shape()[1]) + ", expected width " +
                     std::to_string(out_features()));
  }
  if (rows > max_batch_) {
    throw InputError("PackedReluPool2d forward: batch of " + std::to_string(rows) +
                     " rows exceeds reserve(" + std::to_string(max_batch_) + ")");
  }
  maps_.clear();  // capacity C: no allocation
  for (const std::size_t c : maps) {
    if (c >= c_ || (!maps_.empty() && c <= maps_.back())) {
      throw InputError("PackedReluPool2d forward: maps must be ascending and < " + std::to_string(c_));
    }
    maps_.push_back(c);
  }
  batch_ = rows;
  chunk_ = chunk;
  has_forward_ = true;
  const std::size_t oh_n = h_ / 2, ow_n = w_ / 2, po = oh_n * ow_n;
  const std::size_t out_feat = out_features();
  T* o = out.data();
  // Maps that are not listed: exact zeros.
  for (std::size_t b = 0; b < rows; ++b) {
    std::size_t a = 0;
    for (std::size_t c = 0; c < c_; ++c) {
      if (a < n && maps_[a] == c) {
        ++a;
      } else {
        std::fill(o + b * out_feat + c * po, o + b * out_feat + (c + 1) * po, T(0));
      }
    }
  }
  const T* bz = bias.data();
  for (std::size_t a = 0; a < n; ++a) {
    const T bias_a = bz[a];
    for (std::size_t b = 0; b < rows; ++b) {
      const T* x = y.data() + nn::packed_offset(a, b, n, rows, chunk_, plane);
      T* dst = o + b * out_feat + maps_[a] * po;
      std::uint32_t* arg = argmax_.data() + (a * rows + b) * po;
      for (std::size_t oh = 0; oh < oh_n; ++oh) {
        const std::size_t r0 = 2 * oh * w_, r1 = r0 + w_;
        for (std::size_t ow = 0; ow < ow_n; ++ow) {
          // The same float values as scatter (y + bias), ReLU, then pool: first maximum wins.
          const std::size_t i00 = r0 + 2 * ow, i01 = i00 + 1, i10 = r1 + 2 * ow, i11 = i10 + 1;
          std::size_t best = i00;
          T v = x[i00] + bias_a;
          const T v01 = x[i01] + bias_a, v10 = x[i10] + bias_a, v11 = x[i11] + bias_a;
          if (v01 > v) { v = v01; best = i01; }
          if (v10 > v) { v = v10; best = i10; }
          if (v11 > v) { v = v11; best = i11; }
          dst[oh * ow_n + ow] = v > T(0) ? v : T(0);
          arg[oh * ow_n + ow] = static_cast<std::uint32_t>(best);
        }
      }
    }
  }
}

template <class T>
void PackedReluPool2d<T>::backward(ConstView<T, 2> out, ConstView<T, 2> grad_out,
                                   View<T, 1> dy) const {
  if (!has_forward_) throw InputError("PackedReluPool2d backward: no forward pass since reserve()");
  const std::size_t rows = batch_, n = maps_.size(), plane = h_ * w_;
  if (out.shape()[0] != rows || out.shape()[1] != out_features() ||
      grad_out.shape()[0] != rows || grad_out.shape()[1] != out_features() ||
      (n > 0 && dy.size() != n * rows * plane)) {
    throw InputError("PackedReluPool2d backward: output " + shape_str(out.shape()[0], out.shape()[1]) +
                     ", grad " + shape_str(grad_out.shape()[0], grad_out.shape()[1]) + ", " +
                     std::to_string(dy.size()) + " packed values do not match the forward");
  }
  const std::size_t po = (h_ / 2) * (w_ / 2), out_feat = out_features();
  if (n == 0) return;
  T* d = dy.data();
  // Even maps: the windows tile the map, so each window writes its four values (one pass over
  // dY instead of a fill and a scatter). Odd sizes leave a last row/column outside every
  // window: fill first.
  const bool tiled = h_ % 2 == 0 && w_ % 2 == 0;
  if (!tiled) std::fill(d, d + n * rows * plane, T(0));
  const std::size_t oh_n = h_ / 2, ow_n = w_ / 2;
  for (std::size_t a = 0; a < n; ++a) {
    for (std::size_t b = 0; b < rows; ++b) {
      const T* ov = out.data() + b * out_feat + maps_[a] * po;
      const T* g = grad_out.data() + b * out_feat + maps_[a] * po;
      const std::uint32_t* arg = argmax_.data() + (a * rows + b) * po;
      T* dst = d + nn::packed_offset(a, b, n, rows, chunk_, plane);
      if (!tiled) {
        for (std::size_t o = 0; o < po; ++o) {
          if (ov[o] > T(0)) dst[arg[o]] = g[o];
        }
        continue;
      }
      for (std::size_t oh = 0; oh < oh_n; ++oh) {
        T* r0 = dst + 2 * oh * w_;
        T* r1 = r0 + w_;
        for (std::size_t ow = 0; ow < ow_n; ++ow) {
          const std::size_t o = oh * ow_n + ow;
          const T v = ov[o] > T(0) ? g[o] : T(0);
          const std::size_t i00 = 2 * oh * w_ + 2 * ow, m = arg[o];
          r0[2 * ow] = m == i00 ? v : T(0);
          r0[2 * ow + 1] = m == i00 + 1 ? v : T(0);
          r1[2 * ow] = m == i00 + w_ ? v : T(0);
          r1[2 * ow + 1] = m == i00 + w_ + 1 ? v : T(0);
        }
      }
    }
  }
}

// ---- softmax cross-entropy ----------------------------------------------------------------

namespace {
template <class T>
CrossEntropyResult cross_entropy_impl(ConstView<T, 2> logits, ConstView<std::int32_t, 1> labels,
                                      T* grad) {
  const std::size_t rows = logits.shape()[0], classes = logits.shape()[1];
  if (labels.size() != rows) {
    throw InputError("softmax_cross_entropy: " + std::to_string(labels.size()) + " labels for " +
                     std::to_string(rows) + " rows");
  }
  if (classes == 0) throw InputError("softmax_cross_entropy: zero classes");
  CrossEntropyResult result;
  const double inv_rows = rows > 0 ? 1.0 / static_cast<double>(rows) : 0.0;
  double total = 0.0;
  for (std::size_t r = 0; r < rows; ++r) {
    const T* l = logits.data() + r * classes;
    const std::int32_t y = labels.data()[r];
    if (y < 0 || static_cast<std::size_t>(y) >= classes) {
      throw InputError("softmax_cross_entropy: label " + std::to_string(y) + " of row " +
                       std::to_string(r) + " not in [0, " + std::to_string(classes) + ")");
    }
    std::size_t best = 0;
    for (std::size_t c = 1; c < classes; ++c) {
      if (l[c] > l[best]) best = c;
    }
    if (best == static_cast<std::size_t>(y)) ++result.correct;
    // loss_r = logsumexp(l) - l_y = log(sum exp(l - m)) - (l_y - m), m = max l.
    const double m = static_cast<double>(l[best]);
    double sum = 0.0;
    for (std::size_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(l[c]) - m);
    total += std::log(sum) - (static_cast<double>(l[y]) - m);
    if (grad != nullptr) {
      T* g = grad + r * classes;
      const double scale = inv_rows / sum;
      for (std::size_t c = 0; c < classes; ++c) {  // reads l[c] before writing g[c]: alias-safe
        const double p = std::exp(static_cast<double>(l[c]) - m) * scale;
        g[c] = static_cast<T>(c == static_cast<std::size_t>(y) ? p - inv_rows : p);
      }
    }
  }
  result.loss = total * inv_rows;
  return result;
}
}  // namespace

template <class T>
CrossEntropyResult softmax_cross_entropy(ConstView<T, 2> logits, ConstView<std::int32_t, 1> labels,
                                         View<T, 2> grad_logits) {
  check_same_shape("softmax_cross_entropy", logits, grad_logits);
  return cross_entropy_impl<T>(logits, labels, grad_logits.data());
}

template <class T>
CrossEntropyResult softmax_cross_entropy(ConstView<T, 2> logits,
                                         ConstView<std::int32_t, 1> labels) {
  return cross_entropy_impl<T>(logits, labels, nullptr);
}

#define SADDLE_L0_BASIC_INSTANTIATE(T)                                                          \
  template void relu_forward<T>(ConstView<T, 2>, View<T, 2>);                                   \
  template void relu_backward<T>(ConstView<T, 2>, ConstView<T, 2>, View<T, 2>);                 \
  template class MaxPool2d<T>;                                                                  \
  template class PackedReluPool2d<T>;                                                           \
  template CrossEntropyResult softmax_cross_entropy<T>(ConstView<T, 2>,                         \
                                                       ConstView<std::int32_t, 1>, View<T, 2>); \
  template CrossEntropyResult softmax_cross_entropy<T>(ConstView<T, 2>, ConstView<std::int32_t, 1>);
SADDLE_L0_BASIC_INSTANTIATE(float)
SADDLE_L0_BASIC_INSTANTIATE(double)
#undef SADDLE_L0_BASIC_INSTANTIATE

}  // namespace saddle::l0
