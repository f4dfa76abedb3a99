#pragma once
/// \file basic_layers.hpp
/// Parameter-free layers of the L0 models: ReLU, 2x2 max-pooling and the softmax
/// cross-entropy loss. Activations are [B, features] row-major views; convolutional maps are
/// flattened NCHW rows [B, C*H*W]. Templates on T, explicitly instantiated for float and
/// double in basic_layers.cpp. No call allocates, except MaxPool2d::reserve.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "saddle/problems/l0/tensor_view.hpp"

namespace saddle::l0 {

/// y = max(x, 0) elementwise. x, y: same shape; y may be the same memory as x (in place).
template <class T>
void relu_forward(ConstView<T, 2> x, View<T, 2> y);
/// dx = dy where y > 0, else 0, from the forward OUTPUT y. dx may be the same memory as dy.
template <class T>
void relu_backward(ConstView<T, 2> y, ConstView<T, 2> dy, View<T, 2> dx);

/// Max-pooling with a 2x2 window and stride 2 over maps C x H x W (floor: Ho = H/2,
/// Wo = W/2, as PyTorch's MaxPool2d(2)). input: [B, C*H*W], output: [B, C*Ho*Wo].
/// The forward stores the position of each maximum (the first one on ties) for backward.
template <class T>
class MaxPool2d {
 public:
  /// Throws InvalidOption unless C >= 1, H >= 2, W >= 2.
  MaxPool2d(std::size_t channels, std::size_t in_height, std::size_t in_width);

  std::size_t in_height() const { return h_; }
  std::size_t in_width() const { return w_; }
  std::size_t out_height() const { return h_ / 2; }
  std::size_t out_width() const { return w_ / 2; }
  std::size_t in_features() const { return c_ * h_ * w_; }
  std::size_t out_features() const { return c_ * (h_ / 2) * (w_ / 2); }

  /// Sizes the argmax buffer for batches of up to max_batch rows (allocates; call once).
  void reserve(std::size_t max_batch);
  std::size_t max_batch() const { return max_batch_; }

  /// output = 2x2 maxima of input. Throws InputError on shape mismatch. No allocation.
  void forward(ConstView<T, 2> input, View<T, 2> output);
  /// grad_input (overwritten) = grad_output routed to the stored maxima, 0 elsewhere.
  /// grad_output: [B, out_features], grad_input: [B, in_features], B of the last forward.
  void backward(ConstView<T, 2> grad_output, View<T, 2> grad_input) const;

 private:
  std::size_t c_, h_, w_;
  std::size_t max_batch_ = 0;
  std::size_t batch_ = 0;
  bool has_forward_ = false;
  std::vector<std::uint32_t> argmax_;  // [max_batch * out_features]: index inside the row
};

/// Bias + ReLU + 2x2 max-pooling (stride 2, floor) fused, over the packed output maps of a
/// convolution (GatedConv2d::packed_output): the conv block of GatedModel's LeNet5, which
/// computes and stores only the maps of non-zero gates. y holds n maps of B images in the
/// layout of nn::packed_offset (blocks of `chunk` images; map a is channel maps[a]); with
/// per-map biases bias: [n],
///   out[b, maps[a], o] = max(0, max over window o of y[a, b, .] + bias[a]),
/// the same values as relu_forward then MaxPool2d::forward on the scattered maps (max and ReLU
/// commute; ties go to the first maximum). Maps not listed are written as 0 (they were exact
/// zeros). out: [B, C*(H/2)*(W/2)].
template <class T>
class PackedReluPool2d {
 public:
  /// Maps C x H x W. Throws InvalidOption unless C >= 1, H >= 2, W >= 2.
  PackedReluPool2d(std::size_t channels, std::size_t in_height, std::size_t in_width);

  std::size_t out_features() const { return c_ * (h_ / 2) * (w_ / 2); }
  /// Sizes the argmax buffer for batches of up to max_batch rows (allocates; call once).
  void reserve(std::size_t max_batch);

  /// See the class comment. y: [n * B * H*W]; chunk >= 1; maps: [n] ascending channels;
  /// bias: [n]; out: [B, out_features()]. Throws InputError on a shape mismatch. No allocation.
  void forward(ConstView<T, 1> y, std::size_t chunk, const std::vector<std::size_t>& maps,
               ConstView<T, 1> bias, View<T, 2> out);
  /// dy: [n * B * H*W] in the forward's packed layout (overwritten) <- grad_out routed to each
  /// window's maximum where the pooled output out (of the last forward) is > 0, 0 elsewhere:
  /// the gradient w.r.t. the biased maps. out, grad_out: [B, out_features()]. Channels not in
  /// the forward's maps are not read.
  void backward(ConstView<T, 2> out, ConstView<T, 2> grad_out, View<T, 1> dy) const;

 private:
  std::size_t c_, h_, w_;
  std::size_t max_batch_ = 0;
  std::size_t batch_ = 0;
  bool has_forward_ = false;
  std::size_t chunk_ = 1;              // packed layout of the last forward
  std::vector<std::size_t> maps_;      // maps of the last forward (capacity C)
  std::vector<std::uint32_t> argmax_;  // [C * max_batch * Ho*Wo]: index inside the H*W plane
};

/// Result of the loss layer on one batch.
struct CrossEntropyResult {
  double loss = 0.0;        ///< mean over the batch of -log softmax(logits)[label]
  std::size_t correct = 0;  ///< rows whose arg-max logit (first on ties) equals the label
};

/// Numerically stable softmax cross-entropy (log-sum-exp with the row maximum subtracted,
/// accumulated in double), mean over the batch. logits: [B, C], labels: [B] in 0..C-1.
/// grad_logits: [B, C] <- d loss / d logits = (softmax - onehot) / B; it may be the same
/// memory as logits. Throws InputError on a shape mismatch or a label out of range.
/// No allocation.
template <class T>
CrossEntropyResult softmax_cross_entropy(ConstView<T, 2> logits, ConstView<std::int32_t, 1> labels,
                                         View<T, 2> grad_logits);
/// Loss and correct count only (evaluation).
template <class T>
CrossEntropyResult softmax_cross_entropy(ConstView<T, 2> logits, ConstView<std::int32_t, 1> labels);

#define SADDLE_L0_BASIC_EXTERN(T)                                                      \
  extern template void relu_forward<T>(ConstView<T, 2>, View<T, 2>);                   \
  extern template void relu_backward<T>(ConstView<T, 2>, ConstView<T, 2>, View<T, 2>); \
  extern template class MaxPool2d<T>;                                                  \
  extern template class PackedReluPool2d<T>;                                           \
  extern template CrossEntropyResult softmax_cross_entropy<T>(                         \
      ConstView<T, 2>, ConstView<std::int32_t, 1>, View<T, 2>);                        \
  extern template CrossEntropyResult softmax_cross_entropy<T>(ConstView<T, 2>,         \
                                                              ConstView<std::int32_t, 1>);
SADDLE_L0_BASIC_EXTERN(float)
SADDLE_L0_BASIC_EXTERN(double)
#undef SADDLE_L0_BASIC_EXTERN

}  // namespace saddle::l0
