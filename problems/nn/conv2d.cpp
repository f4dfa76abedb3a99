/// \file conv2d.cpp
/// Plain convolution: batched im2col + GEMM.

#include "saddle/nn/conv2d.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <xtensor-blas/xblas.hpp>

namespace saddle::nn {

namespace {
std::string shape_str(std::size_t a, std::size_t b) {
  return "[" + std::to_string(a) + ", " + std::to_string(b) + "]";
}
}  // namespace

template <class T>
Conv2d<T>::Conv2d(std::size_t in_channels, std::size_t in_height, std::size_t in_width,
                  std::size_t out_channels, std::size_t kernel)
    : geom_{in_channels, in_height, in_width, kernel}, out_c_(out_channels) {
  if (in_channels == 0 || in_height == 0 || in_width == 0 || out_channels == 0 || kernel == 0) {
    throw InvalidOption("Conv2d: channels, input size and kernel must be >= 1");
  }
  if (kernel > in_height || kernel > in_width) {
    throw InvalidOption("Conv2d: kernel " + std::to_string(kernel) + " larger than input " +
                        std::to_string(in_height) + "x" + std::to_string(in_width));
  }
}

template <class T>
void Conv2d<T>::reserve(std::size_t max_batch) {
  max_batch_ = max_batch;
  const std::size_t n = max_batch * geom_.plane();
  col_ = xt::xtensor<T, 1>::from_shape({geom_.patch() * n});
  dcol_ = xt::xtensor<T, 1>::from_shape({geom_.patch() * n});
  yp_ = xt::xtensor<T, 1>::from_shape({out_c_ * n});
  has_forward_ = false;
}

template <class T>
void Conv2d<T>::check_params(std::size_t size, const char* what) const {
  if (size != num_parameters()) {
    throw InputError(std::string("Conv2d ") + what + ": slice of " + std::to_string(size) +
                     " values, expected " + std::to_string(num_parameters()));
  }
}

template <class T>
void Conv2d<T>::init_parameters(View<T, 1> params, std::mt19937_64& rng) const {
  check_params(params.size(), "init_parameters");
  std::normal_distribution<double> w_dist(0.0, std::sqrt(2.0 / static_cast<double>(geom_.patch())));
  T* p = params.data();
  for (std::size_t j = 0; j < bias_offset(); ++j) p[j] = static_cast<T>(w_dist(rng));
  std::fill(p + bias_offset(), p + num_parameters(), T(0));
}

template <class T>
void Conv2d<T>::forward(ConstView<T, 1> params, ConstView<T, 2> input, View<T, 2> output) {
  check_params(params.size(), "forward");
  const std::size_t rows = input.shape()[0];
  if (input.shape()[1] != in_features() || output.shape()[0] != rows ||
      output.shape()[1] != out_features()) {
    throw InputError("Conv2d forward: input " + shape_str(input.shape()[0], input.shape()[1]) +
                     ", output " + shape_str(output.shape()[0], output.shape()[1]) + ", expected " +
                     shape_str(rows, in_features()) + " and " + shape_str(rows, out_features()));
  }
  if (rows > max_batch_) {
    throw InputError("Conv2d forward: batch of " + std::to_string(rows) + " rows exceeds reserve(" +
                     std::to_string(max_batch_) + ")");
  }
  batch_ = rows;
  has_forward_ = true;
  if (rows == 0) return;
  const std::size_t plane = geom_.plane(), n = rows * plane, out_feat = out_features();
  im2col<T>(geom_, input.data(), rows, col_.data());
  const auto colv = make_cview<T, 2>(col_.data(), {geom_.patch(), n});
  auto yv = make_view<T, 2>(yp_.data(), {out_c_, n});
  xt::blas::gemm(weights(params), colv, yv, false, false, T(1), T(0));
  // Scatter [C_out, B*P] -> [B, C_out, P], adding the bias.
  const T* bias = params.data() + bias_offset();
  const T* y = yp_.data();
  T* out = output.data();
  for (std::size_t b = 0; b < rows; ++b) {
    for (std::size_t c = 0; c < out_c_; ++c) {
      const T bc = bias[c];
      const T* src = y + c * n + b * plane;
      T* dst = out + b * out_feat + c * plane;
      for (std::size_t p = 0; p < plane; ++p) dst[p] = src[p] + bc;
    }
  }
}

template <class T>
void Conv2d<T>::backward(ConstView<T, 1> params, ConstView<T, 2> grad_output,
                         View<T, 1> grad_params, View<T, 2> grad_input) {
  backward_core(params, grad_output, grad_params, &grad_input);
}

template <class T>
void Conv2d<T>::backward(ConstView<T, 1> params, ConstView<T, 2> grad_output,
                         View<T, 1> grad_params) {
  backward_core(params, grad_output, grad_params, nullptr);
}

template <class T>
void Conv2d<T>::backward_core(ConstView<T, 1> params, ConstView<T, 2> grad_output,
                              View<T, 1> grad_params, View<T, 2>* grad_input) {
  if (!has_forward_) throw InputError("Conv2d backward: no forward pass since reserve()");
  check_params(params.size(), "backward params");
  check_params(grad_params.size(), "backward grad_params");
  const std::size_t rows = batch_;
  if (grad_output.shape()[0] != rows || grad_output.shape()[1] != out_features()) {
    throw InputError("Conv2d backward: grad_output " +
                     shape_str(grad_output.shape()[0], grad_output.shape()[1]) + ", expected " +
                     shape_str(rows, out_features()));
  }
  if (grad_input != nullptr &&
      (grad_input->shape()[0] != rows || grad_input->shape()[1] != in_features())) {
    throw InputError("Conv2d backward: grad_input " +
                     shape_str(grad_input->shape()[0], grad_input->shape()[1]) + ", expected " +
                     shape_str(rows, in_features()));
  }
  T* dw = grad_params.data();
  T* db = dw + bias_offset();
  if (rows == 0) {
    std::fill(dw, dw + num_parameters(), T(0));
    return;
  }
  const std::size_t plane = geom_.plane(), n = rows * plane, out_feat = out_features();
  const std::size_t k = geom_.patch();
  // Gather dY[c, b*P + p] = dy[b, c, p] and db_c = sum of dY[c, :] (in double).
  const T* dy = grad_output.data();
  T* dyp = yp_.data();
  for (std::size_t c = 0; c < out_c_; ++c) {
    double acc = 0.0;
    for (std::size_t b = 0; b < rows; ++b) {
      const T* src = dy + b * out_feat + c * plane;
      T* dst = dyp + c * n + b * plane;
      for (std::size_t p = 0; p < plane; ++p) {
        dst[p] = src[p];
        acc += static_cast<double>(src[p]);
      }
    }
    db[c] = static_cast<T>(acc);
  }
  const auto dyv = make_cview<T, 2>(dyp, {out_c_, n});
  const auto colv = make_cview<T, 2>(col_.data(), {k, n});
  // dW = dY col^T: [C_out, K], straight into the gradient slice.
  auto dwv = make_view<T, 2>(dw, {out_c_, k});
  xt::blas::gemm(dyv, colv, dwv, false, true, T(1), T(0));
  if (grad_input == nullptr) return;
  // dcol = W^T dY: [K, n], then the adjoint of im2col.
  auto dcolv = make_view<T, 2>(dcol_.data(), {k, n});
  xt::blas::gemm(weights(params), dyv, dcolv, true, false, T(1), T(0));
  col2im<T>(geom_, dcol_.data(), rows, grad_input->data());
}

template <class T>
ConstView<T, 2> Conv2d<T>::weights(ConstView<T, 1> params) const {
  check_params(params.size(), "weights");
  return make_cview<T, 2>(params.data(), {out_c_, geom_.patch()});
}

template <class T>
ConstView<T, 1> Conv2d<T>::bias(ConstView<T, 1> params) const {
  check_params(params.size(), "bias");
  return make_cview<T, 1>(params.data() + bias_offset(), {out_c_});
}

template class Conv2d<float>;
template class Conv2d<double>;

}  // namespace saddle::nn
