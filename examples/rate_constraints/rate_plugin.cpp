// The rate-constrained classifier as a plugin of the `saddle` program, so that its solver
// variants can be compared from the command line like any built-in problem:
//
//   saddle solve --plugin librate_plugin.so --problem fashion-recall
//       --problem-args recall=0.8,validation=10000 --solver gda --epochs 20
//   saddle compare --plugin librate_plugin.so --problem fashion-recall
//       --variants gda,extragradient --seeds 1,2,3 --epochs 5 --out runs/fashion-recall
// (each command on one line).
//
// --problem-args (all optional): data=DIR (default: Debian's dataset-fashion-mnist folder),
// dataset=fashion-mnist|mnist, recall=R in (0, 1] (0.8), validation=V held-out samples (0),
// hidden=300:100 (hidden widths, ':'-separated; 'none' for a linear model), batch=B (largest
// minibatch, 128; `saddle solve --batch` must not exceed it). Defaults of the solve: Adam
// 3e-4, dual gradient ascent 3e-3, batch 128, 20 epochs (the example's, docs/results.md).
#include <memory>
#include <sstream>
#include <string>

#include <saddle/plugin.hpp>

#include "rate_problem.hpp"

namespace {

std::size_t parse_size(const std::string& key, const std::string& text) {
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || text[0] == '-')
    throw saddle::InputError("fashion-recall: " + key + " = '" + text + "': expected a non-negative integer");
  return static_cast<std::size_t>(v);
}

double parse_number(const std::string& key, const std::string& text) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty())
    throw saddle::InputError("fashion-recall: " + key + " = '" + text + "': expected a number");
  return v;
}

// Owns the data set and the problem over it (RateConstrainedClassifier keeps the data by
// reference); forwards the problem interface.
class FashionRecall final : public saddle::ProblemF {
 public:
  explicit FashionRecall(const saddle::ProblemArgs& args) : data_(load(args)), problem_(data_, options(args)) {}

  std::size_t num_parameters() const override { return problem_.num_parameters(); }
  std::vector<saddle::ConstraintSpec> constraints() const override { return problem_.constraints(); }
  void initial_point(saddle::Vector<float>& x, std::uint64_t seed) const override { problem_.initial_point(x, seed); }
  void forward(const saddle::Vector<float>& x, const saddle::Batch& batch, saddle::Evaluation& eval) override {
    problem_.forward(x, batch, eval);
  }
  void backward(const saddle::Vector<double>& weights, saddle::Vector<float>& grad) override {
    problem_.backward(weights, grad);
  }
  std::size_t num_samples() const override { return problem_.num_samples(); }
  void shuffle(std::uint64_t seed) override { problem_.shuffle(seed); }

 private:
  static saddle::nn::Dataset load(const saddle::ProblemArgs& args) {
    for (const auto& [key, value] : args) {
      (void)value;
      if (key != "data" && key != "dataset" && key != "recall" && key != "validation" && key != "hidden" &&
          key != "batch")
        throw saddle::InputError("fashion-recall: unknown --problem-args key '" + key +
                                 "' (keys: data, dataset, recall, validation, hidden, batch)");
    }
    const auto dataset = args.count("dataset") ? args.at("dataset") : std::string("fashion-mnist");
    const auto dir = args.count("data") ? args.at("data") : std::string();
    return saddle::nn::load_dataset(dataset, dir, saddle::nn::InputScaling::unit);
  }
  static rate_constraints::RateProblemOptions options(const saddle::ProblemArgs& args) {
    rate_constraints::RateProblemOptions o;
    if (args.count("recall")) o.recall = parse_number("recall", args.at("recall"));
    if (args.count("validation")) o.validation = parse_size("validation", args.at("validation"));
    if (args.count("batch")) o.batch = parse_size("batch", args.at("batch"));
    if (args.count("hidden")) {
      o.hidden.clear();
      if (args.at("hidden") != "none") {
        std::istringstream in(args.at("hidden"));
        for (std::string item; std::getline(in, item, ':');) o.hidden.push_back(parse_size("hidden", item));
      }
    }
    return o;
  }

  saddle::nn::Dataset data_;
  rate_constraints::RateConstrainedClassifier problem_;
};

saddle::SolverOptions fashion_defaults() {
  saddle::SolverOptions o;
  o.primal.kind = saddle::PrimalRuleKind::adam;
  o.primal.lr = 3e-4;
  o.dual.lr = 3e-3;
  o.batch_size = 128;
  o.max_epochs = 20;
  o.max_iterations = 0;
  return o;
}

}  // namespace

SADDLE_PLUGIN(registry) {
  registry.add(saddle::plugin_problem<FashionRecall>(
                   "fashion-recall",
                   "MLP on Fashion-MNIST: min cross-entropy s.t. recall of every class >= r (proxy constraints; "
                   "--problem-args data=DIR,recall=R,validation=V,hidden=A:B,batch=B)")
                   .with_defaults(fashion_defaults()));
}
