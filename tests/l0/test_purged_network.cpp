// PurgedNetwork: the purged network of a gated model with closed gates computes the same
// logits as GatedModel::forward_eval (test-time gates), has the parameter and MAC counts of
// GatedModel::purged, survives a save/load round trip bit for bit, and damaged files are
// rejected with a message naming the problem.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
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
xt::xtensor<float, 1> gated_params(const GatedModel<float>& model, std::uint64_t seed,
                                   double closed_fraction = 0.4) {
  xt::xtensor<float, 1> p = xt::xtensor<float, 1>::from_shape({model.num_parameters()});
  model.init_parameters(view(p), seed, InitScheme::lz);
  std::mt19937_64 rng(seed + 1);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<double> bias(0.0, 0.1);
  for (const auto& g : model.gated_layers()) {
    for (std::size_t j = 0; j < g.num_gates; ++j)
      p(g.log_alpha_offset + j) =
          static_cast<float>(u(rng) < closed_fraction ? -2.0 - 3.0 * u(rng) : -1.0 + 4.0 * u(rng));
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
void expect_same_predictions(const Case& c, const xt::xtensor<float, 1>& params, TestGate gate,
                             std::uint64_t seed) {
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
      EXPECT_NEAR(logits(i, j), gated(i, j), 1e-4 * (1.0 + std::abs(gated(i, j))))
          << "row " << i << " class " << j;
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
  const std::vector<Case> cases = {
      {Architecture::mlp, 8, 8}, {Architecture::lenet5, 16, 16}, {Architecture::lenet5, 28, 28}};
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(to_string(c.arch)) + " " + std::to_string(c.rows) + "x" +
                 std::to_string(c.cols));
    GatedModel<float> model(c.arch, c.rows, c.cols);
    for (std::uint64_t seed : {3u, 11u}) {
      const auto p = gated_params(model, seed);
      const auto counts = model.purged(cview(p), TestGate::median);
      for (std::size_t l = 0; l < counts.active_gates.size(); ++l) {
        EXPECT_LT(counts.active_gates[l], model.gated_layers()[l].num_gates)
            << "the test needs closed gates in every layer";
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
  for (std::size_t j = 0; j < mlp.gated_layers()[0].num_gates; ++j)
    p(mlp.gated_layers()[0].log_alpha_offset + j) = -4.0f;
  expect_same_predictions({Architecture::mlp, 8, 8}, p, TestGate::median, 8);

  // LeNet5 with every conv1 map closed: conv2 sees no input channel, only its gated bias.
  GatedModel<float> lenet(Architecture::lenet5, 16, 16);
  auto q = gated_params(lenet, 6);
  for (std::size_t j = 0; j < lenet.gated_layers()[0].num_gates; ++j)
    q(lenet.gated_layers()[0].log_alpha_offset + j) = -4.0f;
  expect_same_predictions({Architecture::lenet5, 16, 16}, q, TestGate::median, 9);
}

namespace {

// The chain applied one example at a time with plain loops, straight from the layer table of
// docs/export-format.md: the reference predict() must match whatever it fuses or reorders.
std::vector<float> reference_forward(const PurgedNetwork& net, const float* input) {
  std::vector<float> x(input, input + net.rows * net.cols);
  for (const auto& l : net.layers) {
    std::vector<float> y(l.out_features, 0.0f);
    switch (l.kind) {
      case PurgedLayerKind::gather:
        for (std::size_t j = 0; j < l.out_features; ++j) y[j] = x[l.indices[j]];
        break;
      case PurgedLayerKind::dense:
        for (std::size_t o = 0; o < l.out_features; ++o) {
          double acc = l.bias[o];
          for (std::size_t i = 0; i < l.in_features; ++i)
            acc += static_cast<double>(x[i]) * l.weights[i * l.out_features + o];
          y[o] = static_cast<float>(acc);
        }
        break;
      case PurgedLayerKind::conv2d: {
        const std::size_t k = l.kernel, ho = l.height - k + 1, wo = l.width - k + 1;
        for (std::size_t c = 0; c < l.out_channels; ++c)
          for (std::size_t i = 0; i < ho; ++i)
            for (std::size_t j = 0; j < wo; ++j) {
              double acc = l.bias[c];
              for (std::size_t ci = 0; ci < l.channels; ++ci)
                for (std::size_t u = 0; u < k; ++u)
                  for (std::size_t v = 0; v < k; ++v)
                    acc += static_cast<double>(l.weights[((c * l.channels + ci) * k + u) * k + v]) *
                           x[(ci * l.height + i + u) * l.width + j + v];
              y[(c * ho + i) * wo + j] = static_cast<float>(acc);
            }
        break;
      }
      case PurgedLayerKind::relu:
        for (std::size_t j = 0; j < l.out_features; ++j) y[j] = std::max(x[j], 0.0f);
        break;
      case PurgedLayerKind::maxpool2: {
        const std::size_t ho = l.height / 2, wo = l.width / 2;
        for (std::size_t c = 0; c < l.channels; ++c)
          for (std::size_t i = 0; i < ho; ++i)
            for (std::size_t j = 0; j < wo; ++j) {
              float m = -std::numeric_limits<float>::infinity();
              for (std::size_t u = 0; u < 2; ++u)
                for (std::size_t v = 0; v < 2; ++v)
                  m = std::max(m, x[(c * l.height + 2 * i + u) * l.width + 2 * j + v]);
              y[(c * ho + i) * wo + j] = m;
            }
        break;
      }
    }
    x = std::move(y);
  }
  return x;
}

PurgedLayer random_layer(PurgedLayerKind kind, std::size_t in, std::size_t out,
                         std::mt19937_64& rng) {
  std::normal_distribution<float> normal(0.0f, 0.5f);
  PurgedLayer l;
  l.kind = kind;
  l.in_features = in;
  l.out_features = out;
  if (kind == PurgedLayerKind::dense) {
    for (std::size_t i = 0; i < in * out; ++i) l.weights.push_back(normal(rng));
    for (std::size_t o = 0; o < out; ++o) l.bias.push_back(normal(rng));
  }
  return l;
}

PurgedLayer conv_layer(std::size_t c_in, std::size_t h, std::size_t w, std::size_t c_out,
                       std::size_t k, std::mt19937_64& rng) {
  std::normal_distribution<float> normal(0.0f, 0.5f);
  PurgedLayer l;
  l.kind = PurgedLayerKind::conv2d;
  l.channels = c_in;
  l.height = h;
  l.width = w;
  l.out_channels = c_out;
  l.kernel = k;
  l.in_features = c_in * h * w;
  l.out_features = c_out * (h - k + 1) * (w - k + 1);
  for (std::size_t i = 0; i < c_out * c_in * k * k; ++i) l.weights.push_back(normal(rng));
  for (std::size_t c = 0; c < c_out; ++c) l.bias.push_back(normal(rng));
  return l;
}

void expect_matches_reference(const PurgedNetwork& net, std::size_t n, std::size_t chunk) {
  net.validate();
  const auto x = random_inputs(n, net.rows * net.cols, 17);
  xt::xtensor<float, 2> logits;
  net.predict(cview(x), logits, chunk);
  ASSERT_EQ(logits.shape()[0], n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto ref = reference_forward(net, x.data() + i * net.rows * net.cols);
    for (std::size_t j = 0; j < net.classes; ++j)
      EXPECT_NEAR(logits(i, j), ref[j], 1e-4 * (1.0 + std::abs(ref[j])))
          << "row " << i << " output " << j;
  }
}

}  // namespace

TEST(PurgedNetwork, PredictMatchesAPlainReferenceOnHandBuiltChains) {
  std::mt19937_64 rng(5);
  // conv -> maxpool without a relu (odd map 7x7: floor), relu -> dense (a relu after a pool,
  // not fused), conv -> relu -> pool (fused), gather -> relu -> dense, dense -> dense.
  PurgedNetwork a;
  a.rows = 9;
  a.cols = 9;
  a.classes = 4;
  a.layers.push_back(conv_layer(1, 9, 9, 3, 3, rng));  // 3 x 7 x 7
  a.layers.push_back(maxpool2_layer(3, 7, 7));         // 3 x 3 x 3
  a.layers.push_back(random_layer(PurgedLayerKind::relu, 27, 27, rng));
  a.layers.push_back(conv_layer(3, 3, 3, 5, 2, rng));  // 5 x 2 x 2
  a.layers.push_back(random_layer(PurgedLayerKind::relu, 20, 20, rng));
  a.layers.push_back(maxpool2_layer(5, 2, 2));  // 5
  a.layers.push_back(random_layer(PurgedLayerKind::dense, 5, 6, rng));
  a.layers.push_back(random_layer(PurgedLayerKind::dense, 6, 4, rng));
  expect_matches_reference(a, 11, 4);  // chunks of 4: a partial last chunk

  PurgedNetwork b;
  b.rows = 4;
  b.cols = 5;
  b.classes = 3;
  PurgedLayer g = random_layer(PurgedLayerKind::gather, 20, 7, rng);
  for (std::uint32_t j : {19u, 0u, 3u, 3u, 11u, 7u, 2u}) g.indices.push_back(j);
  b.layers.push_back(g);
  b.layers.push_back(random_layer(PurgedLayerKind::relu, 7, 7, rng));
  b.layers.push_back(random_layer(PurgedLayerKind::dense, 7, 0, rng));  // no outputs at all
  b.layers.push_back(random_layer(PurgedLayerKind::dense, 0, 5, rng));  // y = b
  b.layers.push_back(random_layer(PurgedLayerKind::relu, 5, 5, rng));
  b.layers.push_back(random_layer(PurgedLayerKind::relu, 5, 5, rng));  // relu after a fused relu
  b.layers.push_back(random_layer(PurgedLayerKind::dense, 5, 3, rng));
  expect_matches_reference(b, 6, 500);

  // A relu as the very first layer (reads the caller's input) and a last-layer pool.
  PurgedNetwork c;
  c.rows = 4;
  c.cols = 4;
  c.classes = 4;
  c.layers.push_back(random_layer(PurgedLayerKind::relu, 16, 16, rng));
  c.layers.push_back(maxpool2_layer(1, 4, 4));
  expect_matches_reference(c, 3, 2);
}

TEST(PurgedNetwork, SaveLoadRoundTripIsExact) {
  GatedModel<float> model(Architecture::lenet5, 16, 16);
  const auto p = gated_params(model, 21);
  auto net = purge_network(Architecture::lenet5, 16, 16, 10, cview(p), TestGate::median);
  net.dataset = "mnist";
  net.input_scaling = "standardize";
  const auto path = (std::filesystem::temp_directory_path() /
                     ("saddle_purged_" + std::to_string(::getpid()) + ".sdln"))
                        .string();
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
  apply_train_arguments(
      {"--model", "lenet5", "--dataset=fashion-mnist", "--data-dir", "d/x", "--input-scaling",
       "unit", "--test-gate=mean_eq13", "--no-dual-restarts", "--epochs", "3"},
      m);
  EXPECT_EQ(m.architecture, Architecture::lenet5);
  EXPECT_EQ(m.dataset, "fashion-mnist");
  EXPECT_EQ(m.data_dir, "d/x");
  EXPECT_EQ(m.scaling, InputScaling::unit);
  EXPECT_EQ(m.test_gate, TestGate::mean_eq13);
  EXPECT_THROW(apply_train_arguments({"--model", "vgg"}, m), saddle::InvalidOption);
  EXPECT_THROW(load_saved_model("/nonexistent/run"), saddle::InputError);
  const auto dir =
      std::filesystem::temp_directory_path() / ("saddle_saved_" + std::to_string(::getpid()));
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
