#pragma once
/// \file gated_dense.hpp
/// Fully connected layer with one hard-concrete gate per INPUT unit (structured L0 of
/// Louizos et al. 2018, Sec. 3, group sparsity on input neurons): out = x @ (z[:,None] * W) + b,
/// the bias not gated.
///
/// Parameters (one slice of the flat vector, see GatedLayout):
///   W: [in, out] row-major (the [LZ] layout; gate i scales row i), b: [out], log_alpha: [in].
///
/// Cost of zero gates. A gate that is exactly zero for the whole minibatch removes its input
/// column from the computation: the forward pass gathers the active columns of x into a
/// packed [B, n_active] buffer and the gate-scaled active rows of W into a packed
/// [n_active, out] buffer, so every GEMM has inner (or outer) dimension n_active, not `in`.
/// Packing W costs n_active*out copies, 1/B of the GEMM; packing x costs B*n_active, 1/out
/// of it. Row pointers cannot be used instead because BLAS needs one leading dimension.
///
/// Backward (dy = grad_output: [B, out]), with x_a = packed x, Wz_a = packed z-scaled W:
///   M = x_a^T dy: [n_active, out];   dW[i,:] = z_i M[k,:];   dz_i = <W[i,:], M[k,:]>;
///   dlog_alpha_i = dz_i * dz_i/dlog_alpha_i;   db = sum_rows(dy);
///   dx[:, i] = (dy Wz_a^T)[:, k] for active i, 0 for the others.
/// Three GEMMs per step; none of them touches a zero gate.
///
/// Conditional computation (forward_gated with ChannelHints, used by GatedModel): input units
/// known to be zero (from closed maps of a gated convolution before) are skipped as zero gates
/// are, and only the output columns that the next layer reads (its non-zero gates, through a
/// ReLU) are computed: Wz_a and dy are then packed to those columns too.
///
/// Buffers: constructed for no batch; call reserve(max_batch) once (allocates). After that
/// forward_train / forward_eval / backward never allocate. The layer keeps what backward
/// needs (packed input, gates, packed weights), so the input buffer may be reused after
/// the forward pass; backward must follow a forward with the same `params`.

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "saddle/problems/l0/gated_layer.hpp"
#include "saddle/problems/l0/hard_concrete.hpp"
#include "saddle/problems/l0/tensor_view.hpp"

namespace saddle::l0 {

template <class T>
class GatedDense : public GatedLayerBase<T> {
 public:
  /// A layer in -> out. `noise_stream` identifies this layer's gate noise: layers of one model
  /// must use distinct streams (e.g. their index) so that one noise seed per evaluation gives
  /// independent gates. Throws InvalidOption if in or out is 0. Allocates the gate buffers.
  GatedDense(std::size_t in_features, std::size_t out_features, std::uint64_t noise_stream = 0);

  std::size_t in_features() const { return in_; }
  std::size_t out_features() const { return out_; }

  // num_gates() = in; num_parameters() = in*out + out + in; the slice's views (W: [in, out],
  // b: [out], log_alpha: [in]), gates of the last forward, expected density (= expected
  // active sparsifiable / num_sparsifiable) and the log_alpha clamp: GatedLayerBase.
  using GatedLayerBase<T>::log_alpha;

  /// Sparsifiable parameters ([GP] num_sparsifiable_params): in*out (the bias is excluded).
  std::size_t num_sparsifiable() const { return in_ * out_; }

  /// Sizes every workspace for batches of up to max_batch rows (allocates; call once).
  void reserve(std::size_t max_batch);

  /// Initialises a parameter slice params: [num_parameters()] as the constrained-L0 code
  /// ([GP] sparse/l0_layers.py init_parameters): W ~ N(0, sqrt(2/out)^2)
  /// (kaiming_normal fan_out of the [out,in] nn.Linear weight), then W /= (1 - d);
  /// b ~ N(0, 0.01^2); log_alpha ~ N(log((1-d)/d), 0.01^2). Draws W, then b, then log_alpha
  /// from rng. Throws InvalidOption unless 0 < d < 1 or on a wrong slice size.
  void init_parameters(View<T, 1> params, double droprate_init, std::mt19937_64& rng) const;

