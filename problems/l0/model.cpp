// Gated MLP and LeNet5-Caffe assembled from the L0 kernels (the architectures of Louizos et al.
// 2018, Sec. 4.1, as in the constrained-L0 code [GP]).
#include "saddle/problems/l0/model.hpp"

#include <algorithm>
#include <numeric>
#include <cmath>
#include <random>

#include "saddle/problems/l0/gated_conv2d.hpp"
#include "saddle/problems/l0/gated_dense.hpp"
#include "saddle/problems/l0/purged_network.hpp"

namespace saddle::l0 {

const char* to_string(Architecture a) { return a == Architecture::mlp ? "mlp" : "lenet5"; }

Architecture parse_architecture(const std::string& name) {
  if (name == "mlp") return Architecture::mlp;
  if (name == "lenet5") return Architecture::lenet5;
  throw InvalidOption("unknown model '" + name + "' (choices: mlp, lenet5)");
}

const char* to_string(InitScheme s) { return s == InitScheme::gp ? "gp" : "lz"; }

InitScheme parse_init_scheme(const std::string& name) {
  if (name == "gp") return InitScheme::gp;
  if (name == "lz") return InitScheme::lz;
  throw InvalidOption("unknown init '" + name + "' (choices: gp, lz)");
}

std::string PurgedCounts::architecture() const {
  std::string s;
  for (std::size_t i = 0; i < active_gates.size(); ++i) s += (i ? "-" : "") + std::to_string(active_gates[i]);
  return s;
}

// One layer of the forward chain. `params` is the stage's own slice (empty for
// parameter-free stages). A forward first sets the gates of every gated stage (set_gates),
// then runs the stages in order, so that a stage can skip work by looking at its neighbours'
// gates (conditional computation: see the stages below). Backward reads d loss/d output and
// writes the slice's gradient and, unless `grad_input` is null, d loss/d input.
template <class T>
class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::size_t in_features() const = 0;
  virtual std::size_t out_features() const = 0;
  virtual std::size_t num_parameters() const { return 0; }
  virtual void reserve(std::size_t) {}
  virtual void set_gates(ConstView<T, 1>, bool /*train*/, std::uint64_t /*seed*/, TestGate) {}
  virtual void forward(ConstView<T, 1> params, ConstView<T, 2> in, View<T, 2> out) = 0;
  virtual void backward(ConstView<T, 1> params, ConstView<T, 2> out, ConstView<T, 2> grad_out,
                        View<T, 1> grad_params, View<T, 2>* grad_in) = 0;
  virtual void init(View<T, 1>, std::mt19937_64&) const {}
};

namespace {

// A gated layer (GatedDense or GatedConv2d) as a stage of the chain.
template <class T, class Layer>
class GatedStage : public Stage<T> {
 public:
  template <class... Args>
  GatedStage(double droprate, Args... args) : layer(args...), droprate_(droprate) {}
  std::size_t in_features() const override { return layer.in_features(); }
  std::size_t out_features() const override { return layer.out_features(); }
  std::size_t num_parameters() const override { return layer.num_parameters(); }
  void reserve(std::size_t b) override { layer.reserve(b); }
  void set_gates(ConstView<T, 1> p, bool train, std::uint64_t seed, TestGate gate) override {
    if (train)
      layer.sample_gates(p, seed);
    else
      layer.set_test_gates(p, gate);
  }
  void init(View<T, 1> p, std::mt19937_64& rng) const override { layer.init_parameters(p, droprate_, rng); }
  Layer layer;

