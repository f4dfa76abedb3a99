/// \file network.cpp
/// Network<T>: a chain of layers over one flat parameter vector.

#include "saddle/nn/network.hpp"

#include <random>
#include <string>
#include <utility>

namespace saddle::nn {

const char* to_string(LayerKind kind) {
  switch (kind) {
    case LayerKind::dense:
      return "dense";
    case LayerKind::conv2d:
      return "conv2d";
    case LayerKind::relu:
      return "relu";
    case LayerKind::max_pool:
      return "max_pool";
    case LayerKind::gated_dense:
      return "gated_dense";
    case LayerKind::gated_conv2d:
      return "gated_conv2d";
  }
  return "?";
}

// One layer of the chain. `params` is the layer's own slice (empty for parameter-free
// layers). backward gets the layer's input and output of the last forward, d loss/d output,
// and writes the slice's gradient and, unless `grad_input` is null, d loss/d input.
template <class T>
class NetworkLayer {
 public:
  virtual ~NetworkLayer() = default;
  virtual std::size_t num_parameters() const { return 0; }
  virtual void reserve(std::size_t) {}
  virtual void init(View<T, 1>, std::mt19937_64&) const {}
  virtual void forward(ConstView<T, 1> params, ConstView<T, 2> in, View<T, 2> out, Mode mode,
                       std::uint64_t seed) = 0;
  virtual void backward(ConstView<T, 1> params, ConstView<T, 2> in, ConstView<T, 2> out,
                        ConstView<T, 2> grad_out, View<T, 1> grad_params, View<T, 2>* grad_in) = 0;
  // Gated layers only.
  virtual double expected_density(ConstView<T, 1>) const { return 1.0; }
  virtual void add_density_gradient(ConstView<T, 1>, double, View<T, 1>) const {}
  virtual void clamp(View<T, 1>) const {}
};

namespace {

template <class T>
class DenseLayer final : public NetworkLayer<T> {
 public:
  DenseLayer(std::size_t in, std::size_t out) : layer_(in, out) {}
  std::size_t num_parameters() const override { return layer_.num_parameters(); }
  void init(View<T, 1> p, std::mt19937_64& rng) const override { layer_.init_parameters(p, rng); }
  void forward(ConstView<T, 1> p, ConstView<T, 2> in, View<T, 2> out, Mode,
               std::uint64_t) override {
    layer_.forward(p, in, out);
  }
  void backward(ConstView<T, 1> p, ConstView<T, 2> in, ConstView<T, 2>, ConstView<T, 2> g,
                View<T, 1> gp, View<T, 2>* gi) override {
    if (gi)
      layer_.backward(p, in, g, gp, *gi);
    else
      layer_.backward(p, in, g, gp);
  }

 private:
  Dense<T> layer_;
};

template <class T>
class ConvLayer final : public NetworkLayer<T> {
 public:
  ConvLayer(std::size_t c, std::size_t h, std::size_t w, std::size_t out, std::size_t k)
      : layer_(c, h, w, out, k) {}
  std::size_t num_parameters() const override { return layer_.num_parameters(); }
  void reserve(std::size_t b) override { layer_.reserve(b); }
  void init(View<T, 1> p, std::mt19937_64& rng) const override { layer_.init_parameters(p, rng); }
  void forward(ConstView<T, 1> p, ConstView<T, 2> in, View<T, 2> out, Mode,
               std::uint64_t) override {
    layer_.forward(p, in, out);
  }
  void backward(ConstView<T, 1> p, ConstView<T, 2>, ConstView<T, 2>, ConstView<T, 2> g,
                View<T, 1> gp, View<T, 2>* gi) override {
    if (gi)
      layer_.backward(p, g, gp, *gi);
    else
      layer_.backward(p, g, gp);
  }

