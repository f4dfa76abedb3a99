// Conditional computation of the gated layers and models (ChannelHints, the packed conv path,
// PackedReluPool2d, GatedModel's wiring): every result must equal the plain layer-by-layer
// computation (the public layers without hints, relu_forward and MaxPool2d: what GatedModel
// ran before it skipped anything), closed units must get exact zeros, and every changed
// backward must match central finite differences (double, gate noise fixed by the seed).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "saddle/nn/im2col.hpp"
#include "saddle/problems/l0/basic_layers.hpp"
#include "saddle/problems/l0/gated_conv2d.hpp"
#include "saddle/problems/l0/gated_dense.hpp"
#include "saddle/problems/l0/model.hpp"
#include "tensor_helpers.hpp"

namespace {

namespace l0 = saddle::l0;
using l0_test::dot_all;
using l0_test::fill_normal;
using l0_test::mat;
using l0_test::all_coords;
using l0_test::check_fd;
using l0_test::rel_diff;
using l0_test::vec;
using saddle::Vector;



// log_alpha such that a gate is open with probability ~0.3 (as saddle_bench's sparse30 state),
// with a few gates forced open / closed so that both kinds always occur.
template <class V>
void sparse_log_alpha(V la, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-4.0, 0.5);
  for (std::size_t j = 0; j < la.size(); ++j) la(j) = static_cast<typename V::value_type>(u(rng));
  la(0) = 4.0;
  if (la.size() > 1) la(la.size() - 1) = -4.6;
}

// ============================================================================================
// GatedConv2d: closed input maps skipped
// ============================================================================================

struct HintedConv {
  std::size_t cin = 4, h = 9, w = 8, cout = 5, k = 3, rows = 3;
  l0::GatedConv2d<double> layer{4, 9, 8, 5, 3, 2};
  xt::xtensor<double, 1> params;
  xt::xtensor<double, 2> x, r, y;
  std::vector<std::size_t> open{1, 3};  // input maps 0 and 2 are zero
  HintedConv() {
    layer.reserve(4);
    params = vec<double>(layer.num_parameters());
    std::mt19937_64 rng(5);
    layer.init_parameters(l0::view(params), 0.5, rng);
    auto la = layer.log_alpha(l0::view(params));
    const double values[] = {30.0, 0.7, -30.0, 1.2, -0.3};
    for (std::size_t c = 0; c < cout; ++c) la(c) = values[c];
    x = mat<double>(rows, layer.in_features());
    r = mat<double>(rows, layer.out_features());
    y = mat<double>(rows, layer.out_features());
    fill_normal(x, rng);
    fill_normal(r, rng);
    zero_closed_maps();
  }
  void zero_closed_maps() {
    for (std::size_t b = 0; b < rows; ++b)
      for (std::size_t c : {0u, 2u})
        for (std::size_t p = 0; p < h * w; ++p) x(b, c * h * w + p) = 0.0;
  }
  double objective(std::uint64_t seed, bool hinted) {
    if (hinted) {
      layer.sample_gates(l0::cview(params), seed);
      l0::ChannelHints hints;
      hints.open_inputs = &open;
      layer.forward_gated(l0::cview(params), l0::cview(x), l0::view(y), hints);
    } else {
      layer.forward_train(l0::cview(params), l0::cview(x), seed, l0::view(y));
    }
    return dot_all(r, y);
  }
};