 private:
  double droprate_;
};

// conv -> (gated bias) -> ReLU -> 2x2 max-pool, fused: the convolution leaves the maps of its
// non-zero gates packed (GatedConv2d::forward_packed), PackedReluPool2d adds the bias, applies
// ReLU and pools them straight into the stage's output, and backward routes the pooled gradient
// into the packed dY of those maps only. Closed maps are never scattered, activated, pooled or
// gathered. `input_maps` (the conv block before, if any) tells which input maps can be non-zero:
// the others are skipped by im2col, the GEMMs and col2im.
template <class T>
class ConvBlockStage final : public GatedStage<T, GatedConv2d<T>> {
 public:
  using Base = GatedStage<T, GatedConv2d<T>>;
  ConvBlockStage(std::size_t c, std::size_t h, std::size_t w, std::size_t out, std::size_t k, std::uint64_t stream,
                 const ConvBlockStage* input_maps)
      : Base(0.5, c, h, w, out, k, stream),
        pool_(out, h - k + 1, w - k + 1),
        input_maps_(input_maps),
        bz_(xt::xtensor<T, 1>::from_shape({out})) {}
  std::size_t out_features() const override { return pool_.out_features(); }
  void reserve(std::size_t b) override {
    Base::reserve(b);
    pool_.reserve(b);
  }
  void forward(ConstView<T, 1> p, ConstView<T, 2> in, View<T, 2> out) override {
    auto& conv = this->layer;
    ChannelHints hints;
    if (input_maps_ != nullptr) hints.open_inputs = &input_maps_->layer.active_gates();
    conv.forward_packed(p, in, hints);
    const auto& act = conv.active_gates();
    const T* z = conv.gates().data();
    const T* b = p.data() + conv.layout().bias_offset;
    for (std::size_t a = 0; a < act.size(); ++a) bz_(a) = z[act[a]] * b[act[a]];
    pool_.forward(conv.packed_output(), conv.packed_chunk(), act, make_cview<T, 1>(bz_.data(), {act.size()}), out);
  }
  void backward(ConstView<T, 1> p, ConstView<T, 2> out, ConstView<T, 2> g, View<T, 1> gp, View<T, 2>* gi) override {
    pool_.backward(out, g, this->layer.packed_grad_output());
    this->layer.backward_packed(p, gp, gi);
  }

 private:
  PackedReluPool2d<T> pool_;
  const ConvBlockStage* input_maps_;
  xt::xtensor<T, 1> bz_;  // [C_out]: z_c b_c of the packed maps
};

// A gated dense layer. `input_maps` (a conv block before it, if any): input units of closed
// maps are zero and skipped. `consumer` (the gated dense layer after the ReLU that follows,
// if any): output units whose consumer gate is zero are not computed (their gradient is zero).
template <class T>
class DenseStage final : public GatedStage<T, GatedDense<T>> {
 public:
  using Base = GatedStage<T, GatedDense<T>>;
  DenseStage(double droprate, std::size_t in, std::size_t out, std::uint64_t stream,
             const ConvBlockStage<T>* input_maps)
      : Base(droprate, in, out, stream), input_maps_(input_maps) {
    if (input_maps_ != nullptr) {
      units_per_map_ = in / input_maps_->layer.out_channels();
      open_units_.reserve(in);
    }
  }
  void set_consumer(const DenseStage* consumer) { consumer_ = consumer; }
  void forward(ConstView<T, 1> p, ConstView<T, 2> in, View<T, 2> out) override {
    ChannelHints hints;
    if (input_maps_ != nullptr) {
      open_units_.clear();  // capacity reserved: no allocation
      for (const std::size_t c : input_maps_->layer.active_gates())
        for (std::size_t u = 0; u < units_per_map_; ++u) open_units_.push_back(c * units_per_map_ + u);
      hints.open_inputs = &open_units_;
    }
    if (consumer_ != nullptr) hints.needed_outputs = &consumer_->layer.active_gates();
    this->layer.forward_gated(p, in, out, hints);
  }
  void backward(ConstView<T, 1> p, ConstView<T, 2>, ConstView<T, 2> g, View<T, 1> gp, View<T, 2>* gi) override {
    if (gi)
      this->layer.backward(p, g, gp, *gi);
    else
      this->layer.backward(p, g, gp);
  }