 private:
  Conv2d<T> layer_;
};

// GatedDense or GatedConv2d (the same interface).
template <class T, class Layer>
class GatedLayer final : public NetworkLayer<T> {
 public:
  template <class... Args>
  explicit GatedLayer(double droprate, Args... args) : layer_(args...), droprate_(droprate) {}
  std::size_t num_parameters() const override { return layer_.num_parameters(); }
  void reserve(std::size_t b) override { layer_.reserve(b); }
  void init(View<T, 1> p, std::mt19937_64& rng) const override {
    layer_.init_parameters(p, droprate_, rng);
  }
  void forward(ConstView<T, 1> p, ConstView<T, 2> in, View<T, 2> out, Mode mode,
               std::uint64_t seed) override {
    if (mode == Mode::train)
      layer_.forward_train(p, in, seed, out);
    else
      layer_.forward_eval(p, in, out);
  }
  void backward(ConstView<T, 1> p, ConstView<T, 2>, ConstView<T, 2>, ConstView<T, 2> g,
                View<T, 1> gp, View<T, 2>* gi) override {
    if (gi)
      layer_.backward(p, g, gp, *gi);
    else
      layer_.backward(p, g, gp);
  }
  double expected_density(ConstView<T, 1> p) const override { return layer_.expected_density(p); }
  void add_density_gradient(ConstView<T, 1> p, double weight, View<T, 1> gp) const override {
    layer_.add_expected_density_gradient(p, weight, gp);
  }
  void clamp(View<T, 1> p) const override { layer_.clamp_log_alpha(p); }
  const Layer& layer() const { return layer_; }

 private:
  Layer layer_;
  double droprate_;
};

template <class T>
class ReluLayer final : public NetworkLayer<T> {
 public:
  void forward(ConstView<T, 1>, ConstView<T, 2> in, View<T, 2> out, Mode, std::uint64_t) override {
    relu_forward<T>(in, out);
  }
  void backward(ConstView<T, 1>, ConstView<T, 2>, ConstView<T, 2> out, ConstView<T, 2> g,
                View<T, 1>, View<T, 2>* gi) override {
    if (gi) relu_backward<T>(out, g, *gi);
  }
};

template <class T>
class PoolLayer final : public NetworkLayer<T> {
 public:
  PoolLayer(std::size_t c, std::size_t h, std::size_t w) : pool_(c, h, w) {}
  void reserve(std::size_t b) override { pool_.reserve(b); }
  void forward(ConstView<T, 1>, ConstView<T, 2> in, View<T, 2> out, Mode, std::uint64_t) override {
    pool_.forward(in, out);
  }
  void backward(ConstView<T, 1>, ConstView<T, 2>, ConstView<T, 2>, ConstView<T, 2> g, View<T, 1>,
                View<T, 2>* gi) override {
    if (gi) pool_.backward(g, *gi);
  }

