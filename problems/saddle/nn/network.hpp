#pragma once
/// \file network.hpp
/// A feed-forward network assembled from the saddle::nn layers over ONE flat parameter
/// vector: each layer views its own slice, in the order the layers were added.
///
///   nn::Network<float> net(784);                 // or Network(channels, height, width)
///   net.add_dense(300).add_relu().add_dense(100).add_relu().add_dense(10);
///   net.reserve(128);                            // buffers for batches of <= 128 rows
///   Vector<float> x = ...[net.num_parameters()]; net.init_parameters(view(x), seed);
///   auto logits = net.forward(cview(x), input);  // input: [B, 784] -> logits: [B, 10]
///   ... loss and d loss / d logits: [B, 10] ...
///   net.backward(cview(x), dlogits, view(grad)); // grad: [num_parameters()], overwritten
///
/// Shapes: the network tracks the shape C x H x W of the activations: Network(F) starts
/// with F x 1 x 1, Network(C, H, W) with image maps; a dense layer flattens (its output is
/// out x 1 x 1), conv2d and max_pool need maps (a 1x1 map only admits kernel 1; max_pool
/// needs H, W >= 2). A layer that does not fit throws InvalidOption when it is added.
///
/// Allocation: add_* and reserve() allocate; forward and backward never do. The network
/// keeps one activation buffer per layer ([max_batch, out_features] each) and one gradient
/// buffer per layer; forward keeps a pointer to `input` (not a copy), so the input buffer
/// must stay unchanged until the matching backward.
///
/// Gated layers (add_gated_dense, add_gated_conv2d) sample hard-concrete gates from
/// `noise_seed` in Mode::train (gated layer g uses noise stream g) and use deterministic
/// test gates in Mode::eval; plain layers ignore the mode.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "saddle/nn/layers.hpp"
#include "saddle/nn/tensor_view.hpp"

namespace saddle::nn {

/// Forward mode: sampled gates (training) or deterministic test gates (evaluation).
enum class Mode { train, eval };

/// Kind of a layer of a Network.
enum class LayerKind { dense, conv2d, relu, max_pool, gated_dense, gated_conv2d };
/// "dense", "conv2d", "relu", "max_pool", "gated_dense", "gated_conv2d".
const char* to_string(LayerKind kind);

/// Static description of one layer of a Network.
struct LayerInfo {
  LayerKind kind = LayerKind::dense;
  std::size_t offset = 0;        ///< start of the layer's slice in the flat parameter vector
  std::size_t size = 0;          ///< parameters of the slice (0 for relu, max_pool)
  std::size_t in_features = 0;   ///< row width of the layer's input
  std::size_t out_features = 0;  ///< row width of the layer's output
  std::size_t channels = 0, height = 0, width = 0;  ///< output shape C x H x W
  std::size_t num_gates = 0;                        ///< gated layers: number of gates (else 0)
  std::size_t log_alpha_offset = 0;  ///< gated layers: absolute offset of the gate parameters
};

template <class T>
class NetworkLayer;  // one layer of the chain (network.cpp)

template <class T>
class Network {
 public:
  /// A network whose inputs are rows of `in_features` values (shape in_features x 1 x 1).
  /// Throws InvalidOption if in_features is 0.
  explicit Network(std::size_t in_features);
  /// A network whose inputs are flattened NCHW images channels x height x width.
  Network(std::size_t channels, std::size_t height, std::size_t width);
  ~Network();
  Network(Network&&) noexcept;
  Network& operator=(Network&&) noexcept;

  /// Appends a plain dense layer (current features -> out). He init.
  Network& add_dense(std::size_t out);
  /// Appends a plain valid convolution (current maps -> out_channels maps, k x k). He init.
  Network& add_conv2d(std::size_t out_channels, std::size_t kernel);
  /// Appends an elementwise ReLU.
  Network& add_relu();
  /// Appends a 2x2, stride-2 max-pooling (floor on odd sizes).
  Network& add_max_pool();
  /// Appends a dense layer with one gate per input unit; its parameters are initialised as
  /// the L0 layers are (GatedDense::init_parameters with `droprate_init`).
  Network& add_gated_dense(std::size_t out, double droprate_init = 0.5);
  /// Appends a convolution with one gate per output map (GatedConv2d::init_parameters).
  Network& add_gated_conv2d(std::size_t out_channels, std::size_t kernel,
                            double droprate_init = 0.5);

