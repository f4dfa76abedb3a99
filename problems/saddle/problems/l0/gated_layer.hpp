#pragma once
/// \file gated_layer.hpp
/// What GatedDense and GatedConv2d share: the parameter slice [ W | b | log_alpha ]
/// (GatedLayout), its views, the gate state of the last forward, the noise stream, and the
/// density and clamp operations on log_alpha. A plain base class: no virtual functions, no
/// allocation after construction; the layers' kernels stay in the derived classes.

#include <cstddef>
#include <cstdint>

#include <xtensor/xtensor.hpp>

#include "saddle/problems/l0/gated_layout.hpp"
#include "saddle/problems/l0/hard_concrete.hpp"
#include "saddle/problems/l0/tensor_view.hpp"

namespace saddle::l0 {

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
};

extern template class GatedLayerBase<float>;
extern template class GatedLayerBase<double>;

}  // namespace saddle::l0