TEST(ConditionalConv, ClosedInputMapsAreSkippedExactly) {
  HintedConv c;
  const std::uint64_t seed = 17;
  c.objective(seed, false);
  const auto y_plain = c.y;
  auto gp_plain = vec<double>(c.layer.num_parameters(), 7.0);
  auto gx_plain = mat<double>(c.rows, c.layer.in_features(), 7.0);
  c.layer.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp_plain), l0::view(gx_plain));

  c.objective(seed, true);
  EXPECT_LT(rel_diff(c.y, y_plain), 1e-13);
  auto gp = vec<double>(c.layer.num_parameters(), 7.0);
  auto gx = mat<double>(c.rows, c.layer.in_features(), 7.0);
  c.layer.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp), l0::view(gx));
  EXPECT_LT(rel_diff(gp, gp_plain), 1e-13);
  // Weights on the closed input maps: exactly zero, as a zero input gives.
  const std::size_t kk = c.k * c.k, ks = c.cin * kk;
  for (std::size_t co = 0; co < c.cout; ++co)
    for (std::size_t ci : {0u, 2u})
      for (std::size_t q = 0; q < kk; ++q) EXPECT_EQ(gp(co * ks + ci * kk + q), 0.0);
  // grad_input: the open maps as without hints, the closed maps 0.
  const std::size_t plane = c.h * c.w;
  for (std::size_t b = 0; b < c.rows; ++b) {
    for (std::size_t ci = 0; ci < c.cin; ++ci) {
      for (std::size_t p = 0; p < plane; ++p) {
        const double v = gx(b, ci * plane + p);
        if (ci == 1 || ci == 3)
          EXPECT_NEAR(v, gx_plain(b, ci * plane + p), 1e-12);
        else
          EXPECT_EQ(v, 0.0);
      }
    }
  }
  // Finite differences of the hinted path: parameters, and the open input maps.
  auto f = [&] { return c.objective(seed, true); };
  check_fd("hinted conv params", c.params.data(), all_coords(c.params.size()), gp.data(), f);
  std::vector<std::size_t> open_x;
  for (std::size_t b = 0; b < c.rows; ++b)
    for (std::size_t ci : {1u, 3u})
      for (std::size_t p = 0; p < plane; ++p)
        open_x.push_back(b * c.layer.in_features() + ci * plane + p);
  check_fd("hinted conv input", c.x.data(), open_x, gx.data(), f);
}

TEST(ConditionalConv, PackedForwardAndBackwardMatchTheScatteredOnes) {
  HintedConv c;
  c.open = {0, 1, 2, 3};
  std::mt19937_64 rng(9);
  fill_normal(c.x, rng);
  const std::uint64_t seed = 23;
  c.objective(seed, false);
  auto gp_plain = vec<double>(c.layer.num_parameters());
  auto gx_plain = mat<double>(c.rows, c.layer.in_features());
  c.layer.backward(l0::cview(c.params), l0::cview(c.r), l0::view(gp_plain), l0::view(gx_plain));

  c.layer.sample_gates(l0::cview(c.params), seed);
  c.layer.forward_packed(l0::cview(c.params), l0::cview(c.x), l0::ChannelHints{});
  const auto& act = c.layer.active_gates();
  ASSERT_GE(act.size(), 2u);  // gate 0 open (log_alpha 30), gate 2 closed (-30)
  ASSERT_LT(act.size(), c.cout);
  const std::size_t plane = c.layer.out_height() * c.layer.out_width();
  const auto yp = c.layer.packed_output();
  ASSERT_EQ(yp.size(), act.size() * c.rows * plane);
  const auto b = c.layer.bias(l0::cview(c.params));
  for (std::size_t a = 0; a < act.size(); ++a)
    for (std::size_t r = 0; r < c.rows; ++r)
      for (std::size_t p = 0; p < plane; ++p)
        EXPECT_NEAR(yp(c.layer.packed_offset(a, r) + p) + c.layer.gates()(act[a]) * b(act[a]),
                    c.y(r, act[a] * plane + p), 1e-12);
  auto dyp = c.layer.packed_grad_output();
  for (std::size_t a = 0; a < act.size(); ++a)
    for (std::size_t r = 0; r < c.rows; ++r)
      for (std::size_t p = 0; p < plane; ++p)
        dyp(c.layer.packed_offset(a, r) + p) = c.r(r, act[a] * plane + p);
  auto gp = vec<double>(c.layer.num_parameters(), 3.0);
  auto gx = mat<double>(c.rows, c.layer.in_features(), 3.0);
  auto gxv = l0::view(gx);
  c.layer.backward_packed(l0::cview(c.params), l0::view(gp), &gxv);
  EXPECT_LT(rel_diff(gp, gp_plain), 1e-13);
  EXPECT_LT(rel_diff(gx, gx_plain), 1e-13);
}