 private:
  const ConvBlockStage<T>* input_maps_;
  const DenseStage* consumer_ = nullptr;
  std::size_t units_per_map_ = 0;
  std::vector<std::size_t> open_units_;
};

// ReLU; with a runner, each worker takes a block of rows (element-wise: the same bits).
template <class T>
class ReluStage final : public Stage<T> {
 public:
  explicit ReluStage(std::size_t n) : n_(n) {}
  std::size_t in_features() const override { return n_; }
  std::size_t out_features() const override { return n_; }
  void set_runner(RangeRunner* runner) { runner_ = runner; }
  void forward(ConstView<T, 1>, ConstView<T, 2> in, View<T, 2> out) override {
    auto part = [&](std::size_t p, std::size_t parts) {
      const IndexRange r = block_range(in.shape()[0], p, parts, 1);
      relu_forward<T>(make_cview<T, 2>(in.data() + r.begin * n_, {r.end - r.begin, n_}),
                      make_view<T, 2>(out.data() + r.begin * n_, {r.end - r.begin, n_}));
    };
    for_parts(runner_, part);
  }
  void backward(ConstView<T, 1>, ConstView<T, 2> out, ConstView<T, 2> g, View<T, 1>, View<T, 2>* gi) override {
    if (!gi) return;
    auto part = [&](std::size_t p, std::size_t parts) {
      const IndexRange r = block_range(out.shape()[0], p, parts, 1);
      relu_backward<T>(make_cview<T, 2>(out.data() + r.begin * n_, {r.end - r.begin, n_}),
                       make_cview<T, 2>(g.data() + r.begin * n_, {r.end - r.begin, n_}),
                       make_view<T, 2>(gi->data() + r.begin * n_, {r.end - r.begin, n_}));
    };
    for_parts(runner_, part);
  }

 private:
  std::size_t n_;
  RangeRunner* runner_ = nullptr;
};

}  // namespace

template <class T>
GatedModel<T>::GatedModel(Architecture arch, std::size_t rows, std::size_t cols, std::size_t classes)
    : arch_(arch), rows_(rows), cols_(cols), classes_(classes) {
  if (rows == 0 || cols == 0 || classes < 2) throw InvalidOption("model: input size and class count must be positive");
  in_features_ = rows * cols;
  std::uint64_t stream = 0;
  auto add_gated = [&](std::unique_ptr<Stage<T>> stage, const std::string& name, bool conv, std::size_t gates,
                       std::size_t group, std::size_t nsp, double droprate, const GatedLayout& layout) {
    GatedLayerInfo info;
    info.name = name;
    info.conv = conv;
    info.offset = num_parameters_;
    info.size = stage->num_parameters();
    info.weight_offset = num_parameters_ + layout.weight_offset;
    info.bias_offset = num_parameters_ + layout.bias_offset;
    info.log_alpha_offset = num_parameters_ + layout.log_alpha_offset;
    info.num_gates = gates;
    info.group_size = group;
    info.sparsifiable = nsp;
    info.droprate_init = droprate;
    gated_.push_back(info);
    num_gates_ += gates;
    gate_terms_.resize(num_gates_);
    num_parameters_ += info.size;
    stages_.push_back(std::move(stage));
  };
  // Gated stages in order, for the conditional-computation links between neighbours.
  ConvBlockStage<T>* last_conv = nullptr;
  DenseStage<T>* last_dense = nullptr;
  auto dense = [&](std::size_t in, std::size_t out, double d, const std::string& name, bool after_conv) {
    auto s = std::make_unique<DenseStage<T>>(d, in, out, stream++, after_conv ? last_conv : nullptr);
    // The previous dense layer feeds this one through a ReLU: it need not compute the units
    // whose gate here is zero.
    if (last_dense != nullptr) last_dense->set_consumer(s.get());
    last_dense = s.get();
    const GatedLayout layout = s->layer.layout();
    add_gated(std::move(s), name, false, in, out, in * out, d, layout);
  };
  auto conv_block = [&](std::size_t c, std::size_t h, std::size_t w, std::size_t out, std::size_t k,
                        const std::string& name) {
    auto s = std::make_unique<ConvBlockStage<T>>(c, h, w, out, k, stream++, last_conv);
    last_conv = s.get();
    const GatedLayout layout = s->layer.layout();
    const std::size_t nsp = s->layer.num_sparsifiable();
    add_gated(std::move(s), name, true, out, c * k * k, nsp, 0.5, layout);
  };
  auto relu = [&](std::size_t n) { stages_.push_back(std::make_unique<ReluStage<T>>(n)); };

  if (arch == Architecture::mlp) {
    // [GP]/[LZ] L0MLP: droprate_init 0.2 for the input layer, 0.5 elsewhere (Louizos et al. 2018,
    // Sec. 4.1).
    dense(in_features_, 300, 0.2, "fc1", false);
    relu(300);
    dense(300, 100, 0.5, "fc2", false);
    relu(100);
    dense(100, classes, 0.5, "fc3", false);
  } else {
    // LeNet-5-Caffe 20-50-800-500 (Louizos et al. 2018, Sec. 4.1); ReLU before max-pool, as the
    // reference models (each conv block fuses conv, bias, ReLU and pool: ConvBlockStage).
    if (rows < 16 || cols < 16) throw InvalidOption("lenet5 needs inputs of at least 16x16 pixels");
    const std::size_t h1 = rows - 4, w1 = cols - 4;
    conv_block(1, rows, cols, 20, 5, "conv1");
    const std::size_t h2 = h1 / 2, w2 = w1 / 2;
    conv_block(20, h2, w2, 50, 5, "conv2");
    const std::size_t h3 = h2 - 4, w3 = w2 - 4;
    const std::size_t flat = 50 * (h3 / 2) * (w3 / 2);
    dense(flat, 500, 0.5, "fc1", true);
    relu(500);
    dense(500, classes, 0.5, "fc2", false);
  }
}

