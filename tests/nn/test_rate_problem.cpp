// The rate-constraint example (examples/rate_constraints): proxy and strict values with
// known answers, a finite-difference check of the surrogate's gradient, and the program run
// end to end on a tiny generated IDX data set, including its bad-input exits.

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "cli/cli_test_util.hpp"
#include "cli/mini_json.hpp"
#include "rate_problem.hpp"
#include "saddle/gradient_check.hpp"

using namespace saddle;
using rate_constraints::RateConstrainedClassifier;
using rate_constraints::RateProblemOptions;

namespace {

// n samples of a 2x2 "image" (4 features), 3 classes, labels as given, pixels N(0, 1).
nn::Dataset tiny_dataset(const std::vector<std::int32_t>& labels, std::uint64_t seed) {
  nn::Dataset d;
  d.name = "tiny";
  d.rows = 2;
  d.cols = 2;
  d.num_classes = 3;
  const std::size_t n = labels.size();
  d.train.x = xt::xtensor<float, 2>::from_shape({n, 4});
  d.train.y = xt::xtensor<std::int32_t, 1>::from_shape({n});
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (auto& v : d.train.x) v = static_cast<float>(normal(rng));
  for (std::size_t i = 0; i < n; ++i) d.train.y(i) = labels[i];
  d.test = d.train;
  return d;
}

}  // namespace

TEST(RateProblem, ZeroParametersGiveTheKnownProxyAndStrictValues) {
  // theta = 0: logits 0, softmax 1/3 for every class, so s_k = 1/3, loss = log 3; the arg-max
  // takes the first class on ties, so recall_0 = 1 and recall_1 = recall_2 = 0.
  const nn::Dataset data = tiny_dataset({0, 1, 2, 0, 1, 1}, 1);
  RateProblemOptions o;
  o.hidden = {};
  o.recall = 0.7;
  o.batch = 6;
  RateConstrainedClassifier p(data, o);
  ASSERT_EQ(p.num_parameters(), 4u * 3 + 3);
  ASSERT_EQ(p.constraints().size(), 3u);
  Vector<float> x = xt::zeros<float>({p.num_parameters()});
  Evaluation e;
  e.resize(3);
  p.forward(x, Batch{0, 6, 0}, e);
  EXPECT_NEAR(e.loss, std::log(3.0), 1e-6);
  ASSERT_TRUE(e.has_strict);
  for (std::size_t k = 0; k < 3; ++k) EXPECT_NEAR(e.constraints(k), 0.7 - 1.0 / 3.0, 1e-7);
  EXPECT_NEAR(e.strict(0), 0.7 - 1.0, 1e-12);
  EXPECT_NEAR(e.strict(1), 0.7, 1e-12);
  EXPECT_NEAR(e.strict(2), 0.7, 1e-12);
  EXPECT_EQ(p.last_counts(), (std::vector<std::size_t>{2, 3, 1}));
  // A batch without class 2 (samples 0, 1): its constraint and strict value are 0.
  p.forward(x, Batch{0, 2, 0}, e);
  EXPECT_DOUBLE_EQ(e.constraints(2), 0.0);
  EXPECT_DOUBLE_EQ(e.strict(2), 0.0);
  EXPECT_NEAR(e.strict(0), 0.7 - 1.0, 1e-12);
}