TEST(ConditionalConv, BlocksOfImagesMatchFiniteDifferences) {
  // 2 x 40 x 40 inputs, k = 5: a block holds 2 images (K * 2 * P <= 131072), so a batch of 5
  // runs in 3 blocks (2, 2, 1) and backward recomputes the im2col of the first two.
  l0::GatedConv2d<double> layer(2, 40, 40, 3, 5, 6);
  layer.reserve(5);
  ASSERT_EQ(layer.packed_chunk(), 2u);
  auto p = vec<double>(layer.num_parameters());
  std::mt19937_64 rng(77);
  layer.init_parameters(l0::view(p), 0.5, rng);
  auto la = layer.log_alpha(l0::view(p));
  la(0) = 30.0;
  la(1) = -30.0;
  la(2) = 0.9;
  auto x = mat<double>(5, layer.in_features()), y = mat<double>(5, layer.out_features()),
       r = mat<double>(5, layer.out_features());
  fill_normal(x, rng);
  fill_normal(r, rng);
  const std::uint64_t seed = 4;
  auto f = [&] {
    layer.forward_train(l0::cview(p), l0::cview(x), seed, l0::view(y));
    return dot_all(r, y);
  };
  f();
  // Against a naive convolution.
  const auto w = layer.weights(l0::cview(p));
  const auto bias = layer.bias(l0::cview(p));
  const auto& z = layer.gates();
  for (std::size_t b = 0; b < 5; b += 2)
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t oh = 0; oh < 36; oh += 7)
        for (std::size_t ow = 0; ow < 36; ow += 5) {
          double acc = bias(c);
          for (std::size_t ci = 0; ci < 2; ++ci)
            for (std::size_t i = 0; i < 5; ++i)
              for (std::size_t j = 0; j < 5; ++j)
                acc += w(c, (ci * 5 + i) * 5 + j) * x(b, (ci * 40 + oh + i) * 40 + ow + j);
          ASSERT_NEAR(y(b, (c * 36 + oh) * 36 + ow), z(c) * acc, 1e-10);
        }
  auto gp = vec<double>(layer.num_parameters());
  auto gx = mat<double>(5, layer.in_features());
  layer.backward(l0::cview(p), l0::cview(r), l0::view(gp), l0::view(gx));
  // A second backward of the same forward (col_ then holds the first block) gives the same.
  auto gp2 = vec<double>(layer.num_parameters());
  auto gx2 = mat<double>(5, layer.in_features());
  layer.backward(l0::cview(p), l0::cview(r), l0::view(gp2), l0::view(gx2));
  EXPECT_TRUE(gp2 == gp);
  EXPECT_TRUE(gx2 == gx);
  check_fd("blocked conv params", p.data(), all_coords(p.size()), gp.data(), f);
  std::vector<std::size_t> some_x;
  for (std::size_t i = 0; i < x.size(); i += 97) some_x.push_back(i);
  check_fd("blocked conv input", x.data(), some_x, gx.data(), f);
}

// ============================================================================================
// GatedDense: closed inputs and unneeded output columns skipped
// ============================================================================================

struct HintedDense {
  std::size_t in = 40, out = 37, rows = 5;  // 37 columns: the padded packed path
  l0::GatedDense<double> layer{40, 37, 4};
  xt::xtensor<double, 1> params;
  xt::xtensor<double, 2> x, r, y;
  std::vector<std::size_t> open, needed;
  HintedDense() {
    layer.reserve(6);
    params = vec<double>(layer.num_parameters());
    std::mt19937_64 rng(8);
    layer.init_parameters(l0::view(params), 0.5, rng);
    auto la = layer.log_alpha(l0::view(params));
    for (std::size_t i = 0; i < in; ++i)
      la(i) = (i % 3 == 0) ? -30.0 : (i % 5 == 0 ? 30.0 : 0.2 + 0.05 * i);
    for (std::size_t i = 0; i < in; ++i)
      if (i % 4 != 1) open.push_back(i);  // inputs 1, 5, 9, ... are zero
    for (std::size_t o = 0; o < out; ++o)
      if (o % 3 != 2) needed.push_back(o);
    x = mat<double>(rows, in);
    r = mat<double>(rows, out);
    y = mat<double>(rows, out);
    fill_normal(x, rng);
    fill_normal(r, rng);
    for (std::size_t b = 0; b < rows; ++b) {
      for (std::size_t i = 1; i < in; i += 4) x(b, i) = 0.0;
      for (std::size_t o = 2; o < out; o += 3) r(b, o) = 0.0;  // unneeded columns: zero dy
    }
  }
  double objective(std::uint64_t seed, bool hinted) {
    if (hinted) {
      layer.sample_gates(l0::cview(params), seed);
      l0::ChannelHints hints;
      hints.open_inputs = &open;
      hints.needed_outputs = &needed;
      layer.forward_gated(l0::cview(params), l0::cview(x), l0::view(y), hints);
    } else {
      layer.forward_train(l0::cview(params), l0::cview(x), seed, l0::view(y));
    }
    return dot_all(r, y);
  }
};

