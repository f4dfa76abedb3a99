/// \file dense.cpp
/// Plain dense layer: GEMMs straight on the parameter and gradient slices.

#include "saddle/nn/dense.hpp"

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
Dense<T>::Dense(std::size_t in_features, std::size_t out_features)
    : in_(in_features), out_(out_features) {
  if (in_ == 0 || out_ == 0) {
    throw InvalidOption("Dense " + shape_str(in_, out_) + ": sizes must be >= 1");
  }
}

template <class T>
void Dense<T>::check_params(std::size_t size, const char* what) const {
  if (size != num_parameters()) {
    throw InputError("Dense " + shape_str(in_, out_) + " " + what + ": slice of " +
                     std::to_string(size) + " values, expected " +
                     std::to_string(num_parameters()));
  }
}

template <class T>
void Dense<T>::init_parameters(View<T, 1> params, std::mt19937_64& rng) const {
  check_params(params.size(), "init_parameters");
  std::normal_distribution<double> w_dist(0.0, std::sqrt(2.0 / static_cast<double>(in_)));
  T* p = params.data();
  for (std::size_t j = 0; j < in_ * out_; ++j) p[j] = static_cast<T>(w_dist(rng));
  std::fill(p + bias_offset(), p + num_parameters(), T(0));
}

template <class T>
void Dense<T>::forward(ConstView<T, 1> params, ConstView<T, 2> input, View<T, 2> output) const {
  check_params(params.size(), "forward");
  const std::size_t rows = input.shape()[0];
  if (input.shape()[1] != in_ || output.shape()[0] != rows || output.shape()[1] != out_) {
    throw InputError("Dense " + shape_str(in_, out_) + " forward: input " +
                     shape_str(input.shape()[0], input.shape()[1]) + ", output " +
                     shape_str(output.shape()[0], output.shape()[1]));
  }
  const T* b = params.data() + bias_offset();
  T* out = output.data();
  for (std::size_t r = 0; r < rows; ++r) std::copy(b, b + out_, out + r * out_);
  if (rows == 0) return;
  const auto w = weights(params);
  xt::blas::gemm(input, w, output, false, false, T(1), T(1));
}

template <class T>
void Dense<T>::backward(ConstView<T, 1> params, ConstView<T, 2> input, ConstView<T, 2> grad_output,
                        View<T, 1> grad_params, View<T, 2> grad_input) const {
  backward_core(params, input, grad_output, grad_params, &grad_input);
}

template <class T>
void Dense<T>::backward(ConstView<T, 1> params, ConstView<T, 2> input, ConstView<T, 2> grad_output,
                        View<T, 1> grad_params) const {
  backward_core(params, input, grad_output, grad_params, nullptr);
}

template <class T>
void Dense<T>::backward_core(ConstView<T, 1> params, ConstView<T, 2> input,
                             ConstView<T, 2> grad_output, View<T, 1> grad_params,
                             View<T, 2>* grad_input) const {
  check_params(params.size(), "backward params");
  check_params(grad_params.size(), "backward grad_params");
  const std::size_t rows = input.shape()[0];
  if (input.shape()[1] != in_ || grad_output.shape()[0] != rows || grad_output.shape()[1] != out_) {
    throw InputError("Dense " + shape_str(in_, out_) + " backward: input " +
                     shape_str(input.shape()[0], input.shape()[1]) + ", grad_output " +
                     shape_str(grad_output.shape()[0], grad_output.shape()[1]));
  }
  if (grad_input != nullptr && (grad_input->shape()[0] != rows || grad_input->shape()[1] != in_)) {
    throw InputError("Dense " + shape_str(in_, out_) + " backward: grad_input " +
                     shape_str(grad_input->shape()[0], grad_input->shape()[1]) + ", expected " +
                     shape_str(rows, in_));
  }
  T* dw = grad_params.data();
  T* db = dw + bias_offset();
  const T* dy = grad_output.data();
  // db = column sums of dy, accumulated in double.
  for (std::size_t o = 0; o < out_; ++o) {
    double acc = 0.0;
    for (std::size_t r = 0; r < rows; ++r) acc += static_cast<double>(dy[r * out_ + o]);
    db[o] = static_cast<T>(acc);
  }
  if (rows == 0) {
    std::fill(dw, dw + in_ * out_, T(0));
    return;
  }
  // dW = x^T dy: [in, out], written straight into the gradient slice.
  auto dwv = make_view<T, 2>(dw, {in_, out_});
  xt::blas::gemm(input, grad_output, dwv, true, false, T(1), T(0));
  if (grad_input == nullptr) return;
  // dx = dy W^T: [rows, in].
  xt::blas::gemm(grad_output, weights(params), *grad_input, false, true, T(1), T(0));
}

template <class T>
ConstView<T, 2> Dense<T>::weights(ConstView<T, 1> params) const {
  check_params(params.size(), "weights");
  return make_cview<T, 2>(params.data(), {in_, out_});
}

template <class T>
ConstView<T, 1> Dense<T>::bias(ConstView<T, 1> params) const {
  check_params(params.size(), "bias");
  return make_cview<T, 1>(params.data() + bias_offset(), {out_});
}

template class Dense<float>;
template class Dense<double>;

}  // namespace saddle::nn