TEST(RateProblem, HeldOutStrictValuesComeFromTheHeldOutSamples) {
  // 9 samples, the last 3 held out (labels 2, 2, 0). theta = 0 predicts class 0 everywhere:
  // held-out recall_0 = 1/1, recall_2 = 0/2, class 1 absent (strict 0); the proxies still
  // come from the 6 training samples (1/3 each).
  const nn::Dataset data = tiny_dataset({0, 1, 2, 0, 1, 1, 2, 2, 0}, 4);
  RateProblemOptions o;
  o.hidden = {};
  o.recall = 0.7;
  o.batch = 6;
  o.validation = 3;
  RateConstrainedClassifier p(data, o);
  EXPECT_EQ(p.num_samples(), 6u);
  EXPECT_EQ(p.num_fit(), 6u);
  Vector<float> x = xt::zeros<float>({p.num_parameters()});
  Evaluation e;
  e.resize(3);
  p.forward(x, Batch{0, 6, 0}, e);
  for (std::size_t k = 0; k < 3; ++k) EXPECT_NEAR(e.constraints(k), 0.7 - 1.0 / 3.0, 1e-7);
  EXPECT_NEAR(e.strict(0), 0.7 - 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(e.strict(1), 0.0);
  EXPECT_NEAR(e.strict(2), 0.7, 1e-12);
  EXPECT_THROW(p.forward(x, Batch{4, 3, 0}, e), InputError);  // row 6 is held out
  // At a random point: strict values = r - recall of evaluate() on the held-out rows.
  p.initial_point(x, 8);
  p.shuffle(3);
  p.forward(x, Batch{0, 6, 0}, e);
  const auto held = p.evaluate(x, data.train, 6, 9);
  for (std::size_t k = 0; k < 3; ++k) {
    const double expected = held.count[k] > 0 ? 0.7 - held.recall[k] : 0.0;
    EXPECT_NEAR(e.strict(k), expected, 1e-12) << k;
  }
  o.validation = 9;
  EXPECT_THROW(RateConstrainedClassifier(data, o), InputError);  // nothing left to train on
  EXPECT_THROW(p.evaluate(x, data.train, 5, 5), InputError);
}

TEST(RateProblem, StrictValuesAreTheMinibatchRecalls) {
  // At a random point, the strict values of a full-data batch equal r - recall from
  // evaluate(), an independent count over the same samples; proxies are in [r - 1, r].
  std::vector<std::int32_t> labels;
  for (int i = 0; i < 40; ++i) labels.push_back(i % 3);
  const nn::Dataset data = tiny_dataset(labels, 2);
  RateProblemOptions o;
  o.hidden = {6};
  o.recall = 0.9;
  o.batch = 40;
  RateConstrainedClassifier p(data, o);
  Vector<float> x = Vector<float>::from_shape({p.num_parameters()});
  p.initial_point(x, 3);
  Evaluation e;
  e.resize(3);
  p.forward(x, Batch{0, 40, 0}, e);
  const auto m = p.evaluate(x, data.train);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_NEAR(e.strict(k), 0.9 - m.recall[k], 1e-12) << k;
    EXPECT_GE(e.constraints(k), 0.9 - 1.0);
    EXPECT_LE(e.constraints(k), 0.9);
  }
  EXPECT_NEAR(e.loss, m.loss, 1e-5);
}

TEST(RateProblem, SurrogateGradientMatchesFiniteDifferences) {
  // grad of CE + sum_k w_k (r - s_k) against central differences of forward, for a linear
  // model (smooth) and a one-hidden-layer MLP. Float problem: step 1e-3 and tolerances
  // 5e-4 + 5e-3 relative (float rounding of the loss / step is ~1e-4).
  std::vector<std::int32_t> labels;
  for (int i = 0; i < 12; ++i) labels.push_back((i * 7) % 3);
  const nn::Dataset data = tiny_dataset(labels, 5);
  for (const std::vector<std::size_t>& hidden :
       {std::vector<std::size_t>{}, std::vector<std::size_t>{5}}) {
    RateProblemOptions o;
    o.hidden = hidden;
    o.batch = 12;
    RateConstrainedClassifier p(data, o);
    Vector<float> x = Vector<float>::from_shape({p.num_parameters()});
    p.initial_point(x, 7);
    Vector<double> w = {2.0, 3.5, -1.5};  // large, distinct: the surrogate term dominates
    GradientCheckOptions g;
    g.batch = Batch{0, 12, 0};
    g.step = 1e-3;
    g.abs_tolerance = 5e-4;
    g.rel_tolerance = 5e-3;
    const GradientCheckResult r = check_gradient(p, x, w, g);
    EXPECT_TRUE(r.ok) << "hidden " << hidden.size() << ": " << r.report();
    Vector<double> zero = xt::zeros<double>({3});
    const GradientCheckResult r0 = check_gradient(p, x, zero, g);  // the loss alone
    EXPECT_TRUE(r0.ok) << r0.report();
  }
}

