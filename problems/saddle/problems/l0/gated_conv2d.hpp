#pragma once
/// \file gated_conv2d.hpp
/// 2-D convolution (valid: stride 1, no padding, square kernel k) with one hard-concrete gate
/// per OUTPUT feature map, in the constrained-L0 code's form ([GP] sparse/l0_layers.py
/// L0Conv2d): y = conv(x, z*W, z*b) — the bias is used and gated during
/// training and at test time. ([LZ] drops the conv bias during training; not done here.)
///
/// Shapes (NCHW, batch-major, flattened so that a following dense layer sees the PyTorch
/// flatten order c,h,w for free):
///   input: [B, C_in*H*W], output: [B, C_out*Ho*Wo] with Ho = H-k+1, Wo = W-k+1.
/// Parameters (see GatedLayout): W: [C_out, C_in, k, k], b: [C_out], log_alpha: [C_out].
///
/// Method: im2col + GEMM (saddle/nn/im2col.hpp, shared with nn::Conv2d), block of images by
/// block of images (see below). col: [K, b*P] for a block of b images, K = C_in*k*k, P = Ho*Wo,
/// col[(c*k+i)*k+j, b*P + oh*Wo + ow] = x[b, c, oh+i, ow+j]; then Y_a = Wz_a @ col with Wz_a
/// the gate-scaled rows of the n_active maps whose gate is not zero ([n_active, K]), so maps
/// with a zero gate are neither computed (they are output as exact zeros) nor differentiated.
/// Backward: dY_a gathered from grad_output ([n_active, B*P]); dWz_a = dY_a col^T;
/// dW_c = z_c dWz_a[k]; db_c = z_c sum(dY_c); dz_c = <W_c, dWz_a[k]> + b_c sum(dY_c);
/// dcol = Wz_a^T dY_a, then col2im for dx.
///
/// Conditional computation (GatedModel): input maps known to be zero (the closed maps of a
/// previous gated convolution, ChannelHints::open_inputs) are left out of im2col, of K (= open
/// maps * k*k) and of col2im; forward_packed / backward_packed skip the scatter and gather so
/// that a fused bias + ReLU + pooling stage works on the maps of non-zero gates only.
///
/// Blocks of images: im2col, the GEMMs and col2im run over blocks of packed_chunk() images, so
/// that a block's column matrix (at most 131072 values: LeNet5's conv1 9 images, conv2 4) stays
/// in the core's L2 cache between im2col and the GEMM that reads it, instead of a 4.1M-value
/// (16 MB) matrix for conv2 at batch 128 that goes through memory several times per step. The
/// layer keeps a copy of its input and recomputes a block's im2col in backward. Buffers:
/// reserve(max_batch) once (allocates); forward/backward never allocate.

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "saddle/nn/im2col.hpp"
#include "saddle/problems/l0/gated_layer.hpp"
#include "saddle/problems/l0/hard_concrete.hpp"
#include "saddle/problems/l0/tensor_view.hpp"

namespace saddle::l0 {

template <class T>
class GatedConv2d : public GatedLayerBase<T> {
 public:
  /// Input maps in_channels x in_height x in_width, out_channels maps, k x k kernel.
  /// Throws InvalidOption if a size is 0 or k exceeds the input. Allocates gate buffers.
  GatedConv2d(std::size_t in_channels, std::size_t in_height, std::size_t in_width,
              std::size_t out_channels, std::size_t kernel, std::uint64_t noise_stream = 0);

  std::size_t in_channels() const { return in_c_; }
  std::size_t in_height() const { return in_h_; }
  std::size_t in_width() const { return in_w_; }
  std::size_t out_channels() const { return out_c_; }
  std::size_t kernel() const { return k_; }
  std::size_t out_height() const { return out_h_; }
  std::size_t out_width() const { return out_w_; }
  /// C_in*H*W and C_out*Ho*Wo: the row widths of input and output.
  std::size_t in_features() const { return in_c_ * in_h_ * in_w_; }
  std::size_t out_features() const { return out_c_ * out_h_ * out_w_; }

  // num_gates() = C_out; num_parameters() = C_out*C_in*k*k + C_out + C_out; the slice's
  // views (W: [C_out, C_in*k*k], b: [C_out], log_alpha: [C_out]), gates of the last forward,
  // expected density (= expected active / num_sparsifiable, since every group has
  // C_in*k*k + 1 sparsifiable parameters) and the log_alpha clamp: GatedLayerBase.
  using GatedLayerBase<T>::log_alpha;

  /// Sparsifiable parameters ([GP]): C_out*C_in*k*k + C_out (the bias is included).
  std::size_t num_sparsifiable() const { return out_c_ * (ksize_ + 1); }

  /// Sizes every workspace for batches of up to max_batch rows (allocates; call once).
  void reserve(std::size_t max_batch);

  /// [GP] init_parameters: W ~ N(0, sqrt(2/(C_in*k*k))^2) (kaiming_normal fan_in), then
  /// W /= (1 - d); b ~ N(0, 0.01^2) / (1 - d) (the conv bias is gated, so [GP] rescales it
  /// too); log_alpha ~ N(log((1-d)/d), 0.01^2). Draws W, b, log_alpha in that order.
  void init_parameters(View<T, 1> params, double droprate_init, std::mt19937_64& rng) const;

