#pragma once
/// \file model.hpp
/// Gated networks assembled from the L0 kernels: MLP 784-300-100-10 and LeNet5-Caffe
/// (conv 20 5x5, pool, conv 50 5x5, pool, dense 800->500, dense 500->10), with one flat
/// parameter vector. Template on the scalar (float for training with sgemm, double for
/// gradient checks), explicitly instantiated in model.cpp.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "saddle/problems/l0/basic_layers.hpp"
#include "saddle/problems/l0/hard_concrete.hpp"
#include "saddle/problems/l0/tensor_view.hpp"
#include "saddle/range_runner.hpp"

namespace saddle::l0 {

enum class Architecture { mlp, lenet5 };

/// Weight initialisation of the two reference codes (hard_concrete.hpp names them).
enum class InitScheme {
  /// [GP] constrained-L0 code: dense std sqrt(2/out) (kaiming fan_out of the [out,in]
  /// nn.Linear weight), conv std sqrt(2/(C_in k k)); then W /= (1 - droprate_init);
  /// biases N(0, 0.01^2) (conv bias also / (1 - d)).
  gp,
  /// [LZ] L0 code: He fan-in, dense std sqrt(2/in), conv std sqrt(2/(C_in k k)); no
  /// rescaling; biases 0.
  lz,
};
const char* to_string(InitScheme s);
/// "gp" or "lz".
InitScheme parse_init_scheme(const std::string& name);
const char* to_string(Architecture a);
/// "mlp" or "lenet5"; throws InvalidOption listing the choices.
Architecture parse_architecture(const std::string& name);

/// Static description of one gated layer of a model.
struct GatedLayerInfo {
  std::string name;              ///< "fc1", "conv1", ...
  bool conv = false;             ///< gates on output maps (conv) or input units (dense)
  std::size_t offset = 0;        ///< start of the layer's slice in the flat parameter vector
  std::size_t size = 0;          ///< parameters of the slice (W, b, log_alpha)
  std::size_t weight_offset = 0;     ///< absolute offset of W (dense [in, out]; conv [C_out, C_in*k*k])
  std::size_t bias_offset = 0;       ///< absolute offset of b
  std::size_t log_alpha_offset = 0;  ///< absolute offset of the gate parameters
  std::size_t num_gates = 0;
  std::size_t group_size = 0;    ///< weights per gate (out for dense, C_in*k*k for conv)
  std::size_t sparsifiable = 0;  ///< [GP] num_sparsifiable_params of the layer
  double droprate_init = 0.5;
};

/// Architecture-level counts of the network left after purging zero-gated units (masks
/// propagated between layers; purge_network in purged_network.hpp builds that network).
struct PurgedCounts {
  std::vector<std::size_t> active_gates;  ///< per gated layer: test gates > 0 ("pruned architecture")
  std::size_t params = 0;                 ///< weights + biases of the purged network
  std::size_t macs = 0;                   ///< multiply-accumulates per example (conv + dense)
  std::string architecture() const;       ///< e.g. "219-214-100"
};

template <class T>
class Stage;  // one layer of the forward chain (model.cpp)

template <class T>
class GatedModel {
 public:
  /// Builds the architecture for inputs of `rows` x `cols` pixels and `classes` outputs.
  GatedModel(Architecture arch, std::size_t rows = 28, std::size_t cols = 28, std::size_t classes = 10);
  ~GatedModel();
  GatedModel(GatedModel&&) noexcept;
  GatedModel& operator=(GatedModel&&) noexcept;

  Architecture architecture() const { return arch_; }
  std::size_t num_parameters() const { return num_parameters_; }
  /// Input image size: an input row is image_rows()*image_cols() pixels.
  std::size_t image_rows() const { return rows_; }
  std::size_t image_cols() const { return cols_; }
  std::size_t in_features() const { return in_features_; }
  std::size_t num_classes() const { return classes_; }
  const std::vector<GatedLayerInfo>& gated_layers() const { return gated_; }
  /// Weights + biases of the dense (unpurged) network: MLP 266,610; LeNet5 431,080.
  std::size_t dense_params() const;
  /// Multiply-accumulates per example of the dense network: MLP 266,200; LeNet5 2,293,000.
  std::size_t dense_macs() const;

