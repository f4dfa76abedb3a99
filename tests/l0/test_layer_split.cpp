// The layer split (GatedModel / DensityProblem::set_runner): the dense layers' work in column
// blocks (forward) and blocks of inputs (backward), the gate sampling, ReLU, the density
// terms and the batch gather over the workers of a team. Against the same model on the
// calling thread: sampled gates, densities and density gradients bit for bit (element-wise
// work), loss, logits and gradients up to GEMM rounding (the blocks change OpenBLAS's
// shapes, not the math), closed units exactly 0; two split runs repeat bit for bit; the split
// gradient matches central finite differences (double); no allocation in any thread.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/allocation_counter.hpp"
#include "random_dataset.hpp"
#include "saddle/problems/l0/density_problem.hpp"
#include "saddle/problems/l0/gated_dense.hpp"
#include "saddle/problems/l0/hard_concrete.hpp"
#include "saddle/problems/l0/model.hpp"
#include "saddle/thread_parallel.hpp"
#include "tensor_helpers.hpp"

namespace {

namespace l0 = saddle::l0;
using l0_test::check_fd;
using l0_test::rel_diff;
using l0_test::fill_normal;
using l0_test::mat;
using saddle::ThreadBackend;
using saddle::ThreadTeam;
using saddle::Vector;

template <class A, class B>
bool same_bits(const A& a, const B& b) {
  using T = typename A::value_type;
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}


std::vector<ThreadBackend> backends() {
  std::vector<ThreadBackend> b{ThreadBackend::std_thread};
  if (saddle::tbb_available()) b.push_back(ThreadBackend::tbb);
  return b;
}

// One forward_train + backward of a model; the results to compare.
template <class T>
struct Pass {
  double loss = 0.0;
  xt::xtensor<T, 2> logits;
  Vector<T> grad;
};

template <class T>
Pass<T> run_pass(l0::GatedModel<T>& model, const Vector<T>& x, const xt::xtensor<T, 2>& input,
                 const xt::xtensor<std::int32_t, 1>& y, std::uint64_t seed, bool eval) {
  Pass<T> p;
  const auto px = l0::make_cview<T, 1>(x.data(), {x.size()});
  p.loss = eval ? model.forward_eval(px, l0::cview(input), l0::cview(y), l0::TestGate::median).loss
                : model.forward_train(px, l0::cview(input), l0::cview(y), seed).loss;
  p.logits = model.logits();
  p.grad = Vector<T>::from_shape({x.size()});
  p.grad.fill(T(7));  // every element must be overwritten
  model.backward(px, l0::make_view<T, 1>(p.grad.data(), {p.grad.size()}));
  return p;
}

// Parameters as initialised (every gate open: the direct paths) or with about 70 % of the
// gates closed (the compacted paths, hints between the layers, padded widths).
template <class T>
Vector<T> model_point(const l0::GatedModel<T>& model, bool sparse) {
  Vector<T> x = Vector<T>::from_shape({model.num_parameters()});
  model.init_parameters(l0::make_view<T, 1>(x.data(), {x.size()}), 4, l0::InitScheme::lz);
  if (sparse) {
    std::mt19937_64 rng(21);
    std::uniform_real_distribution<double> u(-4.0, 0.5);
    for (const auto& l : model.gated_layers()) {
      for (std::size_t j = 0; j < l.num_gates; ++j)
        x(l.log_alpha_offset + j) = static_cast<T>(u(rng));
      x(l.log_alpha_offset) = T(4);  // one gate always open, one always closed
      x(l.log_alpha_offset + l.num_gates - 1) = T(-4.6);
    }
  }
  return x;
}

// The split model against the serial one: `tol` relative per gated layer; exact zeros where
// the serial gradient is zero; a second split pass equal bit for bit.
template <class T>
void expect_split_matches_serial(l0::Architecture arch, std::size_t rows, double tol) {
  l0::GatedModel<T> model(arch);
  model.reserve(rows);
  std::mt19937_64 rng(5);
  auto input = mat<T>(rows, model.in_features());
  fill_normal(input, rng);
  xt::xtensor<std::int32_t, 1> y = xt::xtensor<std::int32_t, 1>::from_shape({rows});
  for (std::size_t i = 0; i < rows; ++i) y(i) = static_cast<std::int32_t>((7 * i) % 10);
  for (const bool sparse : {false, true}) {
    const Vector<T> x = model_point(model, sparse);
    for (const bool eval : {false, true}) {
      model.set_runner(nullptr);
      const Pass<T> serial = run_pass(model, x, input, y, 3, eval);
      for (const auto backend : backends())
        for (const std::size_t workers : {2u, 3u}) {
          ThreadTeam team(workers, backend);
          model.set_runner(&team);
          const Pass<T> split = run_pass(model, x, input, y, 3, eval);
          const Pass<T> again = run_pass(model, x, input, y, 3, eval);
          model.set_runner(nullptr);
          const std::string what = std::string(to_string(arch)) + ", " + std::to_string(rows) +
                                   " rows, " + (sparse ? "sparse" : "dense") +
                                   (eval ? ", eval" : ", train") + ", " + std::to_string(workers) +
                                   " workers, " + to_string(backend);
          EXPECT_NEAR(split.loss, serial.loss, tol * (1.0 + std::abs(serial.loss))) << what;
          EXPECT_LT(rel_diff(split.logits, serial.logits), tol) << what;
          for (const auto& l : model.gated_layers()) {
            const auto gs = l0::make_cview<T, 1>(split.grad.data() + l.offset, {l.size});
            const auto gq = l0::make_cview<T, 1>(serial.grad.data() + l.offset, {l.size});
            EXPECT_LT(rel_diff(gs, gq), tol) << what << ", layer " << l.name;
            for (std::size_t j = 0; j < l.size; ++j)
              if (gq(j) == T(0)) {
                ASSERT_EQ(gs(j), T(0)) << what << ", " << l.name << " [" << j << "]";
              }
          }
          // The same split twice: the same bits (nothing depends on the threads' timing).
          EXPECT_EQ(split.loss, again.loss) << what;
          EXPECT_TRUE(same_bits(split.grad, again.grad)) << what;
          EXPECT_TRUE(same_bits(split.logits, again.logits)) << what;
        }
    }
  }
}

TEST(LayerSplit, MlpEqualsTheSerialModelInDouble) {
  expect_split_matches_serial<double>(l0::Architecture::mlp, 12, 1e-12);
  expect_split_matches_serial<double>(l0::Architecture::mlp, 128, 1e-12);
}
TEST(LayerSplit, MlpEqualsTheSerialModelInFloat) {
  expect_split_matches_serial<float>(l0::Architecture::mlp, 12, 2e-5);
  expect_split_matches_serial<float>(l0::Architecture::mlp, 128, 2e-5);
}
TEST(LayerSplit, LenetEqualsTheSerialModelInDouble) {
  expect_split_matches_serial<double>(l0::Architecture::lenet5, 12, 1e-12);
}
TEST(LayerSplit, LenetEqualsTheSerialModelInFloat) {
  expect_split_matches_serial<float>(l0::Architecture::lenet5, 40, 2e-5);
}

// The gradient of the split model against central differences of its loss: double MLP with
// few open gates (every hinted path), gate noise fixed by the seed.
TEST(LayerSplit, GradientMatchesFiniteDifferences) {
  const std::size_t rows = 6;
  l0::GatedModel<double> model(l0::Architecture::mlp);
  model.reserve(rows);
  ThreadTeam team(2, ThreadBackend::std_thread);
  model.set_runner(&team);
  Vector<double> x = model_point(model, true);
  std::mt19937_64 rng(8);
  auto input = mat<double>(rows, model.in_features());
  fill_normal(input, rng);
  xt::xtensor<std::int32_t, 1> y = xt::xtensor<std::int32_t, 1>::from_shape({rows});
  for (std::size_t i = 0; i < rows; ++i) y(i) = static_cast<std::int32_t>(i % 10);
  const Pass<double> p = run_pass(model, x, input, y, 11, false);
  auto loss = [&] {
    return model
        .forward_train(l0::make_cview<double, 1>(x.data(), {x.size()}), l0::cview(input),
                       l0::cview(y), 11)
        .loss;
  };
  // Every layer: its weights of open and closed inputs, biases and gate parameters.
  std::vector<std::size_t> coords;
  std::mt19937_64 pick(3);
  for (const auto& l : model.gated_layers()) {
    std::uniform_int_distribution<std::size_t> in_layer(l.offset, l.offset + l.size - 1);
    for (int k = 0; k < 120; ++k) coords.push_back(in_layer(pick));
    for (std::size_t j = 0; j < std::min<std::size_t>(l.num_gates, 40); ++j)
      coords.push_back(l.log_alpha_offset + j);
  }
  check_fd("layer-split mlp", x.data(), coords, p.grad.data(), loss);
}

// A square layer may write its output over its input (in == out): the result is that of
// separate buffers, split or not, and backward still sees the input of the forward.
TEST(LayerSplit, OutputOverTheInputEqualsSeparateBuffers) {
  const std::size_t rows = 128, n = 200;
  l0::GatedDense<float> layer(n, n, 4);
  layer.reserve(rows);
  auto p = l0_test::vec<float>(layer.num_parameters());
  std::mt19937_64 rng(6);
  layer.init_parameters(l0::view(p), 0.2, rng);
  auto la = layer.log_alpha(l0::view(p));
  for (std::size_t j = 0; j < n; ++j) la(j) = 6.0f;  // every gate open: the GEMM reads the input itself
  auto x = mat<float>(rows, n), y = mat<float>(rows, n), dy = mat<float>(rows, n);
  fill_normal(x, rng);
  fill_normal(dy, rng);
  auto g_sep = l0_test::vec<float>(layer.num_parameters()), g_alias = g_sep;
  for (const std::size_t workers : {1u, 2u}) {
    ThreadTeam team(workers, ThreadBackend::std_thread);
    layer.set_runner(&team);
    layer.forward_train(l0::cview(p), l0::cview(x), 9, l0::view(y));
    layer.backward(l0::cview(p), l0::cview(dy), l0::view(g_sep));
    auto inout = x;  // the output overwrites this copy of the input
    layer.forward_train(l0::cview(p), l0::cview(inout), 9, l0::view(inout));
    layer.backward(l0::cview(p), l0::cview(dy), l0::view(g_alias));
    layer.set_runner(nullptr);
    ASSERT_EQ(layer.num_active_gates(), n);
    EXPECT_TRUE(same_bits(inout, y)) << workers;
    EXPECT_TRUE(same_bits(g_alias, g_sep)) << workers;
  }
}

// Gate sampling, expected densities and their gradient: element-wise on the workers, summed
// in order: the same bits as on the calling thread.
TEST(LayerSplit, GatesAndDensityTermsEqualTheSerialOnesBitForBit) {
  for (const auto arch : {l0::Architecture::mlp, l0::Architecture::lenet5}) {
    l0::GatedModel<float> model(arch);
    const Vector<float> x = model_point(model, true);
    const auto px = l0::make_cview<float, 1>(x.data(), {x.size()});
    const std::vector<double> weights = {0.3, 1.7, 2.5, 0.9};
    std::vector<double> d_serial, d_split;
    Vector<float> g_serial = Vector<float>::from_shape({x.size()}), g_split = g_serial;
    g_serial.fill(0.25f);
    g_split.fill(0.25f);
    model.layer_densities(px, d_serial);
    model.add_density_gradient(px, weights,
                               l0::make_view<float, 1>(g_serial.data(), {g_serial.size()}));
    for (const std::size_t workers : {2u, 3u}) {
      ThreadTeam team(workers, ThreadBackend::std_thread);
      model.set_runner(&team);
      model.layer_densities(px, d_split);
      Vector<float> g = g_split;
      model.add_density_gradient(px, weights, l0::make_view<float, 1>(g.data(), {g.size()}));
      model.set_runner(nullptr);
      EXPECT_EQ(d_split, d_serial) << to_string(arch) << ", " << workers;
      EXPECT_TRUE(same_bits(g, g_serial)) << to_string(arch) << ", " << workers;
    }
  }
  // A state of 1000 gates (16 blocks of 64 and a partial one) over 1..4 workers.
  const std::size_t n = 1000;
  xt::xtensor<float, 1> la = xt::xtensor<float, 1>::from_shape({n});
  std::mt19937_64 rng(2);
  std::normal_distribution<double> nd(0.0, 2.0);
  for (std::size_t j = 0; j < n; ++j) la(j) = static_cast<float>(nd(rng));
  l0::GateState<float> serial(n), split(n);
  serial.sample(l0::cview(la), 77, 3);
  for (const std::size_t workers : {2u, 3u, 4u}) {
    ThreadTeam team(workers, ThreadBackend::std_thread);
    split.sample(l0::cview(la), 77, 3, &team);
    EXPECT_TRUE(same_bits(split.z(), serial.z())) << workers;
    EXPECT_TRUE(same_bits(split.dz(), serial.dz())) << workers;
    EXPECT_EQ(split.active(), serial.active()) << workers;
  }
}

// The DensityProblem with a runner: forward values and gradient as the serial problem (up to
// GEMM rounding), and not one allocation per step in any thread (closed gates included).
TEST(LayerSplit, DensityProblemStepMatchesAndDoesNotAllocate) {
  constexpr std::size_t kBatch = 128;
  const l0::Dataset data = l0_test::random_dataset(2 * kBatch, 0, 5, "random");
  for (const auto arch : {l0::Architecture::mlp, l0::Architecture::lenet5}) {
    l0::DensityProblemOptions o;
    o.architecture = arch;
    o.batch = kBatch;
    o.eval_batch = kBatch;
    const l0::GatedModel<float> shape(arch);
    o.groups = l0::layer_level(shape, std::vector<double>(shape.gated_layers().size(), 0.5));
    l0::DensityProblem serial(data, o), split(data, o);
    for (const auto backend : backends()) {
      ThreadTeam team(2, backend);
      split.set_runner(&team);
      Vector<float> x = model_point(split.model(), true);
      Vector<float> gs = Vector<float>::from_shape({x.size()}), gq = gs;
      Vector<double> w = Vector<double>::from_shape({o.groups.size()});
      w.fill(0.7);
      saddle::Evaluation es, eq;
      es.resize(o.groups.size());
      eq.resize(o.groups.size());
      serial.shuffle(4);
      split.shuffle(4);
      auto step = [&](std::uint64_t s) {
        const saddle::Batch b{(s % 2) * kBatch, kBatch, s};
        split.forward(x, b, es);
        split.backward(w, gs);
      };
      step(1);  // warm-up: thread start, OpenBLAS buffers
      serial.forward(x, saddle::Batch{0, kBatch, 2}, eq);
      serial.backward(w, gq);
      std::size_t allocations = 0;
      {
        saddle_test_alloc::ProcessAllocationCounter counter;
        step(2);
        step(3);
        allocations = counter.count();
      }
      if (saddle_test_alloc::kCountAllocations) {
        EXPECT_EQ(allocations, 0u) << to_string(arch) << ", " << to_string(backend);
      }
      step(2);
      EXPECT_NEAR(es.loss, eq.loss, 2e-5 * std::abs(eq.loss)) << to_string(arch);
      for (std::size_t k = 0; k < o.groups.size(); ++k)
        EXPECT_EQ(es.constraints(k), eq.constraints(k));
      EXPECT_LT(rel_diff(gs, gq), 2e-5) << to_string(arch) << ", " << to_string(backend);
      split.set_runner(nullptr);
    }
  }
}

}  // namespace