template <class T>
GatedModel<T>::~GatedModel() = default;
template <class T>
GatedModel<T>::GatedModel(GatedModel&&) noexcept = default;
template <class T>
GatedModel<T>& GatedModel<T>::operator=(GatedModel&&) noexcept = default;

template <class T>
std::size_t GatedModel<T>::dense_params() const {
  std::size_t total = 0;
  for (const auto& g : gated_)  // conv: C_out (C_in k k + 1); dense: in*out + out
    total += g.conv ? g.num_gates * (g.group_size + 1) : g.num_gates * g.group_size + g.group_size;
  return total;
}

template <class T>
std::size_t GatedModel<T>::dense_macs() const {
  std::size_t total = 0;
  for (const auto& stage : stages_) {
    if (auto* c = dynamic_cast<const ConvBlockStage<T>*>(stage.get()))
      total += c->layer.out_features() * c->layer.in_channels() * c->layer.kernel() * c->layer.kernel();
    else if (auto* d = dynamic_cast<const DenseStage<T>*>(stage.get()))
      total += d->layer.in_features() * d->layer.out_features();
  }
  return total;
}

template <class T>
void GatedModel<T>::reserve(std::size_t max_batch) {
  if (max_batch == 0) throw InvalidOption("model: max_batch must be > 0");
  max_batch_ = max_batch;
  acts_.clear();
  grads_.clear();
  for (auto& s : stages_) {
    s->reserve(max_batch);
    acts_.push_back(xt::xtensor<T, 2>::from_shape({max_batch, s->out_features()}));
    grads_.push_back(xt::xtensor<T, 2>::from_shape({max_batch, s->out_features()}));
  }
  labels_ = xt::xtensor<std::int32_t, 1>::from_shape({max_batch});
}

template <class T>
void GatedModel<T>::set_runner(RangeRunner* runner) {
  runner_ = runner;
  for (auto& s : stages_) {
    if (auto* d = dynamic_cast<DenseStage<T>*>(s.get())) d->layer.set_runner(runner);
    if (auto* c = dynamic_cast<ConvBlockStage<T>*>(s.get())) c->layer.set_runner(runner);
    if (auto* r = dynamic_cast<ReluStage<T>*>(s.get())) r->set_runner(runner);
  }
}