  /// Sizes every activation and workspace buffer for batches of up to max_batch (allocates;
  /// call once). forward/backward never allocate afterwards.
  void reserve(std::size_t max_batch);
  std::size_t max_batch() const { return max_batch_; }

  /// Splits the work of every dense layer (GatedDense::set_runner: column blocks forward,
  /// blocks of inputs backward) over `runner`'s workers; null (the default) runs everything
  /// on the calling thread. The convolutions and the element-wise stages stay on the calling
  /// thread. Non-owning; no allocation.
  void set_runner(RangeRunner* runner);
  RangeRunner* runner() const { return runner_; }

  /// Initialises params: [num_parameters()] as the constrained-L0 code does (droprate_init
  /// 0.2 for the MLP's first layer, 0.5 elsewhere; see the layers' init_parameters).
  void init_parameters(View<T, 1> params, std::uint64_t seed, InitScheme scheme = InitScheme::gp) const;

  /// Training forward with gates sampled from noise_seed and the mean cross-entropy loss.
  /// input: [B, in_features], labels: [B]. Keeps what backward needs. No allocation.
  CrossEntropyResult forward_train(ConstView<T, 1> params, ConstView<T, 2> input,
                                   ConstView<std::int32_t, 1> labels, std::uint64_t noise_seed);
  /// Test-time forward (deterministic gates) and loss. Zero gates are skipped.
  CrossEntropyResult forward_eval(ConstView<T, 1> params, ConstView<T, 2> input,
                                  ConstView<std::int32_t, 1> labels, TestGate gate);
  /// Logits of the last forward: [B, classes].
  ConstView<T, 2> logits() const;
  /// grad: [num_parameters()] <- d(mean CE)/d params at the last forward (every slice
  /// overwritten). No allocation.
  void backward(ConstView<T, 1> params, View<T, 1> grad);

  /// Expected density (mean of 1 - q0) of each gated layer: out: [L]. With a runner the
  /// per-gate terms are computed on its workers and summed in order: the same bits.
  void layer_densities(ConstView<T, 1> params, std::vector<double>& out) const;
  /// grad[log_alpha of layer l] += weights[l] * d density_l / d log_alpha. weights: [L].
  /// Element-wise: split over the runner's workers if any, with the same bits.
  void add_density_gradient(ConstView<T, 1> params, const std::vector<double>& weights, View<T, 1> grad) const;
  /// Clamps every log_alpha to [lo, ln 100] (lo: the reference codes' ln 0.01 by default).
  void clamp_log_alpha(View<T, 1> params, double lo = kLogAlphaMin) const;
  /// Pruned architecture, purged params and MACs at test time (gate > 0): the counts of
  /// purge_network(*this, params, gate) (purged_network.hpp). Allocates.
  PurgedCounts purged(ConstView<T, 1> params, TestGate gate) const;

 private:
  void run_forward(ConstView<T, 1> params, ConstView<T, 2> input, bool train, std::uint64_t seed, TestGate gate);

  Architecture arch_;
  std::size_t rows_, cols_, classes_, in_features_ = 0, num_parameters_ = 0, max_batch_ = 0, batch_ = 0;
  std::vector<std::unique_ptr<Stage<T>>> stages_;
  std::vector<GatedLayerInfo> gated_;
  std::vector<xt::xtensor<T, 2>> acts_;  // acts_[i]: output of stage i, [max_batch, features]
  std::vector<xt::xtensor<T, 2>> grads_; // grads_[i]: d loss / d acts_[i]
  xt::xtensor<std::int32_t, 1> labels_;
  RangeRunner* runner_ = nullptr;
  std::size_t num_gates_ = 0;               // gates of all gated layers
  mutable std::vector<double> gate_terms_;  // [num_gates_]: 1 - q0 per gate (layer_densities)
  // Calls f(layer, first, b, e) for each gated layer that the range r of the concatenated
  // gates (layer after layer) overlaps: its gates [b, e), its first gate at index `first`.
  template <class F>
  void for_gates_in(IndexRange r, F&& f) const;
};

extern template class GatedModel<float>;
extern template class GatedModel<double>;

}  // namespace saddle::l0
