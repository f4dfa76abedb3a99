/// \file rate_problem.cpp
/// The rate-constrained classifier: MLP forward, proxy and strict recalls, one backward.

#include "rate_problem.hpp"

#include <algorithm>
#include <numeric>
#include <random>
#include <string>

namespace rate_constraints {

namespace nn = saddle::nn;

void RateProblemOptions::validate() const {
  if (!(recall > 0.0 && recall <= 1.0)) {
    throw saddle::InvalidOption("recall target " + std::to_string(recall) + " must be in (0, 1]");
  }
  for (std::size_t h : hidden) {
    if (h == 0) throw saddle::InvalidOption("hidden layer width 0: widths must be >= 1");
  }
  if (batch == 0 || eval_batch == 0) {
    throw saddle::InvalidOption("batch and eval_batch must be >= 1");
  }
}

namespace {
nn::Network<float> make_mlp(std::size_t in, const std::vector<std::size_t>& hidden,
                            std::size_t classes) {
  nn::Network<float> net(in);
  for (std::size_t h : hidden) net.add_dense(h).add_relu();
  net.add_dense(classes);
  return net;
}
}  // namespace

RateConstrainedClassifier::RateConstrainedClassifier(const nn::Dataset& data,
                                                     RateProblemOptions options)
    : data_(data),
      options_((options.validate(), std::move(options))),
      classes_(data.num_classes),
      num_fit_(data.train.size() - std::min(options_.validation, data.train.size())),
      net_(make_mlp(data.features(), options_.hidden, data.num_classes)),
      val_net_(make_mlp(data.features(), options_.hidden, data.num_classes)) {
  if (data.train.size() == 0) throw saddle::InputError("rate problem: empty training split");
  if (options_.validation >= data.train.size()) {
    throw saddle::InputError("rate problem: " + std::to_string(options_.validation) +
                             " held-out samples leave none of the " +
                             std::to_string(data.train.size()) + " training samples");
  }
  const std::size_t max_batch = std::max(options_.batch, options_.eval_batch);
  net_.reserve(max_batch);
  order_.resize(num_fit_);
  std::iota(order_.begin(), order_.end(), std::size_t{0});
  if (options_.validation > 0) {
    val_net_.reserve(options_.batch);
    val_order_.resize(options_.validation);
    std::iota(val_order_.begin(), val_order_.end(), num_fit_);
    x_val_ = xt::xtensor<float, 2>::from_shape({options_.batch, data.features()});
  }
  x_batch_ = xt::xtensor<float, 2>::from_shape({options_.batch, data.features()});
  y_batch_ = xt::xtensor<std::int32_t, 1>::from_shape({options_.batch});
  probs_ = xt::xtensor<float, 2>::from_shape({options_.batch, classes_});
  dlogits_ = xt::xtensor<float, 2>::from_shape({options_.batch, classes_});
  proxy_.assign(classes_, 0.0);
  recall_.assign(classes_, 0.0);
  counts_.assign(classes_, 0);
  val_counts_.assign(classes_, 0);
  correct_.assign(classes_, 0);
}

std::size_t RateConstrainedClassifier::num_parameters() const { return net_.num_parameters(); }

std::vector<saddle::ConstraintSpec> RateConstrainedClassifier::constraints() const {
  std::vector<saddle::ConstraintSpec> specs;
  if (!options_.constrained) return specs;
  for (std::size_t k = 0; k < classes_; ++k) {
    specs.push_back({"recall[" + std::to_string(k) + "]>=" + std::to_string(options_.recall),
                     saddle::ConstraintKind::inequality});
  }
  return specs;
}

void RateConstrainedClassifier::initial_point(saddle::Vector<float>& x, std::uint64_t seed) const {
  net_.init_parameters(nn::view(x), seed);
}

std::size_t RateConstrainedClassifier::num_samples() const { return num_fit_; }

void RateConstrainedClassifier::shuffle(std::uint64_t seed) {
  // Depends on the seed only: identity, then Fisher-Yates (the held-out order continues
  // with the same generator).
  std::iota(order_.begin(), order_.end(), std::size_t{0});
  std::iota(val_order_.begin(), val_order_.end(), num_fit_);
  std::mt19937_64 rng(seed);
  for (auto* order : {&order_, &val_order_}) {
    for (std::size_t i = order->size(); i > 1; --i) {
      std::uniform_int_distribution<std::size_t> pick(0, i - 1);
      std::swap((*order)[i - 1], (*order)[pick(rng)]);
    }
  }
}

void RateConstrainedClassifier::strict_on_validation(const saddle::Vector<float>& x,
                                                     std::size_t batch_index) {
  // Held-out minibatch j: rows [j*B, j*B + B) of the held-out order, cyclically.
  const std::size_t nv = val_order_.size(), f = data_.features();
  const std::size_t b = std::min(options_.batch, nv);
  const std::size_t start = (batch_index * options_.batch) % nv;
  for (std::size_t r = 0; r < b; ++r) {
    const std::size_t row = val_order_[(start + r) % nv];
    std::copy_n(data_.train.x.data() + row * f, f, x_val_.data() + r * f);
  }
  const auto logits = val_net_.forward(nn::cview(x), nn::crows(x_val_, b), nn::Mode::eval);
  std::fill(correct_.begin(), correct_.end(), std::size_t{0});
  std::fill(val_counts_.begin(), val_counts_.end(), std::size_t{0});
  for (std::size_t r = 0; r < b; ++r) {
    const float* l = logits.data() + r * classes_;
    const auto y = static_cast<std::size_t>(data_.train.y(val_order_[(start + r) % nv]));
    const std::size_t pred = static_cast<std::size_t>(std::max_element(l, l + classes_) - l);
    ++val_counts_[y];
    if (pred == y) ++correct_[y];
  }
  for (std::size_t k = 0; k < classes_; ++k) {
    recall_[k] = val_counts_[k] > 0
                     ? static_cast<double>(correct_[k]) / static_cast<double>(val_counts_[k])
                     : options_.recall;  // absent class: strict value 0
  }
}

void RateConstrainedClassifier::forward(const saddle::Vector<float>& x, const saddle::Batch& batch,
                                        saddle::Evaluation& eval) {
  const std::size_t n = num_fit_;
  const std::size_t begin = batch.size == 0 ? 0 : batch.begin;
  const std::size_t b = batch.size == 0 ? std::min(n, options_.batch) : batch.size;
  if (b > options_.batch || begin + b > n) {
    throw saddle::InputError("rate problem: batch [" + std::to_string(begin) + ", " +
                             std::to_string(begin + b) + ") outside the " + std::to_string(n) +
                             " samples or larger than batch " + std::to_string(options_.batch));
  }
  const std::size_t f = data_.features();
  for (std::size_t r = 0; r < b; ++r) {
    const std::size_t row = order_[begin + r];
    std::copy_n(data_.train.x.data() + row * f, f, x_batch_.data() + r * f);
    y_batch_(r) = data_.train.y(row);
  }
  batch_rows_ = b;
  last_x_ = &x;
  const auto xv = nn::cview(x);
  const auto labels = nn::make_cview<std::int32_t, 1>(y_batch_.data(), {b});
  const auto logits = net_.forward(xv, nn::crows(x_batch_, b), nn::Mode::train, batch.noise_seed);
  eval.loss = nn::softmax_cross_entropy<float>(logits, labels).loss;
  nn::softmax<float>(logits, nn::rows(probs_, b));

  std::fill(proxy_.begin(), proxy_.end(), 0.0);
  std::fill(counts_.begin(), counts_.end(), std::size_t{0});
  std::fill(correct_.begin(), correct_.end(), std::size_t{0});
  for (std::size_t r = 0; r < b; ++r) {
    const float* p = probs_.data() + r * classes_;
    const auto y = static_cast<std::size_t>(y_batch_(r));
    const std::size_t pred = static_cast<std::size_t>(std::max_element(p, p + classes_) - p);
    ++counts_[y];
    proxy_[y] += static_cast<double>(p[y]);
    if (pred == y) ++correct_[y];
  }
  for (std::size_t k = 0; k < classes_; ++k) {
    if (counts_[k] > 0) {
      proxy_[k] /= static_cast<double>(counts_[k]);
      recall_[k] = static_cast<double>(correct_[k]) / static_cast<double>(counts_[k]);
    } else {  // absent class: value 0 for both (see the header)
      proxy_[k] = options_.recall;
      recall_[k] = options_.recall;
    }
  }
  if (options_.validation > 0) strict_on_validation(x, begin / options_.batch);
  if (options_.constrained) {
    for (std::size_t k = 0; k < classes_; ++k) {
      eval.constraints(k) = options_.recall - proxy_[k];
      eval.strict(k) = options_.recall - recall_[k];
    }
    eval.has_strict = true;
  }
}

void RateConstrainedClassifier::backward(const saddle::Vector<double>& weights,
                                         saddle::Vector<float>& grad) {
  if (last_x_ == nullptr) throw saddle::InputError("rate problem: backward before forward");
  const std::size_t b = batch_rows_;
  const double inv_b = 1.0 / static_cast<double>(b);
  // dL/dlogit_j = (p_j - [j = y]) / B                         (mean cross-entropy)
  //             - (w_y / n_y) p_y ([j = y] - p_j)               (w_y (r - s_y); ds/dlogit)
  for (std::size_t r = 0; r < b; ++r) {
    const float* p = probs_.data() + r * classes_;
    float* g = dlogits_.data() + r * classes_;
    const auto y = static_cast<std::size_t>(y_batch_(r));
    const double py = static_cast<double>(p[y]);
    const double c = options_.constrained ? weights(y) / static_cast<double>(counts_[y]) * py : 0.0;
    for (std::size_t j = 0; j < classes_; ++j) {
      const double pj = static_cast<double>(p[j]);
      const double onehot = j == y ? 1.0 : 0.0;
      g[j] = static_cast<float>((pj - onehot) * inv_b - c * (onehot - pj));
    }
  }
  net_.backward(nn::cview(*last_x_), nn::crows(dlogits_, b), nn::view(grad));
}

ClassMetrics RateConstrainedClassifier::evaluate(const saddle::Vector<float>& x,
                                                 const nn::DataSplit& split) {
  return evaluate(x, split, 0, split.size());
}

ClassMetrics RateConstrainedClassifier::evaluate(const saddle::Vector<float>& x,
                                                 const nn::DataSplit& split, std::size_t first,
                                                 std::size_t end) {
  ClassMetrics m;
  m.recall.assign(classes_, 0.0);
  m.count.assign(classes_, 0);
  std::vector<std::size_t> correct(classes_, 0);
  const std::size_t f = data_.features();
  if (first >= end || end > split.size()) {
    throw saddle::InputError("rate problem: evaluate rows [" + std::to_string(first) + ", " +
                             std::to_string(end) + ") of a split of " +
                             std::to_string(split.size()));
  }
  const std::size_t n = end - first;
  if (split.x.shape()[1] != f) {
    throw saddle::InputError("rate problem: split has " + std::to_string(split.x.shape()[1]) +
                             " features, the network " + std::to_string(f));
  }
  double loss = 0.0;
  std::size_t wrong = 0;
  for (std::size_t begin = first; begin < end; begin += options_.eval_batch) {
    const std::size_t b = std::min(options_.eval_batch, end - begin);
    const auto in = nn::make_cview<float, 2>(split.x.data() + begin * f, {b, f});
    const auto labels = nn::make_cview<std::int32_t, 1>(split.y.data() + begin, {b});
    const auto logits = net_.forward(nn::cview(x), in, nn::Mode::eval);
    loss += nn::softmax_cross_entropy<float>(logits, labels).loss * static_cast<double>(b);
    for (std::size_t r = 0; r < b; ++r) {
      const float* l = logits.data() + r * classes_;
      const auto y = static_cast<std::size_t>(labels(r));
      const std::size_t pred = static_cast<std::size_t>(std::max_element(l, l + classes_) - l);
      ++m.count[y];
      if (pred == y) {
        ++correct[y];
      } else {
        ++wrong;
      }
    }
  }
  for (std::size_t k = 0; k < classes_; ++k) {
    m.recall[k] =
        m.count[k] > 0 ? static_cast<double>(correct[k]) / static_cast<double>(m.count[k]) : 0.0;
  }
  m.error = static_cast<double>(wrong) / static_cast<double>(n);
  m.loss = loss / static_cast<double>(n);
  batch_rows_ = 0;
  last_x_ = nullptr;  // the network's buffers now hold the evaluation: a backward must re-forward
  return m;
}

}  // namespace rate_constraints
