#pragma once
/// \file dense.hpp
/// Plain fully connected layer (no gates): out = x W + b.
///
/// Parameters, the layer's slice of the flat parameter vector: [ W: [in, out] row-major |
/// b: [out] ] (in*out + out values); the gradient uses the same slice of the flat gradient.
///
/// The layer holds no activation buffers: backward takes the forward's input again, so it
/// is stateless and never allocates. Three GEMMs per forward/backward pair (xt::blas::gemm,
/// OpenBLAS sgemm/dgemm):
///   forward   out = x W + b                                   x: [B, in], out: [B, out]
///   backward  dW = x^T dy,  db = column sums of dy,  dx = dy W^T      dy: [B, out]

#include <cstddef>
#include <random>

#include "saddle/nn/tensor_view.hpp"

namespace saddle::nn {

template <class T>
class Dense {
 public:
  /// A layer in -> out. Throws InvalidOption if a size is 0.
  Dense(std::size_t in_features, std::size_t out_features);

  std::size_t in_features() const { return in_; }
  std::size_t out_features() const { return out_; }
  /// in*out + out.
  std::size_t num_parameters() const { return in_ * out_ + out_; }
  /// Offset of b inside the slice (W starts at 0).
  std::size_t bias_offset() const { return in_ * out_; }

  /// He initialisation (He et al. 2015, fan-in): W ~ N(0, 2/in), b = 0.
  /// params: [num_parameters()]. Throws InputError on a wrong slice size.
  void init_parameters(View<T, 1> params, std::mt19937_64& rng) const;

  /// output: [B, out] (overwritten) <- input: [B, in] W + b. No allocation.
  /// Throws InputError (one line, naming the shapes) on any shape mismatch.
  void forward(ConstView<T, 1> params, ConstView<T, 2> input, View<T, 2> output) const;

  /// Gradients at (params, input) for grad_output: [B, out]:
  /// grad_params: [num_parameters()] OVERWRITTEN with dW, db; grad_input: [B, in] overwritten
  /// with dy W^T. `input` must be the forward's input. No allocation.
  void backward(ConstView<T, 1> params, ConstView<T, 2> input, ConstView<T, 2> grad_output,
                View<T, 1> grad_params, View<T, 2> grad_input) const;
  /// Same without the input gradient (first layer of a network: one GEMM less).
  void backward(ConstView<T, 1> params, ConstView<T, 2> input, ConstView<T, 2> grad_output,
                View<T, 1> grad_params) const;

  /// Views of the groups of a slice: W: [in, out], b: [out].
  ConstView<T, 2> weights(ConstView<T, 1> params) const;
  ConstView<T, 1> bias(ConstView<T, 1> params) const;

 private:
  void check_params(std::size_t size, const char* what) const;
  void backward_core(ConstView<T, 1> params, ConstView<T, 2> input, ConstView<T, 2> grad_output,
                     View<T, 1> grad_params, View<T, 2>* grad_input) const;
  std::size_t in_, out_;
};

extern template class Dense<float>;
extern template class Dense<double>;

}  // namespace saddle::nn