TEST(ConditionalDense, ClosedInputsAndUnneededOutputsAreSkippedExactly) {
  HintedDense d;
  const std::uint64_t seed = 5;
  const double f_plain = d.objective(seed, false);
  const auto y_plain = d.y;
  auto gp_plain = vec<double>(d.layer.num_parameters(), 9.0);
  auto gx_plain = mat<double>(d.rows, d.in, 9.0);
  d.layer.backward(l0::cview(d.params), l0::cview(d.r), l0::view(gp_plain), l0::view(gx_plain));

  const double f = d.objective(seed, true);
  EXPECT_NEAR(f, f_plain, 1e-12 * (1.0 + std::abs(f_plain)));
  for (std::size_t b = 0; b < d.rows; ++b) {
    for (std::size_t o = 0; o < d.out; ++o) {
      if (o % 3 == 2)
        EXPECT_EQ(d.y(b, o), 0.0);  // not computed: written as 0
      else
        EXPECT_NEAR(d.y(b, o), y_plain(b, o), 1e-12);
    }
  }
  auto gp = vec<double>(d.layer.num_parameters(), 9.0);
  auto gx = mat<double>(d.rows, d.in, 9.0);
  d.layer.backward(l0::cview(d.params), l0::cview(d.r), l0::view(gp), l0::view(gx));
  EXPECT_LT(rel_diff(gp, gp_plain), 1e-13);
  const auto& lay = d.layer.layout();
  for (std::size_t i = 1; i < d.in; i += 4) {
    EXPECT_EQ(gp(lay.log_alpha_offset + i), 0.0);
    for (std::size_t o = 0; o < d.out; ++o) EXPECT_EQ(gp(lay.weight_offset + i * d.out + o), 0.0);
    for (std::size_t b = 0; b < d.rows; ++b) EXPECT_EQ(gx(b, i), 0.0);
  }
  for (std::size_t o = 2; o < d.out; o += 3) EXPECT_EQ(gp(lay.bias_offset + o), 0.0);
  for (std::size_t b = 0; b < d.rows; ++b)
    for (std::size_t i = 0; i < d.in; ++i)
      if (i % 4 != 1) {
        EXPECT_NEAR(gx(b, i), gx_plain(b, i), 1e-12);
      }

  auto obj = [&] { return d.objective(seed, true); };
  check_fd("hinted dense params", d.params.data(), all_coords(d.params.size()), gp.data(), obj);
  std::vector<std::size_t> open_x;
  for (std::size_t b = 0; b < d.rows; ++b)
    for (const std::size_t i : d.open) open_x.push_back(b * d.in + i);
  check_fd("hinted dense input", d.x.data(), open_x, gx.data(), obj);
}

TEST(ConditionalDense, PaddedWidthsGiveTheSameResultsWithoutHints) {
  // 37 and 100 columns (37 % 16 = 5, 100 % 16 = 4) go through the padded packed path even
  // without hints; 48 and 300 columns do not. All four against a naive loop.
  for (const std::size_t out : {37u, 100u, 48u, 300u}) {
    l0::GatedDense<double> layer(30, out, 1);
    layer.reserve(4);
    auto p = vec<double>(layer.num_parameters());
    std::mt19937_64 rng(out);
    layer.init_parameters(l0::view(p), 0.5, rng);
    auto x = mat<double>(4, 30), y = mat<double>(4, out), r = mat<double>(4, out);
    fill_normal(x, rng);
    fill_normal(r, rng);
    layer.forward_train(l0::cview(p), l0::cview(x), 3, l0::view(y));
    const auto w = layer.weights(l0::cview(p));
    const auto bias = layer.bias(l0::cview(p));
    const auto& z = layer.gates();
    for (std::size_t b = 0; b < 4; ++b) {
      for (std::size_t o = 0; o < out; ++o) {
        double acc = bias(o);
        for (std::size_t i = 0; i < 30; ++i) acc += x(b, i) * z(i) * w(i, o);
        ASSERT_NEAR(y(b, o), acc, 1e-12) << out;
      }
    }
    auto gp = vec<double>(layer.num_parameters());
    auto gx = mat<double>(4, 30);
    layer.backward(l0::cview(p), l0::cview(r), l0::view(gp), l0::view(gx));
    auto f = [&] {
      layer.forward_train(l0::cview(p), l0::cview(x), 3, l0::view(y));
      return dot_all(r, y);
    };
    std::vector<std::size_t> some;
    for (std::size_t i = 0; i < p.size(); i += 7) some.push_back(i);
    check_fd("padded dense " + std::to_string(out), p.data(), some, gp.data(), f);
    check_fd("padded dense input " + std::to_string(out), x.data(), all_coords(x.size()), gx.data(),
             f);
  }
}

