// Group-density constrained L0 problem (Gallego-Posada et al. 2021, [GP] utils/cmp_utils.py).
#include "saddle/problems/l0/density_problem.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

namespace saddle::l0 {

void DensityProblemOptions::validate(std::size_t num_gated_layers) const {
  for (const auto& g : groups) {
    if (!(g.target > 0.0 && g.target <= 1.0)) {
      std::ostringstream s;
      s << "target density " << g.target << " of group '" << g.name << "': must be in (0, 1]";
      throw InvalidOption(s.str());
    }
    if (g.layers.empty()) throw InvalidOption("density group '" + g.name + "' has no layers");
    for (auto l : g.layers)
      if (l >= num_gated_layers)
        throw InvalidOption("density group '" + g.name + "' names layer " + std::to_string(l) + ": the model has " +
                            std::to_string(num_gated_layers) + " gated layers");
  }
  if (batch == 0) throw InvalidOption("batch = 0: must be > 0");
  if (eval_batch == 0) throw InvalidOption("eval_batch = 0: must be > 0");
  if (!(weight_decay >= 0.0)) throw InvalidOption("weight_decay = " + std::to_string(weight_decay) + ": must be >= 0");
  if (!(log_alpha_min >= -20.0 && log_alpha_min < 0.0))
    throw InvalidOption("log_alpha_min = " + std::to_string(log_alpha_min) + ": must be in [-20, 0)");
}

std::vector<DensityGroup> model_level(const GatedModel<float>& model, double target) {
  DensityGroup g;
  g.name = "model";
  g.target = target;
  for (std::size_t l = 0; l < model.gated_layers().size(); ++l) g.layers.push_back(l);
  return {g};
}

std::vector<DensityGroup> layer_level(const GatedModel<float>& model, const std::vector<double>& targets) {
  const auto& layers = model.gated_layers();
  if (targets.size() != layers.size())
    throw InvalidOption(std::to_string(targets.size()) + " layer densities given: the " + to_string(model.architecture()) +
                        " model has " + std::to_string(layers.size()) + " gated layers");
  std::vector<DensityGroup> groups;
  for (std::size_t l = 0; l < layers.size(); ++l) groups.push_back({layers[l].name, {l}, targets[l]});
  return groups;
}

DensityProblem::DensityProblem(const Dataset& data, DensityProblemOptions options)
    : data_(data), options_(std::move(options)), model_(options_.architecture, data.rows, data.cols, data.num_classes) {
  if (options_.groups.empty()) options_.groups = model_level(model_, 1.0);
  options_.validate(model_.gated_layers().size());
  if (data.train.size() == 0) throw InputError("dataset '" + data.name + "' has an empty training split");
  if (options_.batch > data.train.size())
    throw InputError("batch = " + std::to_string(options_.batch) + ": larger than the training split of '" + data.name +
                     "' (" + std::to_string(data.train.size()) + " samples)");
  model_.reserve(std::max(options_.batch, options_.eval_batch));
  order_.resize(data.train.size());
  std::iota(order_.begin(), order_.end(), std::size_t{0});
  x_batch_ = xt::xtensor<float, 2>::from_shape({options_.batch, model_.in_features()});
  y_batch_ = xt::xtensor<std::int32_t, 1>::from_shape({options_.batch});
  densities_.resize(model_.gated_layers().size());
  layer_weights_.resize(model_.gated_layers().size());
  for (const auto& g : options_.groups) {
    double nsp = 0.0;
    for (auto l : g.layers) nsp += static_cast<double>(model_.gated_layers()[l].sparsifiable);
    group_nsp_.push_back(nsp);
  }
  std::size_t gates = 0;
  for (const auto& g : model_.gated_layers()) gates += g.num_gates;
  held_log_alpha_.resize(gates);
}

void DensityProblem::fix_gates() {
  if (gates_fixed_) return;
  gates_fixed_ = true;
  capture_gates_ = true;
}

void DensityProblem::release_gates() {
  gates_fixed_ = false;
  capture_gates_ = false;
}

std::size_t DensityProblem::num_parameters() const { return model_.num_parameters(); }

std::vector<ConstraintSpec> DensityProblem::constraints() const {
  std::vector<ConstraintSpec> specs;
  for (const auto& g : options_.groups)
    specs.push_back({"density_" + g.name, ConstraintKind::inequality,
                     options_.dual_scale == DualScale::target ? g.target : 1.0});
  return specs;
}

void DensityProblem::initial_point(Vector<float>& x, std::uint64_t seed) const {
  model_.init_parameters(make_view<float, 1>(x.data(), {x.size()}), seed, options_.init);
}

std::size_t DensityProblem::num_samples() const { return data_.train.size(); }

void DensityProblem::shuffle(std::uint64_t seed) {
  // The order depends on the seed only (identity, then Fisher-Yates), so a resumed run
  // sees the same minibatches.
  std::iota(order_.begin(), order_.end(), std::size_t{0});
  std::mt19937_64 rng(seed);
  for (std::size_t i = order_.size(); i > 1; --i) {
    std::uniform_int_distribution<std::size_t> pick(0, i - 1);
    std::swap(order_[i - 1], order_[pick(rng)]);
  }
}

void DensityProblem::set_runner(RangeRunner* runner) { model_.set_runner(runner); }

void DensityProblem::project(Vector<float>& x) const {
  model_.clamp_log_alpha(make_view<float, 1>(x.data(), {x.size()}), options_.log_alpha_min);
  if (gates_fixed_ && !capture_gates_) {
    // The fixed-gate phase's feasible set is {log_alpha = held values}: its projection.
    const float* held = held_log_alpha_.data();
    for (const auto& g : model_.gated_layers()) {
      std::copy(held, held + g.num_gates, x.data() + g.log_alpha_offset);
      held += g.num_gates;
    }
  }
}

std::vector<double> DensityProblem::layer_densities(const Vector<float>& x) const {
  std::vector<double> d;
  model_.layer_densities(make_cview<float, 1>(x.data(), {x.size()}), d);
  return d;
}

double DensityProblem::model_density(const Vector<float>& x) const {
  const auto d = layer_densities(x);
  double num = 0.0, den = 0.0;
  for (std::size_t l = 0; l < d.size(); ++l) {
    num += d[l] * static_cast<double>(model_.gated_layers()[l].sparsifiable);
    den += static_cast<double>(model_.gated_layers()[l].sparsifiable);
  }
  return num / den;
}

double DensityProblem::test_time_density(const Vector<float>& x) const {
  return test_time_density(model_.purged(make_cview<float, 1>(x.data(), {x.size()}), options_.test_gate));
}

double DensityProblem::test_time_density(const PurgedCounts& counts) const {
  double num = 0.0, den = 0.0;
  for (std::size_t l = 0; l < counts.active_gates.size(); ++l) {
    const auto& g = model_.gated_layers()[l];
    num += static_cast<double>(counts.active_gates[l]) * static_cast<double>(g.sparsifiable) / static_cast<double>(g.num_gates);
    den += static_cast<double>(g.sparsifiable);
  }
  return num / den;
}

std::vector<double> DensityProblem::group_measures(const Vector<float>& x) const {
  const auto d = layer_densities(x);
  std::vector<double> out;
  for (std::size_t k = 0; k < options_.groups.size(); ++k) {
    double active = 0.0;
    for (auto l : options_.groups[k].layers) active += d[l] * static_cast<double>(model_.gated_layers()[l].sparsifiable);
    out.push_back(options_.measure == DensityMeasure::density ? active / group_nsp_[k] : active);
  }
  return out;
}

void DensityProblem::forward(const Vector<float>& x, const Batch& batch, Evaluation& eval) {
  const std::size_t n = data_.train.size();
  const std::size_t begin = batch.size == 0 ? 0 : batch.begin;
  const std::size_t rows_in_batch = batch.size == 0 ? std::min(options_.batch, n) : batch.size;
  if (rows_in_batch > options_.batch || begin + rows_in_batch > n)
    throw InputError("density problem: batch [" + std::to_string(begin) + ", " + std::to_string(begin + rows_in_batch) +
                     ") does not fit the reserved batch of " + std::to_string(options_.batch));
  // Gather the batch's rows (contiguous copy per row: the GEMMs then run on a dense block).
  const std::size_t f = model_.in_features();
  const float* src = data_.train.x.data();
  float* dst = x_batch_.data();
  auto gather = [&](std::size_t part, std::size_t parts) {
    const IndexRange rr = block_range(rows_in_batch, part, parts, 1);
    for (std::size_t r = rr.begin; r < rr.end; ++r) {
      const std::size_t row = order_[begin + r];
      std::copy(src + row * f, src + (row + 1) * f, dst + r * f);
      y_batch_(r) = data_.train.y(row);
    }
  };
  for_parts(model_.runner(), gather);
  const auto params = make_cview<float, 1>(x.data(), {x.size()});
  if (capture_gates_) {
    float* held = held_log_alpha_.data();
    for (const auto& g : model_.gated_layers()) {
      std::copy(x.data() + g.log_alpha_offset, x.data() + g.log_alpha_offset + g.num_gates, held);
      held += g.num_gates;
    }
    capture_gates_ = false;
  }
  const auto input = crows(x_batch_, rows_in_batch);
  const auto labels = make_cview<std::int32_t, 1>(y_batch_.data(), {rows_in_batch});
  const auto result = gates_fixed_ ? model_.forward_eval(params, input, labels, options_.test_gate)
                                   : model_.forward_train(params, input, labels, batch.noise_seed);
  last_x_ = &x;
  last_error_ = 1.0 - static_cast<double>(result.correct) / static_cast<double>(rows_in_batch);
  eval.loss = result.loss;

  model_.layer_densities(params, densities_);
  if (options_.weight_decay > 0.0) {
    // [GP] l2_penalty: 0.5 * wd * [ sum_g (1-q0_g) ||W_g||^2 + bias part ], q0 detached.
    double l2 = 0.0;
    for (const auto& g : model_.gated_layers()) {
      for (std::size_t j = 0; j < g.num_gates; ++j) {
        const double p = prob_nonzero(static_cast<double>(x(g.log_alpha_offset + j)));
        double w2 = 0.0;
        const float* w = x.data() + g.weight_offset + j * g.group_size;
        for (std::size_t k = 0; k < g.group_size; ++k) w2 += static_cast<double>(w[k]) * w[k];
        if (g.conv) w2 += static_cast<double>(x(g.bias_offset + j)) * x(g.bias_offset + j);
        l2 += p * w2;
      }
      if (!g.conv)
        for (std::size_t k = 0; k < g.group_size; ++k) l2 += static_cast<double>(x(g.bias_offset + k)) * x(g.bias_offset + k);
    }
    eval.loss += 0.5 * options_.weight_decay * l2;
  }
  for (std::size_t k = 0; k < options_.groups.size(); ++k) {
    double active = 0.0;
    for (auto l : options_.groups[k].layers) active += densities_[l] * static_cast<double>(model_.gated_layers()[l].sparsifiable);
    if (options_.measure == DensityMeasure::density)
      eval.constraints(k) = active / group_nsp_[k] - options_.groups[k].target;
    else
      eval.constraints(k) = active - options_.groups[k].target * group_nsp_[k];
  }
}

void DensityProblem::backward(const Vector<double>& weights, Vector<float>& grad) {
  if (!last_x_) throw InputError("density problem: backward called before forward");
  const Vector<float>& x = *last_x_;
  const auto params = make_cview<float, 1>(x.data(), {x.size()});
  auto g = make_view<float, 1>(grad.data(), {grad.size()});
  model_.backward(params, g);
  if (gates_fixed_) {
    // log_alpha is held: no gradient through the (deterministic) gates, no density term.
    for (const auto& gl : model_.gated_layers())
      std::fill(grad.data() + gl.log_alpha_offset, grad.data() + gl.log_alpha_offset + gl.num_gates, 0.0f);
  } else {
    // d measure_g / d density_l = nsp_l / nsp_g (density) or nsp_l (count).
    std::fill(layer_weights_.begin(), layer_weights_.end(), 0.0);
    for (std::size_t k = 0; k < options_.groups.size(); ++k)
      for (auto l : options_.groups[k].layers) {
        const double nsp = static_cast<double>(model_.gated_layers()[l].sparsifiable);
        layer_weights_[l] += weights(k) * (options_.measure == DensityMeasure::density ? nsp / group_nsp_[k] : nsp);
      }
    model_.add_density_gradient(params, layer_weights_, g);
  }
  if (options_.weight_decay > 0.0) {
    const float wd = static_cast<float>(options_.weight_decay);
    for (const auto& gl : model_.gated_layers()) {
      for (std::size_t j = 0; j < gl.num_gates; ++j) {
        const float p = static_cast<float>(prob_nonzero(static_cast<double>(x(gl.log_alpha_offset + j))));
        const float* w = x.data() + gl.weight_offset + j * gl.group_size;
        float* gw = grad.data() + gl.weight_offset + j * gl.group_size;
        for (std::size_t k = 0; k < gl.group_size; ++k) gw[k] += wd * p * w[k];
        if (gl.conv) grad(gl.bias_offset + j) += wd * p * x(gl.bias_offset + j);
      }
      if (!gl.conv)
        for (std::size_t k = 0; k < gl.group_size; ++k) grad(gl.bias_offset + k) += wd * x(gl.bias_offset + k);
    }
  }
}

EvalMetrics DensityProblem::evaluate(const Vector<float>& x, const DataSplit& split) {
  return evaluate(x, split, 0, split.size());
}

EvalMetrics DensityProblem::evaluate(const Vector<float>& x, const DataSplit& split, std::size_t first,
                                     std::size_t count) {
  if (first > split.size() || count > split.size() - first)
    throw InputError("evaluate: rows [" + std::to_string(first) + ", " + std::to_string(first + count) +
                     ") outside a split of " + std::to_string(split.size()) + " rows");
  EvalMetrics m;
  const auto params = make_cview<float, 1>(x.data(), {x.size()});
  const std::size_t f = model_.in_features();
  double loss = 0.0;
  std::size_t correct = 0;
  for (std::size_t done = 0; done < count; done += options_.eval_batch) {
    const std::size_t begin = first + done;
    const std::size_t b = std::min(options_.eval_batch, count - done);
    const auto r = model_.forward_eval(params, make_cview<float, 2>(split.x.data() + begin * f, {b, f}),
                                       make_cview<std::int32_t, 1>(split.y.data() + begin, {b}), options_.test_gate);
    loss += r.loss * static_cast<double>(b);
    correct += r.correct;
  }
  m.count = count;
  m.correct = correct;
  m.loss = count ? loss / static_cast<double>(count) : 0.0;
  m.error = count ? 1.0 - static_cast<double>(correct) / static_cast<double>(count) : 0.0;
  return m;
}

}  // namespace saddle::l0
