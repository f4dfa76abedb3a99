#pragma once
/// \file layers.hpp
/// Every layer of the public layers API in saddle::nn. All layers are templates on the
/// scalar T (float for training with sgemm, double for gradient checks), explicitly
/// instantiated for both; activations are row-major [B, features] views, convolutional
/// maps flattened NCHW rows [B, C*H*W]; a layer with parameters reads them from its slice
/// of one flat parameter vector and OVERWRITES the same slice of one flat gradient.
///
/// - `Dense<T>(in, out)`: W [in, out], b [out] (saddle/nn/dense.hpp);
/// - `Conv2d<T>(C, H, W, C_out, k)`: W [C_out, C*k*k], b [C_out] (saddle/nn/conv2d.hpp);
/// - `GatedDense<T>(in, out)`: W [in, out], b [out], log_alpha [in]
///   (saddle/problems/l0/gated_dense.hpp);
/// - `GatedConv2d<T>(C, H, W, C_out, k)`: W, b, log_alpha [C_out]
///   (saddle/problems/l0/gated_conv2d.hpp);
/// - `relu_forward`, `relu_backward`, `MaxPool2d<T>(C, H, W)` (2x2, stride 2) and
///   `softmax_cross_entropy` (mean over rows): no parameters
///   (saddle/problems/l0/basic_layers.hpp);
/// - `softmax`: no parameters (here).
///
/// The gated layers carry one hard-concrete gate (Louizos et al. 2018) per input unit
/// (dense) or output map (conv); they are the layers of the L0 plugin, exported here under
/// the same names.

#include <cstddef>

#include "saddle/nn/conv2d.hpp"
#include "saddle/nn/dense.hpp"
#include "saddle/nn/tensor_view.hpp"
#include "saddle/problems/l0/basic_layers.hpp"
#include "saddle/problems/l0/gated_conv2d.hpp"
#include "saddle/problems/l0/gated_dense.hpp"
#include "saddle/problems/l0/hard_concrete.hpp"

namespace saddle::nn {

using l0::CrossEntropyResult;
using l0::GatedConv2d;
using l0::GatedDense;
using l0::MaxPool2d;
using l0::relu_backward;
using l0::relu_forward;
using l0::softmax_cross_entropy;
using l0::TestGate;

/// Row-wise softmax: probs[r, :] = exp(logits[r, :] - max) / sum (computed in double).
/// logits, probs: [B, C], same shape (probs may be the same memory as logits). Throws
/// InputError on a shape mismatch or C = 0. No allocation.
template <class T>
void softmax(ConstView<T, 2> logits, View<T, 2> probs);

extern template void softmax<float>(ConstView<float, 2>, View<float, 2>);
extern template void softmax<double>(ConstView<double, 2>, View<double, 2>);

}  // namespace saddle::nn
