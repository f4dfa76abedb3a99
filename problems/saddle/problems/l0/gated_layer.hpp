#pragma once
/// \file gated_layer.hpp
/// What GatedDense and GatedConv2d share: the parameter slice [ W | b | log_alpha ]
/// (GatedLayout), its views, the gate state of the last forward, the noise stream, and the
/// density and clamp operations on log_alpha. A plain base class: no virtual functions, no
/// allocation after construction; the layers' kernels stay in the derived classes.

#include <cstddef>
#include <cstdint>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "saddle/problems/l0/gated_layout.hpp"
#include "saddle/problems/l0/hard_concrete.hpp"
#include "saddle/problems/l0/tensor_view.hpp"

namespace saddle::l0 {

/// Conditional-computation hints for one forward/backward pair of a gated layer: what a model
/// knows about the layer's neighbours (GatedModel passes them between its layers). Lists hold
/// ascending indices, are not owned, and must stay unchanged until the matching backward;
/// nullptr means "all". Hints only let a layer skip work whose result is known: with hints
/// that hold, every gradient equals the one without hints (up to float rounding, since GEMMs
/// of other shapes sum in another order), and the work on closed gates is skipped as before.
struct ChannelHints {
  /// Input channels that may be non-zero (GatedConv2d: input maps; GatedDense: input units).
  /// Every other input channel must be exactly zero: it is not read, its weights get a zero
  /// gradient (as a zero input gives), and backward writes 0 into its grad_input.
  const std::vector<std::size_t>* open_inputs = nullptr;
  /// GatedDense only: the output units that a consumer reads. The other output columns are
  /// written as 0 in forward, and their grad_output must be zero (it is not read): true when
  /// the consumer's gates on those units are zero, which is how GatedModel chooses them.
  const std::vector<std::size_t>* needed_outputs = nullptr;
};

template <class T>
class GatedLayerBase {
 public:
  std::size_t num_gates() const { return layout_.log_alpha_size; }
  std::uint64_t noise_stream() const { return stream_; }

  /// Size of the layer's slice: weights + biases + gates.
  std::size_t num_parameters() const { return layout_.total; }
  /// Offsets of W, b, log_alpha inside the layer's slice.
  const GatedLayout& layout() const { return layout_; }
  /// Batch size the workspaces were reserved for (0 before reserve()).
  std::size_t max_batch() const { return max_batch_; }

  /// Gates used by the last forward: [num_gates()].
  const xt::xtensor<T, 1>& gates() const { return gates_.z(); }
  /// Number of non-zero gates in the last forward.
  std::size_t num_active_gates() const { return gates_.active().size(); }
  /// Indices (ascending) of the non-zero gates of the last sample_gates / set_test_gates /
  /// forward: the channels this layer computes. The reference stays valid for the layer's life.
  const std::vector<std::size_t>& active_gates() const { return gates_.active(); }

  /// Sets the gates of the next forward_gated without running it: training gates sampled from
  /// (noise_seed, noise_stream()), or deterministic test gates. A model sets every layer's gates
  /// first, so that a layer can skip the outputs that the next layer's zero gates drop.
  /// params: the layer's slice. No allocation.
  void sample_gates(ConstView<T, 1> params, std::uint64_t noise_seed);
  void set_test_gates(ConstView<T, 1> params, TestGate gate = TestGate::median);

  /// Number of gates whose deterministic test gate is > 0 (no forward needed).
  std::size_t count_active_test_gates(ConstView<T, 1> params,
                                      TestGate gate = TestGate::median) const;

  /// Views of the groups of a slice params: [num_parameters()]: W: [weight_rows, weight_cols]
  /// (dense [in, out], conv [C_out, C_in*k*k]), b: [bias count], log_alpha: [num_gates()].
  /// Throw InputError on a wrong slice size.
  ConstView<T, 2> weights(ConstView<T, 1> params) const;
  ConstView<T, 1> bias(ConstView<T, 1> params) const;
  ConstView<T, 1> log_alpha(ConstView<T, 1> params) const;
  View<T, 1> log_alpha(View<T, 1> params) const;

  /// Expected density mean_g (1 - q0_g) over the gates, q0_g = P(z_g = 0) (the expected L0
  /// norm of Louizos et al. 2018, Sec. 3, divided by the gate count).
  double expected_density(ConstView<T, 1> params) const;
  /// grad_params[log_alpha] += weight * d expected_density / d log_alpha. No allocation.
  void add_expected_density_gradient(ConstView<T, 1> params, double weight,
                                     View<T, 1> grad_params) const;
  /// Clamps the slice's log_alpha to [ln 0.01, ln 100] (after an optimizer step).
  void clamp_log_alpha(View<T, 1> params) const;

  /// Splits the layer's work over the workers of `runner` (non-owning; null or one worker,
  /// the default: the calling thread does everything): the sampling of the training gates
  /// (fixed index ranges: the same bits split or not) and, in GatedDense, the forward and
  /// backward (see there). The runner must outlive the layer's use; OpenBLAS should run one
  /// thread inside it. No allocation.
  void set_runner(RangeRunner* runner) { runner_ = runner; }
  RangeRunner* runner() const { return runner_; }

 protected:
  /// `kind` ("GatedDense", "GatedConv2d") starts error messages; the slice holds
  /// weight_rows*weight_cols weights, `biases` biases and `gates` gate parameters.
  GatedLayerBase(const char* kind, std::size_t weight_rows, std::size_t weight_cols,
                 std::size_t biases, std::size_t gates, std::uint64_t noise_stream);

  /// Throws InputError unless a slice of `size` values matches num_parameters().
  void check_params(std::size_t size, const char* what) const;

  const char* kind_;
  std::size_t weight_rows_, weight_cols_;
  std::uint64_t stream_ = 0;
  GatedLayout layout_;
  std::size_t max_batch_ = 0;
  std::size_t batch_ = 0;  // rows of the last forward
  bool has_forward_ = false;
  GateState<T> gates_;
  RangeRunner* runner_ = nullptr;
};

extern template class GatedLayerBase<float>;
extern template class GatedLayerBase<double>;

}  // namespace saddle::l0