// ============================================================================================
// PackedReluPool2d = scatter + bias, relu_forward, MaxPool2d
// ============================================================================================

TEST(PackedReluPool2d, MatchesReluThenMaxPoolOnTheScatteredMaps) {
  const std::size_t c = 5, h = 6, w = 5, rows = 3, plane = h * w;  // w odd: floor pooling
  const std::vector<std::size_t> maps{0, 2, 3};
  const std::size_t chunk = 2;  // blocks of 2 images, the last one shorter (3 images)
  std::mt19937_64 rng(12);
  auto y = vec<double>(maps.size() * rows * plane);
  fill_normal(y, rng);
  auto at = [&](std::size_t a, std::size_t b) {
    return saddle::nn::packed_offset(a, b, maps.size(), rows, chunk, plane);
  };
  y(at(1, 0) + 7) = y(at(1, 0) + 8);  // a tie inside a window
  auto bias = vec<double>(maps.size());
  fill_normal(bias, rng, 0.3);
  // Reference: scatter with bias (closed maps 0), ReLU, MaxPool2d.
  auto full = mat<double>(rows, c * plane);
  for (std::size_t a = 0; a < maps.size(); ++a)
    for (std::size_t b = 0; b < rows; ++b)
      for (std::size_t p = 0; p < plane; ++p)
        full(b, maps[a] * plane + p) = y(at(a, b) + p) + bias(a);
  l0::relu_forward<double>(l0::cview(full), l0::view(full));
  l0::MaxPool2d<double> pool(c, h, w);
  pool.reserve(rows);
  auto ref = mat<double>(rows, pool.out_features());
  pool.forward(l0::cview(full), l0::view(ref));

  l0::PackedReluPool2d<double> fused(c, h, w);
  fused.reserve(rows);
  auto out = mat<double>(rows, fused.out_features(), 5.0);
  fused.forward(l0::cview(y), chunk, maps, l0::cview(bias), l0::view(out));
  EXPECT_TRUE(out == ref);

  auto g = mat<double>(rows, fused.out_features());
  fill_normal(g, rng);
  auto gfull = mat<double>(rows, c * plane);
  pool.backward(l0::cview(g), l0::view(gfull));
  l0::relu_backward<double>(l0::cview(full), l0::cview(gfull), l0::view(gfull));
  auto dy = vec<double>(maps.size() * rows * plane, 5.0);
  fused.backward(l0::cview(out), l0::cview(g), l0::view(dy));
  for (std::size_t a = 0; a < maps.size(); ++a)
    for (std::size_t b = 0; b < rows; ++b)
      for (std::size_t p = 0; p < plane; ++p)
        EXPECT_EQ(dy(at(a, b) + p), gfull(b, maps[a] * plane + p));
  EXPECT_THROW(fused.forward(l0::cview(y), chunk, std::vector<std::size_t>{2, 0, 3},
                             l0::cview(bias), l0::view(out)),
               saddle::InputError);
}

// ============================================================================================
// GatedModel = the layer-by-layer computation without hints
// ============================================================================================

