#pragma once
/// \file conv2d.hpp
/// Plain 2-D convolution (no gates): valid, stride 1, no padding, square k x k kernel, with
/// one bias per output map.
///
/// Shapes (flattened NCHW rows, so that a following dense layer sees the c,h,w order):
///   input: [B, C_in*H*W], output: [B, C_out*Ho*Wo], Ho = H-k+1, Wo = W-k+1.
/// Parameters, the layer's slice: [ W: [C_out, C_in*k*k] row-major | b: [C_out] ].
///
/// Method: im2col + one GEMM over the whole batch (saddle/nn/im2col.hpp, shared with the
/// gated l0::GatedConv2d). With K = C_in*k*k, P = Ho*Wo, n = B*P:
///   forward   col = im2col(x): [K, n];  Y = W col: [C_out, n];  y[b, c, p] = Y[c, b*P+p] + b_c
///   backward  dY gathered from dy;  dW = dY col^T;  db_c = sum dY[c, :];
///             dcol = W^T dY;  dx = col2im(dcol)
/// backward uses the col matrix of the last forward (the layer keeps it), so it must follow a
/// forward with the same input.
///
/// Memory: col and dcol hold K*max_batch*P values each. reserve(max_batch) sizes them once
/// (allocates); forward/backward never allocate.

#include <cstddef>
#include <random>

#include <xtensor/xtensor.hpp>

#include "saddle/nn/im2col.hpp"
#include "saddle/nn/tensor_view.hpp"

namespace saddle::nn {

template <class T>
class Conv2d {
 public:
  /// Input maps in_channels x in_height x in_width, out_channels maps, k x k kernel.
  /// Throws InvalidOption if a size is 0 or k exceeds the input.
  Conv2d(std::size_t in_channels, std::size_t in_height, std::size_t in_width,
         std::size_t out_channels, std::size_t kernel);

  std::size_t in_channels() const { return geom_.channels; }
  std::size_t in_height() const { return geom_.height; }
  std::size_t in_width() const { return geom_.width; }
  std::size_t out_channels() const { return out_c_; }
  std::size_t kernel() const { return geom_.kernel; }
  std::size_t out_height() const { return geom_.out_height(); }
  std::size_t out_width() const { return geom_.out_width(); }
  /// C_in*H*W and C_out*Ho*Wo: the row widths of input and output.
  std::size_t in_features() const { return geom_.in_features(); }
  std::size_t out_features() const { return out_c_ * geom_.plane(); }
  /// C_out*C_in*k*k + C_out.
  std::size_t num_parameters() const { return out_c_ * geom_.patch() + out_c_; }
  /// Offset of b inside the slice (W starts at 0).
  std::size_t bias_offset() const { return out_c_ * geom_.patch(); }

  /// Sizes col, dcol and the packed output for batches of up to max_batch rows (allocates).
  void reserve(std::size_t max_batch);
  std::size_t max_batch() const { return max_batch_; }

  /// He initialisation (fan-in C_in*k*k): W ~ N(0, 2/(C_in k k)), b = 0.
  void init_parameters(View<T, 1> params, std::mt19937_64& rng) const;

  /// output: [B, out_features] (overwritten) <- conv(input: [B, in_features], W) + b.
  /// B <= max_batch(). Throws InputError (one line) on a shape mismatch. No allocation.
  void forward(ConstView<T, 1> params, ConstView<T, 2> input, View<T, 2> output);

  /// Gradients at the last forward for grad_output: [B, out_features]: grad_params (slice)
  /// OVERWRITTEN with dW, db; grad_input: [B, in_features] overwritten. No allocation.
  void backward(ConstView<T, 1> params, ConstView<T, 2> grad_output, View<T, 1> grad_params,
                View<T, 2> grad_input);
  /// Same without the input gradient (first layer: skips the dcol GEMM and col2im).
  void backward(ConstView<T, 1> params, ConstView<T, 2> grad_output, View<T, 1> grad_params);

  /// Views of the groups of a slice: W: [C_out, C_in*k*k], b: [C_out].
  ConstView<T, 2> weights(ConstView<T, 1> params) const;
  ConstView<T, 1> bias(ConstView<T, 1> params) const;

 private:
  void check_params(std::size_t size, const char* what) const;
  void backward_core(ConstView<T, 1> params, ConstView<T, 2> grad_output, View<T, 1> grad_params,
                     View<T, 2>* grad_input);

  ConvGeometry geom_;
  std::size_t out_c_;
  std::size_t max_batch_ = 0;
  std::size_t batch_ = 0;  // rows of the last forward
  bool has_forward_ = false;
  xt::xtensor<T, 1> col_;   // [K * max_batch*P]
  xt::xtensor<T, 1> dcol_;  // [K * max_batch*P]
  xt::xtensor<T, 1> yp_;    // [C_out * max_batch*P]: Y (forward) / dY (backward)
};

extern template class Conv2d<float>;
extern template class Conv2d<double>;

}  // namespace saddle::nn