  /// Training forward with gates sampled from noise (noise_seed, noise_stream()):
  /// input: [B, in], output: [B, out] (overwritten), B <= max_batch(). No allocation.
  /// Throws InputError on a shape mismatch.
  void forward_train(ConstView<T, 1> params, ConstView<T, 2> input, std::uint64_t noise_seed,
                     View<T, 2> output);
  /// Test-time forward with deterministic gates: out = (x * z_hat) @ W + b ([LZ] eval and
  /// [GP] eval are the same formula). A later backward differentiates through z_hat.
  void forward_eval(ConstView<T, 1> params, ConstView<T, 2> input, View<T, 2> output,
                    TestGate gate = TestGate::median);

  /// Forward with the gates already set by sample_gates / set_test_gates, with conditional-
  /// computation hints (GatedModel): input units outside hints.open_inputs must be zero and are
  /// skipped like zero gates; only the columns hints.needed_outputs are computed (the others
  /// are written as 0, and backward assumes their grad_output is zero). No allocation.
  void forward_gated(ConstView<T, 1> params, ConstView<T, 2> input, View<T, 2> output,
                     const ChannelHints& hints);

  /// Gradients at the point of the last forward. grad_output: [B, out].
  /// grad_params: [num_parameters()], the layer's slice of the flat gradient: W, b and
  /// log_alpha are OVERWRITTEN (rows of zero gates are set to 0), not accumulated.
  /// grad_input: [B, in] (overwritten; columns of zero gates are 0). No allocation.
  void backward(ConstView<T, 1> params, ConstView<T, 2> grad_output, View<T, 1> grad_params,
                View<T, 2> grad_input);
  /// Same, without the input gradient (first layer of a model).
  void backward(ConstView<T, 1> params, ConstView<T, 2> grad_output, View<T, 1> grad_params);

  // set_runner (GatedLayerBase): with a runner of several workers every forward and backward
  // is split over them. The forward's parts are blocks of output columns (each packs its
  // columns of Wz_a and runs its column block of the GEMM), the backward's parts blocks of
  // active inputs (rows of M, dW, dlog_alpha and columns of dx); no element is written by
  // two parts and none is summed across parts, so the result depends on the number of
  // workers only through the GEMM block sizes (never on timing), and not at all for the
  // element-wise work.

 private:
  using Base = GatedLayerBase<T>;
  using Base::batch_;
  using Base::check_params;
  using Base::gates_;
  using Base::has_forward_;
  using Base::layout_;
  using Base::max_batch_;
  using Base::runner_;
  using Base::stream_;

  void check_batch(std::size_t rows, const char* what) const;
  void forward_core(ConstView<T, 1> params, ConstView<T, 2> input, View<T, 2> output,
                    const ChannelHints& hints);
  void backward_core(ConstView<T, 1> params, ConstView<T, 2> grad_output, View<T, 1> grad_params,
                     View<T, 2>* grad_input);

  std::size_t in_ = 0;
  std::size_t out_ = 0;
  xt::xtensor<T, 1> x_packed_;   // [max_batch * in]: active input columns, packed
  xt::xtensor<T, 1> wz_packed_;  // [in * out]: z_i * W[i,:] for active i, packed
  xt::xtensor<T, 1> m_;          // [in * out]: x_packed^T dy
  xt::xtensor<T, 1> h_;          // [max_batch * in]: dy Wz^T before scattering
  xt::xtensor<T, 1> yp_;         // [max_batch * out]: packed needed output columns / their dy
  std::vector<std::size_t> act_;   // gates of the last forward that are non-zero AND open inputs
  std::vector<std::size_t> cols_;  // needed output columns of the last forward (if not all)
  bool all_cols_ = true;
};

extern template class GatedDense<float>;
extern template class GatedDense<double>;

}  // namespace saddle::l0