template <class T>
void GatedModel<T>::init_parameters(View<T, 1> params, std::uint64_t seed, InitScheme scheme) const {
  if (params.size() != num_parameters_)
    throw InvalidOption("model: parameter vector has " + std::to_string(params.size()) + " values, expected " +
                        std::to_string(num_parameters_));
  std::mt19937_64 rng(seed);
  std::size_t offset = 0;
  for (const auto& s : stages_) {
    const std::size_t n = s->num_parameters();
    if (n) s->init(make_view<T, 1>(params.data() + offset, {n}), rng);
    offset += n;
  }
  if (scheme == InitScheme::lz) {
    // [LZ] reset_parameters: He fan-in for weights, zero biases; gates as above.
    for (const auto& g : gated_) {
      const std::size_t fan_in = g.conv ? g.group_size : g.num_gates;
      std::normal_distribution<double> normal(0.0, std::sqrt(2.0 / static_cast<double>(fan_in)));
      const std::size_t weights = g.num_gates * g.group_size;
      for (std::size_t k = 0; k < weights; ++k) params(g.weight_offset + k) = static_cast<T>(normal(rng));
      const std::size_t biases = g.conv ? g.num_gates : g.group_size;
      for (std::size_t k = 0; k < biases; ++k) params(g.bias_offset + k) = T(0);
    }
  }
}

template <class T>
CrossEntropyResult GatedModel<T>::forward_train(ConstView<T, 1> params, ConstView<T, 2> input,
                                                ConstView<std::int32_t, 1> labels, std::uint64_t noise_seed) {
  const std::size_t b = input.shape()[0];
  if (b == 0 || b > max_batch_)
    throw InputError("model: batch of " + std::to_string(b) + " rows, reserved for " + std::to_string(max_batch_));
  if (input.shape()[1] != in_features_)
    throw InputError("model: input has " + std::to_string(input.shape()[1]) + " features, expected " +
                     std::to_string(in_features_));
  batch_ = b;
  run_forward(params, input, true, noise_seed, TestGate::median);
  return softmax_cross_entropy<T>(crows(acts_.back(), b), labels, rows(grads_.back(), b));
}

template <class T>
CrossEntropyResult GatedModel<T>::forward_eval(ConstView<T, 1> params, ConstView<T, 2> input,
                                               ConstView<std::int32_t, 1> labels, TestGate gate) {
  const std::size_t b = input.shape()[0];
  if (b == 0 || b > max_batch_)
    throw InputError("model: batch of " + std::to_string(b) + " rows, reserved for " + std::to_string(max_batch_));
  batch_ = b;
  run_forward(params, input, false, 0, gate);
  return softmax_cross_entropy<T>(crows(acts_.back(), b), labels, rows(grads_.back(), b));
}

template <class T>
void GatedModel<T>::run_forward(ConstView<T, 1> params, ConstView<T, 2> input, bool train, std::uint64_t seed,
                                TestGate gate) {
  // Every gate first (the noise of a gate depends only on (seed, stream, index), so the order
  // does not matter), then the chain: a stage may look at the gates of the stages around it.
  std::size_t offset = 0;
  for (auto& stage : stages_) {
    const std::size_t n = stage->num_parameters();
    if (n) stage->set_gates(make_cview<T, 1>(params.data() + offset, {n}), train, seed, gate);
    offset += n;
  }
  offset = 0;
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    const std::size_t n = stages_[i]->num_parameters();
    auto p = make_cview<T, 1>(params.data() + offset, {n});
    auto in = i == 0 ? input : crows(acts_[i - 1], batch_);
    stages_[i]->forward(p, in, rows(acts_[i], batch_));
    offset += n;
  }
}

template <class T>
ConstView<T, 2> GatedModel<T>::logits() const {
  return crows(acts_.back(), batch_);
}