// The chain GatedModel ran before conditional computation, from the public layers.
template <class T>
struct PlainChain {
  l0::Architecture arch;
  std::vector<l0::GatedLayerInfo> info;
  std::vector<std::unique_ptr<l0::GatedDense<T>>> dense;
  std::unique_ptr<l0::GatedConv2d<T>> conv1, conv2;
  std::unique_ptr<l0::MaxPool2d<T>> pool1, pool2;
  std::vector<xt::xtensor<T, 2>> a, g;  // activations and their gradients
  xt::xtensor<T, 2> c1, c2, gc1, gc2;   // conv outputs before ReLU/pool
  PlainChain(const l0::GatedModel<T>& model, std::size_t rows)
      : arch(model.architecture()), info(model.gated_layers()) {
    if (arch == l0::Architecture::mlp) {
      dense.push_back(std::make_unique<l0::GatedDense<T>>(784, 300, 0));
      dense.push_back(std::make_unique<l0::GatedDense<T>>(300, 100, 1));
      dense.push_back(std::make_unique<l0::GatedDense<T>>(100, 10, 2));
    } else {
      conv1 = std::make_unique<l0::GatedConv2d<T>>(1, 28, 28, 20, 5, 0);
      pool1 = std::make_unique<l0::MaxPool2d<T>>(20, 24, 24);
      conv2 = std::make_unique<l0::GatedConv2d<T>>(20, 12, 12, 50, 5, 1);
      pool2 = std::make_unique<l0::MaxPool2d<T>>(50, 8, 8);
      dense.push_back(std::make_unique<l0::GatedDense<T>>(800, 500, 2));
      dense.push_back(std::make_unique<l0::GatedDense<T>>(500, 10, 3));
      conv1->reserve(rows);
      conv2->reserve(rows);
      pool1->reserve(rows);
      pool2->reserve(rows);
      c1 = mat<T>(rows, conv1->out_features());
      gc1 = mat<T>(rows, conv1->out_features());
      c2 = mat<T>(rows, conv2->out_features());
      gc2 = mat<T>(rows, conv2->out_features());
      a.push_back(mat<T>(rows, 20 * 144));
      g.push_back(mat<T>(rows, 20 * 144));
      a.push_back(mat<T>(rows, 800));
      g.push_back(mat<T>(rows, 800));
    }
    for (auto& d : dense) {
      d->reserve(rows);
      a.push_back(mat<T>(rows, d->out_features()));
      g.push_back(mat<T>(rows, d->out_features()));
    }
  }
  l0::ConstView<T, 1> slice(const Vector<T>& x, std::size_t l) const {
    return l0::make_cview<T, 1>(x.data() + info[l].offset, {info[l].size});
  }
  l0::View<T, 1> slice(Vector<T>& x, std::size_t l) const {
    return l0::make_view<T, 1>(x.data() + info[l].offset, {info[l].size});
  }
  // Loss, and the gradient of the mean cross-entropy into grad.
  double run(const Vector<T>& x, const xt::xtensor<T, 2>& input,
             const xt::xtensor<std::int32_t, 1>& y, std::uint64_t seed, Vector<T>& grad) {
    const std::size_t conv_layers = arch == l0::Architecture::mlp ? 0 : 2;
    const std::size_t first_dense = conv_layers == 0 ? 0 : 2;  // index into a/g
    if (conv_layers) {
      conv1->forward_train(slice(x, 0), l0::cview(input), seed, l0::view(c1));
      l0::relu_forward<T>(l0::cview(c1), l0::view(c1));
      pool1->forward(l0::cview(c1), l0::view(a[0]));
      conv2->forward_train(slice(x, 1), l0::cview(a[0]), seed, l0::view(c2));
      l0::relu_forward<T>(l0::cview(c2), l0::view(c2));
      pool2->forward(l0::cview(c2), l0::view(a[1]));
    }
    for (std::size_t d = 0; d < dense.size(); ++d) {
      const auto in = d == 0 ? (conv_layers ? l0::cview(a[1]) : l0::cview(input))
                             : l0::cview(a[first_dense + d - 1]);
      dense[d]->forward_train(slice(x, conv_layers + d), in, seed, l0::view(a[first_dense + d]));
      if (d + 1 < dense.size())
        l0::relu_forward<T>(l0::cview(a[first_dense + d]), l0::view(a[first_dense + d]));
    }
    const auto res =
        l0::softmax_cross_entropy<T>(l0::cview(a.back()), l0::cview(y), l0::view(g.back()));
    for (std::size_t d = dense.size(); d-- > 0;) {
      const std::size_t i = first_dense + d;
      if (d + 1 < dense.size())
        l0::relu_backward<T>(l0::cview(a[i]), l0::cview(g[i]), l0::view(g[i]));
      if (d == 0 && !conv_layers)
        dense[d]->backward(slice(x, d), l0::cview(g[i]), slice(grad, d));
      else
        dense[d]->backward(slice(x, conv_layers + d), l0::cview(g[i]), slice(grad, conv_layers + d),
                           l0::view(g[i - 1]));
    }
    if (conv_layers) {
      pool2->backward(l0::cview(g[1]), l0::view(gc2));
      l0::relu_backward<T>(l0::cview(c2), l0::cview(gc2), l0::view(gc2));
      conv2->backward(slice(x, 1), l0::cview(gc2), slice(grad, 1), l0::view(g[0]));
      pool1->backward(l0::cview(g[0]), l0::view(gc1));
      l0::relu_backward<T>(l0::cview(c1), l0::cview(gc1), l0::view(gc1));
      conv1->backward(slice(x, 0), l0::cview(gc1), slice(grad, 0));
    }
    return res.loss;
  }
};

