// PurgedNetwork: the purged network of a gated model with closed gates computes the same
// logits as GatedModel::forward_eval (test-time gates), has the parameter and MAC counts of
// GatedModel::purged, survives a save/load round trip bit for bit, and damaged files are
// rejected with a message naming the problem.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>
#include <xtensor/xbuilder.hpp>

#include "saddle/problems/l0/purged_network.hpp"
#include "saddle/problems/l0/saved_model.hpp"

using namespace saddle::l0;

namespace {

struct Case {
  Architecture arch;
  std::size_t rows, cols;
};

// Parameters with about 40% of the gates closed under the median gate (log_alpha < -1.5986)
// and non-zero biases, so that gate folding of weights and conv biases is exercised.
xt::xtensor<float, 1> gated_params(const GatedModel<float>& model, std::uint64_t seed, double closed_fraction = 0.4) {
  xt::xtensor<float, 1> p = xt::xtensor<float, 1>::from_shape({model.num_parameters()});
  model.init_parameters(view(p), seed, InitScheme::lz);
  std::mt19937_64 rng(seed + 1);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<double> bias(0.0, 0.1);
  for (const auto& g : model.gated_layers()) {
    for (std::size_t j = 0; j < g.num_gates; ++j)
      p(g.log_alpha_offset + j) = static_cast<float>(u(rng) < closed_fraction ? -2.0 - 3.0 * u(rng) : -1.0 + 4.0 * u(rng));
    const std::size_t biases = g.conv ? g.num_gates : g.group_size;
    for (std::size_t k = 0; k < biases; ++k) p(g.bias_offset + k) = static_cast<float>(bias(rng));
  }
  return p;
}

xt::xtensor<float, 2> random_inputs(std::size_t n, std::size_t features, std::uint64_t seed) {
  xt::xtensor<float, 2> x = xt::xtensor<float, 2>::from_shape({n, features});
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (auto& v : x) v = static_cast<float>(normal(rng));
  return x;
}

std::size_t argmax(const float* row, std::size_t n) {
  std::size_t best = 0;
  for (std::size_t j = 1; j < n; ++j)
    if (row[j] > row[best]) best = j;
  return best;
}

// Logits of the gated model at test time and of its purged network agree (|diff| <= 1e-4
// (1 + |logit|): float sums in another order), with the same arg-max on every row.
void expect_same_predictions(const Case& c, const xt::xtensor<float, 1>& params, TestGate gate, std::uint64_t seed) {
  GatedModel<float> model(c.arch, c.rows, c.cols);
  const std::size_t n = 37;
  model.reserve(n);
  const auto x = random_inputs(n, model.in_features(), seed);
  xt::xtensor<std::int32_t, 1> y = xt::zeros<std::int32_t>({n});
  model.forward_eval(cview(params), cview(x), cview(y), gate);
  const auto gated = model.logits();

  const auto net = purge_network(c.arch, c.rows, c.cols, 10, cview(params), gate);
  net.validate();
  xt::xtensor<float, 2> logits;
  net.predict(cview(x), logits, 16);  // chunks of 16: exercises a partial last chunk
  ASSERT_EQ(logits.shape()[0], n);
  ASSERT_EQ(logits.shape()[1], 10u);
  std::size_t agree = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < 10; ++j)
      EXPECT_NEAR(logits(i, j), gated(i, j), 1e-4 * (1.0 + std::abs(gated(i, j)))) << "row " << i << " class " << j;
    agree += argmax(&logits(i, 0), 10) == argmax(&gated(i, 0), 10) ? 1 : 0;
  }
  EXPECT_EQ(agree, n);

  const auto counts = model.purged(cview(params), gate);
  EXPECT_EQ(net.params(), counts.params);
  EXPECT_EQ(net.macs(), counts.macs);
  EXPECT_EQ(net.pruned_architecture, counts.architecture());
  EXPECT_LE(net.params(), model.dense_params());
  EXPECT_LE(net.macs(), model.dense_macs());
}

}  // namespace

TEST(PurgedNetwork, MatchesGatedModelWithClosedGates) {
  const std::vector<Case> cases = {{Architecture::mlp, 8, 8}, {Architecture::lenet5, 16, 16}, {Architecture::lenet5, 28, 28}};
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(to_string(c.arch)) + " " + std::to_string(c.rows) + "x" + std::to_string(c.cols));
    GatedModel<float> model(c.arch, c.rows, c.cols);
    for (std::uint64_t seed : {3u, 11u}) {
      const auto p = gated_params(model, seed);
      const auto counts = model.purged(cview(p), TestGate::median);
      for (std::size_t l = 0; l < counts.active_gates.size(); ++l) {
        EXPECT_LT(counts.active_gates[l], model.gated_layers()[l].num_gates) << "the test needs closed gates in every layer";
        EXPECT_GT(counts.active_gates[l], 0u);
      }
      EXPECT_LT(counts.params, model.dense_params());
      EXPECT_LT(counts.macs, model.dense_macs());
      expect_same_predictions(c, p, TestGate::median, seed + 100);
      expect_same_predictions(c, p, TestGate::mean_eq13, seed + 200);
    }
  }
}