 private:
  MaxPool2d<T> pool_;
};

std::string shape_str(std::size_t a, std::size_t b) {
  return "[" + std::to_string(a) + ", " + std::to_string(b) + "]";
}

}  // namespace

template <class T>
Network<T>::Network(std::size_t in_features) : Network(in_features, 1, 1) {}

template <class T>
Network<T>::Network(std::size_t channels, std::size_t height, std::size_t width)
    : in_features_(channels * height * width), c_(channels), h_(height), w_(width) {
  if (in_features_ == 0) {
    throw InvalidOption("Network: input shape " + std::to_string(channels) + "x" +
                        std::to_string(height) + "x" + std::to_string(width) +
                        " must have every size >= 1");
  }
}

template <class T>
Network<T>::~Network() = default;
template <class T>
Network<T>::Network(Network&&) noexcept = default;
template <class T>
Network<T>& Network<T>::operator=(Network&&) noexcept = default;

template <class T>
std::size_t Network<T>::out_features() const {
  return c_ * h_ * w_;
}

template <class T>
Network<T>& Network<T>::push(std::unique_ptr<NetworkLayer<T>> layer, LayerKind kind, std::size_t c,
                             std::size_t h, std::size_t w) {
  LayerInfo info;
  info.kind = kind;
  info.offset = num_parameters_;
  info.size = layer->num_parameters();
  info.in_features = out_features();
  info.channels = c;
  info.height = h;
  info.width = w;
  info.out_features = c * h * w;
  num_parameters_ += info.size;
  c_ = c;
  h_ = h;
  w_ = w;
  info_.push_back(info);
  layers_.push_back(std::move(layer));
  return *this;
}

namespace {
void check_building(std::size_t max_batch, const char* what) {
  if (max_batch != 0) {
    throw InvalidOption(std::string("Network: ") + what + " after reserve()");
  }
}
}  // namespace

template <class T>
Network<T>& Network<T>::add_dense(std::size_t out) {
  check_building(max_batch_, "add_dense");
  return push(std::make_unique<DenseLayer<T>>(out_features(), out), LayerKind::dense, out, 1, 1);
}

template <class T>
Network<T>& Network<T>::add_conv2d(std::size_t out_channels, std::size_t kernel) {
  check_building(max_batch_, "add_conv2d");
  auto layer = std::make_unique<ConvLayer<T>>(c_, h_, w_, out_channels, kernel);
  return push(std::move(layer), LayerKind::conv2d, out_channels, h_ - kernel + 1, w_ - kernel + 1);
}

template <class T>
Network<T>& Network<T>::add_relu() {
  check_building(max_batch_, "add_relu");
  return push(std::make_unique<ReluLayer<T>>(), LayerKind::relu, c_, h_, w_);
}

template <class T>
Network<T>& Network<T>::add_max_pool() {
  check_building(max_batch_, "add_max_pool");
  auto layer = std::make_unique<PoolLayer<T>>(c_, h_, w_);
  return push(std::move(layer), LayerKind::max_pool, c_, h_ / 2, w_ / 2);
}

template <class T>
Network<T>& Network<T>::add_gated_dense(std::size_t out, double droprate_init) {
  check_building(max_batch_, "add_gated_dense");
  if (!(droprate_init > 0.0 && droprate_init < 1.0)) {
    throw InvalidOption("Network: add_gated_dense droprate_init = " +
                        std::to_string(droprate_init) + " must be in (0, 1)");
  }
  const std::size_t in = out_features();
  auto layer = std::make_unique<GatedLayer<T, GatedDense<T>>>(droprate_init, in, out,
                                                              std::uint64_t{num_gated_});
  const std::size_t la = layer->layer().layout().log_alpha_offset;
  push(std::move(layer), LayerKind::gated_dense, out, 1, 1);
  info_.back().num_gates = in;
  info_.back().log_alpha_offset = info_.back().offset + la;
  ++num_gated_;
  return *this;
}

template <class T>
Network<T>& Network<T>::add_gated_conv2d(std::size_t out_channels, std::size_t kernel,
                                         double droprate_init) {
  check_building(max_batch_, "add_gated_conv2d");
  if (!(droprate_init > 0.0 && droprate_init < 1.0)) {
    throw InvalidOption("Network: add_gated_conv2d droprate_init = " +
                        std::to_string(droprate_init) + " must be in (0, 1)");
  }
  auto layer = std::make_unique<GatedLayer<T, GatedConv2d<T>>>(
      droprate_init, c_, h_, w_, out_channels, kernel, std::uint64_t{num_gated_});
  const std::size_t la = layer->layer().layout().log_alpha_offset;
  push(std::move(layer), LayerKind::gated_conv2d, out_channels, h_ - kernel + 1, w_ - kernel + 1);
  info_.back().num_gates = out_channels;
  info_.back().log_alpha_offset = info_.back().offset + la;
  ++num_gated_;
  return *this;
}

template <class T>
void Network<T>::reserve(std::size_t max_batch) {
  if (layers_.empty()) throw InvalidOption("Network: reserve() on a network without layers");
  if (max_batch == 0) throw InvalidOption("Network: reserve(0); the batch must be >= 1");
  max_batch_ = max_batch;
  batch_ = 0;
  acts_.clear();
  grads_.clear();
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->reserve(max_batch);
    acts_.push_back(xt::xtensor<T, 2>::from_shape({max_batch, info_[i].out_features}));
    if (i + 1 < layers_.size()) {
      grads_.push_back(xt::xtensor<T, 2>::from_shape({max_batch, info_[i].out_features}));
    }
  }
}

template <class T>
void Network<T>::check_params(std::size_t size, const char* what) const {
  if (size != num_parameters_) {
    throw InputError(std::string("Network ") + what + ": " + std::to_string(size) +
                     " values, expected " + std::to_string(num_parameters_));
  }
}

template <class T>
void Network<T>::init_parameters(View<T, 1> params, std::uint64_t seed) const {
  check_params(params.size(), "init_parameters: params has");
  std::mt19937_64 rng(seed);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->init(make_view<T, 1>(params.data() + info_[i].offset, {info_[i].size}), rng);
  }
}