template <class T>
void expect_model_matches_plain_chain(l0::Architecture arch, double tol) {
  const std::size_t rows = 12;
  l0::GatedModel<T> model(arch);
  model.reserve(rows);
  PlainChain<T> plain(model, rows);
  Vector<T> x = Vector<T>::from_shape({model.num_parameters()});
  model.init_parameters(l0::make_view<T, 1>(x.data(), {x.size()}), 4, l0::InitScheme::lz);
  std::mt19937_64 rng(21);
  for (const auto& l : model.gated_layers())
    sparse_log_alpha(l0::make_view<T, 1>(x.data() + l.log_alpha_offset, {l.num_gates}), rng);
  auto input = mat<T>(rows, 784);
  fill_normal(input, rng);
  xt::xtensor<std::int32_t, 1> y = xt::xtensor<std::int32_t, 1>::from_shape({rows});
  for (std::size_t i = 0; i < rows; ++i) y(i) = static_cast<std::int32_t>((3 * i) % 10);
  for (const std::uint64_t seed : {1u, 2u, 3u}) {
    Vector<T> g_model = Vector<T>::from_shape({x.size()});
    Vector<T> g_plain = Vector<T>::from_shape({x.size()});
    g_model.fill(T(5));
    g_plain.fill(T(5));
    const auto px = l0::make_cview<T, 1>(x.data(), {x.size()});
    const double loss_model = model.forward_train(px, l0::cview(input), l0::cview(y), seed).loss;
    model.backward(px, l0::make_view<T, 1>(g_model.data(), {g_model.size()}));
    const double loss_plain = plain.run(x, input, y, seed, g_plain);
    EXPECT_NEAR(loss_model, loss_plain, tol * (1.0 + std::abs(loss_plain)))
        << to_string(arch) << " seed " << seed;
    EXPECT_LT(rel_diff(model.logits(), plain.a.back()), tol) << to_string(arch);
    // Per layer and group: relative to the layer's largest gradient; closed gates exactly 0.
    for (std::size_t l = 0; l < model.gated_layers().size(); ++l) {
      const auto& info = model.gated_layers()[l];
      const auto gm = l0::make_cview<T, 1>(g_model.data() + info.offset, {info.size});
      const auto gq = l0::make_cview<T, 1>(g_plain.data() + info.offset, {info.size});
      EXPECT_LT(rel_diff(gm, gq), tol)
          << to_string(arch) << " layer " << info.name << " seed " << seed;
      for (std::size_t j = 0; j < info.size; ++j)
        if (gq(j) == T(0)) {
          ASSERT_EQ(gm(j), T(0)) << info.name << " [" << j << "]";
        }
    }
  }
}

TEST(ConditionalModel, LenetEqualsTheLayerByLayerPathInDouble) {
  expect_model_matches_plain_chain<double>(l0::Architecture::lenet5, 1e-12);
}
TEST(ConditionalModel, MlpEqualsTheLayerByLayerPathInDouble) {
  expect_model_matches_plain_chain<double>(l0::Architecture::mlp, 1e-12);
}
TEST(ConditionalModel, LenetEqualsTheLayerByLayerPathInFloat) {
  expect_model_matches_plain_chain<float>(l0::Architecture::lenet5, 2e-5);
}
TEST(ConditionalModel, MlpEqualsTheLayerByLayerPathInFloat) {
  expect_model_matches_plain_chain<float>(l0::Architecture::mlp, 2e-5);
}

}  // namespace