template <class T>
void GatedModel<T>::backward(ConstView<T, 1> params, View<T, 1> grad) {
  if (grad.size() != num_parameters_) throw InputError("model: gradient has the wrong size");
  const std::size_t b = batch_;
  std::size_t offset = num_parameters_;
  for (std::size_t i = stages_.size(); i-- > 0;) {
    const std::size_t n = stages_[i]->num_parameters();
    offset -= n;
    auto p = make_cview<T, 1>(params.data() + offset, {n});
    auto gp = make_view<T, 1>(grad.data() + offset, {n});
    if (i > 0) {
      auto gi = rows(grads_[i - 1], b);
      stages_[i]->backward(p, crows(acts_[i], b), crows(grads_[i], b), gp, &gi);
    } else {
      stages_[i]->backward(p, crows(acts_[i], b), crows(grads_[i], b), gp, nullptr);
    }
  }
}

template <class T>
template <class F>
void GatedModel<T>::for_gates_in(IndexRange r, F&& f) const {
  std::size_t first = 0;
  for (std::size_t l = 0; l < gated_.size(); ++l) {
    const std::size_t end = first + gated_[l].num_gates;
    const std::size_t b = std::max(first, r.begin), e = std::min(end, r.end);
    if (b < e) f(l, first, b - first, e - first);
    first = end;
  }
}

template <class T>
void GatedModel<T>::layer_densities(ConstView<T, 1> params, std::vector<double>& out) const {
  out.resize(gated_.size());
  if (runner_ == nullptr || runner_->workers() <= 1) {
    for (std::size_t l = 0; l < gated_.size(); ++l)
      out[l] = expected_density<T>(
          make_cview<T, 1>(params.data() + gated_[l].log_alpha_offset, {gated_[l].num_gates}));
    return;
  }
  // The terms 1 - q0 on the workers, then the sums in expected_density's order.
  auto terms = [&](std::size_t, IndexRange r) {
    for_gates_in(r, [&](std::size_t l, std::size_t first, std::size_t b, std::size_t e) {
      const T* la = params.data() + gated_[l].log_alpha_offset;
      for (std::size_t j = b; j < e; ++j)
        gate_terms_[first + j] = prob_nonzero(static_cast<double>(la[j]));
    });
  };
  for_ranges(runner_, num_gates_, terms);
  std::size_t first = 0;
  for (std::size_t l = 0; l < gated_.size(); ++l) {
    const std::size_t n = gated_[l].num_gates;
    double sum = 0.0;
    for (std::size_t j = 0; j < n; ++j) sum += gate_terms_[first + j];
    out[l] = sum / static_cast<double>(n);
    first += n;
  }
}

template <class T>
void GatedModel<T>::add_density_gradient(ConstView<T, 1> params, const std::vector<double>& weights,
                                         View<T, 1> grad) const {
  // add_expected_density_grad per layer, element by element: split or not, the same bits.
  auto add = [&](std::size_t, IndexRange r) {
    for_gates_in(r, [&](std::size_t l, std::size_t, std::size_t b, std::size_t e) {
      if (weights[l] == 0.0) return;
      const auto& g = gated_[l];
      add_expected_density_grad<T>(make_cview<T, 1>(params.data() + g.log_alpha_offset, {g.num_gates}),
                                   weights[l], make_view<T, 1>(grad.data() + g.log_alpha_offset, {g.num_gates}),
                                   IndexRange{b, e});
    });
  };
  for_ranges(runner_, num_gates_, add);
}

template <class T>
void GatedModel<T>::clamp_log_alpha(View<T, 1> params, double lo) const {
  for (const auto& g : gated_)
    saddle::l0::clamp_log_alpha<T>(make_view<T, 1>(params.data() + g.log_alpha_offset, {g.num_gates}), lo);
}

template <class T>
PurgedCounts GatedModel<T>::purged(ConstView<T, 1> params, TestGate gate) const {
  PurgedCounts c;
  const PurgedNetwork net = purge_network<T>(*this, params, gate, &c.active_gates);
  c.params = net.params();
  c.macs = net.macs();
  return c;
}

template class GatedModel<float>;
template class GatedModel<double>;

}  // namespace saddle::l0