TEST(PurgedNetwork, AllGatesOpenAndWholeLayersClosed) {
  // All open: the purged network is the dense one (params and MACs of the dense model).
  GatedModel<float> mlp(Architecture::mlp, 8, 8);
  auto p = gated_params(mlp, 5, 0.0);
  auto net = purge_network(Architecture::mlp, 8, 8, 10, cview(p), TestGate::median);
  EXPECT_EQ(net.params(), mlp.dense_params());
  EXPECT_EQ(net.macs(), mlp.dense_macs());
  expect_same_predictions({Architecture::mlp, 8, 8}, p, TestGate::median, 7);

  // Every gate of the MLP's first layer closed: logits are constant (the biases carried
  // through), and still match.
  for (std::size_t j = 0; j < mlp.gated_layers()[0].num_gates; ++j) p(mlp.gated_layers()[0].log_alpha_offset + j) = -4.0f;
  expect_same_predictions({Architecture::mlp, 8, 8}, p, TestGate::median, 8);

  // LeNet5 with every conv1 map closed: conv2 sees no input channel, only its gated bias.
  GatedModel<float> lenet(Architecture::lenet5, 16, 16);
  auto q = gated_params(lenet, 6);
  for (std::size_t j = 0; j < lenet.gated_layers()[0].num_gates; ++j) q(lenet.gated_layers()[0].log_alpha_offset + j) = -4.0f;
  expect_same_predictions({Architecture::lenet5, 16, 16}, q, TestGate::median, 9);
}

TEST(PurgedNetwork, SaveLoadRoundTripIsExact) {
  GatedModel<float> model(Architecture::lenet5, 16, 16);
  const auto p = gated_params(model, 21);
  auto net = purge_network(Architecture::lenet5, 16, 16, 10, cview(p), TestGate::median);
  net.dataset = "mnist";
  net.input_scaling = "standardize";
  const auto path = (std::filesystem::temp_directory_path() / ("saddle_purged_" + std::to_string(::getpid()) + ".sdln")).string();
  net.save(path);
  EXPECT_TRUE(is_exported_network(path));
  const auto back = PurgedNetwork::load(path);
  std::remove(path.c_str());
  EXPECT_EQ(back.serialize(), net.serialize());
  EXPECT_EQ(back.source_architecture, "lenet5");
  EXPECT_EQ(back.dataset, "mnist");
  EXPECT_EQ(back.input_scaling, "standardize");
  EXPECT_EQ(back.test_gate, "median");
  EXPECT_EQ(back.layers.size(), net.layers.size());
  const auto x = random_inputs(9, 256, 4);
  xt::xtensor<float, 2> a, b;
  net.predict(cview(x), a);
  back.predict(cview(x), b);
  EXPECT_TRUE(a == b);
}

TEST(PurgedNetwork, DamagedFilesAreRejected) {
  GatedModel<float> model(Architecture::mlp, 8, 8);
  const auto p = gated_params(model, 2);
  const auto net = purge_network(Architecture::mlp, 8, 8, 10, cview(p), TestGate::median);
  const std::string good = net.serialize();
  auto message = [](const std::string& bytes) {
    try {
      PurgedNetwork::deserialize(bytes, "f");
    } catch (const saddle::InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message(good), "accepted");
  std::string flipped = good;
  flipped[good.size() / 2] = static_cast<char>(flipped[good.size() / 2] ^ 0x40);
  EXPECT_NE(message(flipped).find("checksum"), std::string::npos) << message(flipped);
  EXPECT_NE(message(good.substr(0, good.size() - 5)).find("truncated"), std::string::npos);
  EXPECT_NE(message(good.substr(0, 10)).find("truncated"), std::string::npos);
  EXPECT_NE(message(good + "x").find("trailing"), std::string::npos);
  std::string magic = good;
  magic[0] = 'X';
  EXPECT_NE(message(magic).find("bad magic"), std::string::npos);
  std::string version = good;
  version[8] = 9;
  EXPECT_NE(message(version).find("version 9"), std::string::npos) << message(version);
  EXPECT_NE(message("").find("bad magic"), std::string::npos);
  EXPECT_THROW(PurgedNetwork::load("/nonexistent/saddle.sdln"), saddle::InputError);
  EXPECT_FALSE(is_exported_network("/nonexistent/saddle.sdln"));
}

TEST(SavedModel, TrainArgumentsAndMissingFiles) {
  SavedModel m;
  apply_train_arguments({"--model", "lenet5", "--dataset=fashion-mnist", "--data-dir", "d/x", "--input-scaling", "unit",
                         "--test-gate=mean_eq13", "--no-dual-restarts", "--epochs", "3"},
                        m);
  EXPECT_EQ(m.architecture, Architecture::lenet5);
  EXPECT_EQ(m.dataset, "fashion-mnist");
  EXPECT_EQ(m.data_dir, "d/x");
  EXPECT_EQ(m.scaling, InputScaling::unit);
  EXPECT_EQ(m.test_gate, TestGate::mean_eq13);
  EXPECT_THROW(apply_train_arguments({"--model", "vgg"}, m), saddle::InvalidOption);
  EXPECT_THROW(load_saved_model("/nonexistent/run"), saddle::InputError);
  const auto dir = std::filesystem::temp_directory_path() / ("saddle_saved_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  EXPECT_THROW(load_saved_model(dir.string()), saddle::InputError);  // no checkpoint.bin
  {
    std::ofstream f(dir / "checkpoint.bin", std::ios::binary);
    f << "SADLCKPT";  // header cut short
  }
  try {
    load_saved_model(dir.string());
    ADD_FAILURE() << "a truncated checkpoint was accepted";
  } catch (const saddle::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}