  /// Training forward, gates from noise (noise_seed, noise_stream()). input: [B, in_features],
  /// output: [B, out_features] (overwritten; maps with zero gate are exact zeros).
  void forward_train(ConstView<T, 1> params, ConstView<T, 2> input, std::uint64_t noise_seed,
                     View<T, 2> output);
  /// Test-time forward with deterministic gates: conv(x, z_hat*W, z_hat*b).
  void forward_eval(ConstView<T, 1> params, ConstView<T, 2> input, View<T, 2> output,
                    TestGate gate = TestGate::median);

  /// Forward with the gates already set by sample_gates / set_test_gates, skipping the input
  /// maps that hints.open_inputs leaves out (they must be zero: K shrinks to open maps * k*k).
  void forward_gated(ConstView<T, 1> params, ConstView<T, 2> input, View<T, 2> output,
                     const ChannelHints& hints);

  /// The convolution without the output scatter, for a model that fuses what follows (bias,
  /// ReLU, pooling) and reads only the maps of non-zero gates: with the gates already set,
  /// computes Y_a = conv(x, z_c W_c) WITHOUT the bias, for c = active_gates()[a], into
  /// packed_output(). Input maps outside hints.open_inputs must be zero and are skipped. No
  /// allocation.
  void forward_packed(ConstView<T, 1> params, ConstView<T, 2> input, const ChannelHints& hints);
  /// Y of the last forward_packed (and the scatter's source in every forward):
  /// [n_active * B * P] in the packed layout of nn::packed_offset with packed_chunk() images per
  /// block; packed_offset(a, b) is where the P values of map a (row of active_gates()) of
  /// image b start.
  ConstView<T, 1> packed_output() const;
  /// The packed dY workspace (the same memory and layout as packed_output()): write
  /// d loss / d Y_a there, then call backward_packed.
  View<T, 1> packed_grad_output();
  /// Images per block of the packed layout (and of the im2col workspace), set by reserve().
  std::size_t packed_chunk() const { return chunk_; }
  /// nn::packed_offset(a, b, n_active, B, packed_chunk(), P) for the last forward.
  std::size_t packed_offset(std::size_t a, std::size_t b) const {
    return nn::packed_offset(a, b, gates_.active().size(), batch_, chunk_, plane_);
  }
  /// Backward from packed_grad_output() (dY w.r.t. the biased maps Y_a + z_c b_c): grad_params
  /// as backward() writes them; grad_input (optional) overwritten, zero in input maps outside
  /// the forward's open inputs. No allocation.
  void backward_packed(ConstView<T, 1> params, View<T, 1> grad_params, View<T, 2>* grad_input);

  /// Gradients at the last forward. grad_output: [B, out_features]. grad_params (layer slice):
  /// W, b, log_alpha OVERWRITTEN (groups of zero gates set to 0). grad_input: [B, in_features]
  /// overwritten. No allocation.
  void backward(ConstView<T, 1> params, ConstView<T, 2> grad_output, View<T, 1> grad_params,
                View<T, 2> grad_input);
  /// Same, without the input gradient (first layer of a model: skips the dcol GEMM).
  void backward(ConstView<T, 1> params, ConstView<T, 2> grad_output, View<T, 1> grad_params);

 private:
  using Base = GatedLayerBase<T>;
  using Base::batch_;
  using Base::check_params;
  using Base::gates_;
  using Base::has_forward_;
  using Base::layout_;
  using Base::max_batch_;
  using Base::stream_;

  void forward_core(ConstView<T, 1> params, ConstView<T, 2> input, View<T, 2> output,
                    const ChannelHints& hints);
  void backward_core(ConstView<T, 1> params, ConstView<T, 2> grad_output, View<T, 1> grad_params,
                     View<T, 2>* grad_input);
  nn::ConvGeometry geometry() const { return {in_c_, in_h_, in_w_, k_}; }

  std::size_t in_c_, in_h_, in_w_, out_c_, k_, out_h_, out_w_;
  std::size_t ksize_;  // C_in*k*k
  std::size_t plane_;  // Ho*Wo
  std::size_t chunk_ = 1;   // images per im2col block (reserve)
  std::size_t col_block_ = 0;  // the block of images whose im2col col_ holds
  xt::xtensor<T, 1> col_;   // [K * chunk*P]: im2col of one block of images
  xt::xtensor<T, 1> dcol_;  // [K * chunk*P]
  xt::xtensor<T, 1> x_;     // [max_batch * C_in*H*W]: the input of the last forward (several blocks)
  xt::xtensor<T, 1> yp_;    // [C_out * max_batch*P]: packed Y (forward) / packed dY (backward)
  xt::xtensor<T, 1> wz_;    // [C_out * K]: z_c W_c for active maps, packed
  xt::xtensor<T, 1> dwz_;   // [C_out * K]
  xt::xtensor<double, 1> sum_dy_;  // [C_out]
  std::vector<std::size_t> open_in_;  // input maps of the last forward (capacity C_in)
};

extern template class GatedConv2d<float>;
extern template class GatedConv2d<double>;

}  // namespace saddle::l0