  std::size_t num_layers() const { return info_.size(); }
  const std::vector<LayerInfo>& layers() const { return info_; }
  std::size_t num_parameters() const { return num_parameters_; }
  std::size_t in_features() const { return in_features_; }
  /// Row width of the output (of the last layer; in_features() while empty).
  std::size_t out_features() const;

  /// Sizes every buffer for batches of up to max_batch rows (allocates). Throws
  /// InvalidOption for an empty network or max_batch = 0. Layers cannot be added afterwards.
  void reserve(std::size_t max_batch);
  std::size_t max_batch() const { return max_batch_; }

  /// Initialises params: [num_parameters()] layer after layer from one generator seeded by
  /// `seed`. Throws InputError on a wrong size.
  void init_parameters(View<T, 1> params, std::uint64_t seed) const;

  /// Runs the network: input: [B, in_features()] with 1 <= B <= max_batch(); returns the
  /// output: [B, out_features()] (a view of the network's buffer, valid until the next
  /// forward). Throws InputError (one line) on a wrong parameter size, input width or batch,
  /// InvalidOption if reserve() was not called. No allocation.
  ConstView<T, 2> forward(ConstView<T, 1> params, ConstView<T, 2> input, Mode mode = Mode::train,
                          std::uint64_t noise_seed = 0);
  /// The output of the last forward: [B, out_features()].
  ConstView<T, 2> output() const;

  /// grad: [num_parameters()] <- d/d params of sum(grad_output * output) at the last
  /// forward, i.e. backpropagates grad_output: [B, out_features()] = d loss / d output.
  /// Every slice of grad is overwritten. Throws InputError on a shape mismatch or without a
  /// forward. No allocation.
  void backward(ConstView<T, 1> params, ConstView<T, 2> grad_output, View<T, 1> grad);

  /// Expected density (mean over gates of P(z != 0)) of gated layer `layer` (an index into
  /// layers()). Throws InvalidOption if the layer is not gated.
  double expected_density(ConstView<T, 1> params, std::size_t layer) const;
  /// grad[log_alpha of `layer`] += weight * d expected_density / d log_alpha.
  void add_expected_density_gradient(ConstView<T, 1> params, std::size_t layer, double weight,
                                     View<T, 1> grad) const;
  /// Clamps every gated layer's log_alpha to [ln 0.01, ln 100] (call from Problem::project).
  void clamp_log_alpha(View<T, 1> params) const;

 private:
  Network& push(std::unique_ptr<NetworkLayer<T>> layer, LayerKind kind, std::size_t c,
                std::size_t h, std::size_t w);
  void check_params(std::size_t size, const char* what) const;
  const LayerInfo& gated_info(std::size_t layer, const char* what) const;

  std::size_t in_features_ = 0;
  std::size_t c_ = 0, h_ = 0, w_ = 0;  // current output shape while building
  std::size_t num_parameters_ = 0;
  std::size_t num_gated_ = 0;
  std::size_t max_batch_ = 0;
  std::size_t batch_ = 0;     // rows of the last forward
  const T* input_ = nullptr;  // input of the last forward (not owned)
  std::vector<std::unique_ptr<NetworkLayer<T>>> layers_;
  std::vector<LayerInfo> info_;
  std::vector<xt::xtensor<T, 2>> acts_;   // acts_[i]: output of layer i, [max_batch, out_i]
  std::vector<xt::xtensor<T, 2>> grads_;  // grads_[i]: d loss / d acts_[i] (i < L-1)
};

extern template class Network<float>;
extern template class Network<double>;

}  // namespace saddle::nn