TEST(RateProblem, OptionsAndBatchesAreValidated) {
  const nn::Dataset data = tiny_dataset({0, 1, 2}, 1);
  RateProblemOptions o;
  o.recall = 0.0;
  EXPECT_THROW(RateConstrainedClassifier(data, o), InvalidOption);
  o.recall = 0.8;
  o.hidden = {4, 0};
  EXPECT_THROW(RateConstrainedClassifier(data, o), InvalidOption);
  o.hidden = {4};
  o.batch = 2;
  RateConstrainedClassifier p(data, o);
  Vector<float> x = Vector<float>::from_shape({p.num_parameters()});
  p.initial_point(x, 1);
  Evaluation e;
  e.resize(3);
  EXPECT_THROW(p.forward(x, Batch{2, 2, 0}, e), InputError);  // past the 3 samples
  EXPECT_THROW(p.forward(x, Batch{0, 3, 0}, e), InputError);  // larger than the batch
  o.constrained = false;
  RateConstrainedClassifier u(data, o);
  EXPECT_TRUE(u.constraints().empty());
}

// ---- the program -----------------------------------------------------------------------

namespace {

cli_test::RunResult run_rates(const std::vector<std::string>& args) {
  static int counter = 0;
  const auto dir = cli_test::scratch_dir();
  const auto out = dir / ("rates_out" + std::to_string(counter));
  const auto err = dir / ("rates_err" + std::to_string(counter++));
  std::string cmd = "OPENBLAS_NUM_THREADS=1 " + cli_test::shell_quote(RATE_CONSTRAINTS_EXE);
  for (const auto& a : args) cmd += " " + cli_test::shell_quote(a);
  cmd += " >" + cli_test::shell_quote(out.string()) + " 2>" + cli_test::shell_quote(err.string());
  const int status = std::system(cmd.c_str());
  cli_test::RunResult r;
  if (status != -1 && WIFEXITED(status)) r.code = WEXITSTATUS(status);
  r.out = cli_test::read_file(out);
  r.err = cli_test::read_file(err);
  return r;
}

}  // namespace