template <class T>
ConstView<T, 2> Network<T>::forward(ConstView<T, 1> params, ConstView<T, 2> input, Mode mode,
                                    std::uint64_t noise_seed) {
  if (max_batch_ == 0) throw InvalidOption("Network: forward before reserve()");
  check_params(params.size(), "forward: params has");
  const std::size_t b = input.shape()[0];
  if (b == 0 || b > max_batch_ || input.shape()[1] != in_features_) {
    throw InputError("Network forward: input " + shape_str(b, input.shape()[1]) +
                     ", expected [1.." + std::to_string(max_batch_) + ", " +
                     std::to_string(in_features_) + "]");
  }
  batch_ = b;
  input_ = input.data();
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    auto p = make_cview<T, 1>(params.data() + info_[i].offset, {info_[i].size});
    auto in = i == 0 ? input : crows(acts_[i - 1], b);
    layers_[i]->forward(p, in, rows(acts_[i], b), mode, noise_seed);
  }
  return crows(acts_.back(), b);
}

template <class T>
ConstView<T, 2> Network<T>::output() const {
  if (batch_ == 0) throw InputError("Network output: no forward pass since reserve()");
  return crows(acts_.back(), batch_);
}

template <class T>
void Network<T>::backward(ConstView<T, 1> params, ConstView<T, 2> grad_output, View<T, 1> grad) {
  if (batch_ == 0) throw InputError("Network backward: no forward pass since reserve()");
  check_params(params.size(), "backward: params has");
  check_params(grad.size(), "backward: grad has");
  const std::size_t b = batch_;
  if (grad_output.shape()[0] != b || grad_output.shape()[1] != out_features()) {
    throw InputError("Network backward: grad_output " +
                     shape_str(grad_output.shape()[0], grad_output.shape()[1]) + ", expected " +
                     shape_str(b, out_features()));
  }
  const std::size_t last = layers_.size() - 1;
  for (std::size_t i = layers_.size(); i-- > 0;) {
    const LayerInfo& li = info_[i];
    auto p = make_cview<T, 1>(params.data() + li.offset, {li.size});
    auto gp = make_view<T, 1>(grad.data() + li.offset, {li.size});
    auto in = i == 0 ? make_cview<T, 2>(input_, {b, in_features_}) : crows(acts_[i - 1], b);
    auto g = i == last ? grad_output : crows(grads_[i], b);
    if (i > 0) {
      auto gi = rows(grads_[i - 1], b);
      layers_[i]->backward(p, in, crows(acts_[i], b), g, gp, &gi);
    } else {
      layers_[i]->backward(p, in, crows(acts_[i], b), g, gp, nullptr);
    }
  }
}

template <class T>
const LayerInfo& Network<T>::gated_info(std::size_t layer, const char* what) const {
  if (layer >= info_.size() || info_[layer].num_gates == 0) {
    throw InvalidOption(std::string("Network ") + what + ": layer " + std::to_string(layer) +
                        " is not a gated layer");
  }
  return info_[layer];
}

template <class T>
double Network<T>::expected_density(ConstView<T, 1> params, std::size_t layer) const {
  check_params(params.size(), "expected_density: params has");
  const LayerInfo& li = gated_info(layer, "expected_density");
  return layers_[layer]->expected_density(make_cview<T, 1>(params.data() + li.offset, {li.size}));
}

template <class T>
void Network<T>::add_expected_density_gradient(ConstView<T, 1> params, std::size_t layer,
                                               double weight, View<T, 1> grad) const {
  check_params(params.size(), "add_expected_density_gradient: params has");
  check_params(grad.size(), "add_expected_density_gradient: grad has");
  const LayerInfo& li = gated_info(layer, "add_expected_density_gradient");
  layers_[layer]->add_density_gradient(make_cview<T, 1>(params.data() + li.offset, {li.size}),
                                       weight, make_view<T, 1>(grad.data() + li.offset, {li.size}));
}

template <class T>
void Network<T>::clamp_log_alpha(View<T, 1> params) const {
  check_params(params.size(), "clamp_log_alpha: params has");
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    if (info_[i].num_gates == 0) continue;
    layers_[i]->clamp(make_view<T, 1>(params.data() + info_[i].offset, {info_[i].size}));
  }
}

template class Network<float>;
template class Network<double>;

}  // namespace saddle::nn