TEST(RateConstraintsProgram, TrainsOnATinyDataSetAndWritesJson) {
  const auto data = cli_test::write_tiny_mnist("rates_tiny", 600, 200, 17);
  const auto json_c = (cli_test::scratch_dir() / "rates_c.json").string();
  const auto json_u = (cli_test::scratch_dir() / "rates_u.json").string();
  const std::vector<std::string> common = {"--data-dir", data.string(), "--epochs",    "4",
                                           "--hidden",   "32",          "--batch",     "50",
                                           "--seed",     "3",           "--primal-lr", "3e-3"};
  auto args = common;
  for (const char* a : {"--recall", "0.9", "--dual-lr", "0.05", "--out"}) args.push_back(a);
  args.push_back(json_c);
  const auto rc = run_rates(args);
  ASSERT_EQ(rc.code, 0) << rc.out << rc.err;
  EXPECT_NE(rc.out.find("test error"), std::string::npos) << rc.out;
  const auto c = mini_json::parse(cli_test::read_file(json_c));
  EXPECT_TRUE(c["constrained"].as_bool());
  EXPECT_EQ(c["iterations"].as_number(), 4.0 * 12);  // 600 / 50 batches per epoch
  const auto recall = c["test"]["recall"].as_numbers();
  const auto lambda = c["multipliers"].as_numbers();
  ASSERT_EQ(recall.size(), 10u);
  ASSERT_EQ(lambda.size(), 10u);
  for (double l : lambda) EXPECT_GE(l, 0.0);
  const double error = c["test"]["error"].as_number();
  EXPECT_LT(error, 0.3);  // the bright block makes the tiny set easy
  // The test error is 1 - the count-weighted mean recall.
  const auto count = c["test"]["count"].as_numbers();
  double correct = 0.0, total = 0.0;
  for (std::size_t k = 0; k < 10; ++k) {
    correct += recall[k] * count[k];
    total += count[k];
  }
  EXPECT_EQ(total, 200.0);
  EXPECT_NEAR(error, 1.0 - correct / total, 1e-5);

  args = common;
  for (const char* a : {"--unconstrained", "--out"}) args.push_back(a);
  args.push_back(json_u);
  const auto ru = run_rates(args);
  ASSERT_EQ(ru.code, 0) << ru.out << ru.err;
  const auto u = mini_json::parse(cli_test::read_file(json_u));
  EXPECT_FALSE(u["constrained"].as_bool());
  for (double l : u["multipliers"].as_numbers()) EXPECT_EQ(l, 0.0);

  // Held-out strict values: 100 of the 600 samples held out, 10 steps per epoch.
  const auto json_v = (cli_test::scratch_dir() / "rates_v.json").string();
  args = common;
  for (const char* a : {"--recall", "0.9", "--validation", "100", "--out"}) args.push_back(a);
  args.push_back(json_v);
  const auto rv = run_rates(args);
  ASSERT_EQ(rv.code, 0) << rv.out << rv.err;
  EXPECT_NE(rv.out.find("500 train, 100 held out"), std::string::npos) << rv.out;
  const auto v = mini_json::parse(cli_test::read_file(json_v));
  EXPECT_EQ(v["validation"].as_number(), 100.0);
  EXPECT_EQ(v["iterations"].as_number(), 4.0 * 10);
  const auto held_count = v["held_out"]["count"].as_numbers();
  double held_total = 0.0;
  for (double c : held_count) held_total += c;
  EXPECT_EQ(held_total, 100.0);

  // Any scheme by flag: extragradient takes two evaluations per step.
  const auto json_e = (cli_test::scratch_dir() / "rates_e.json").string();
  args = common;
  for (const char* a : {"--recall", "0.9", "--solver", "extragradient", "--epochs", "1", "--out"}) {
    args.push_back(a);
  }
  args.push_back(json_e);
  const auto re = run_rates(args);
  ASSERT_EQ(re.code, 0) << re.out << re.err;
  const auto e = mini_json::parse(cli_test::read_file(json_e));
  EXPECT_EQ(e["solver"].as_string(), "extragradient");
  EXPECT_EQ(e["iterations"].as_number(), 12.0);
}

TEST(RateConstraintsProgram, BadInputExitsTwoWithOneLine) {
  const auto data = cli_test::write_tiny_mnist("rates_bad", 20, 10, 1);
  const std::vector<std::vector<std::string>> cases = {
      {"--recall", "1.5", "--data-dir", data.string()},
      {"--recall", "abc"},
      {"--epochs", "-3"},
      {"--epochs", "0"},
      {"--solver", "nope", "--data-dir", data.string()},
      {"--hidden", "10,0", "--data-dir", data.string()},
      {"--validation", "20", "--data-dir", data.string()},  // all 20 training samples
      {"--frobnicate"},
      {"--seed"},
      {"--dataset", "mnist", "--data-dir", "/nonexistent/folder"},
      {"--dataset", "cifar", "--data-dir", data.string()},
  };
  for (const auto& args : cases) {
    const auto r = run_rates(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.code, 2) << joined << "\n" << r.out << r.err;
    ASSERT_FALSE(r.err.empty()) << joined;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << joined << ": " << r.err;
    EXPECT_EQ(r.err.rfind("rate_constraints: ", 0), 0u) << r.err;
  }
}
