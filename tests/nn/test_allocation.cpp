// nn::Network forward/backward (plain and gated layers) and the rate-constraint problem's
// forward/backward/shuffle must not allocate after reserve() and a first call. Counted at
// the C allocator level (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign
// are interposed for this test binary and forwarded to glibc's __libc_* entry points),
// because xtensor allocates with posix_memalign, which a replacement of operator new would
// not see. Counting is per thread
// and only inside the measured window. Under AddressSanitizer (which owns malloc) the
// interposition is compiled out and the tests are skipped.

#include <gtest/gtest.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "rate_problem.hpp"
#include "saddle/nn/network.hpp"

// This file defines the binary's interposed C allocator (tests/common/allocation_counter.hpp).
#define SADDLE_TEST_ALLOC_DEFINE
#include "common/allocation_counter.hpp"
#define SADDLE_COUNT_ALLOCATIONS SADDLE_TEST_COUNT_ALLOCATIONS

namespace {
using saddle_test_alloc::AllocationCounter;

// Layer sizes where OpenBLAS itself does not allocate: its sgemm mallocs inside some small
// calls (measured with OpenBLAS 0.3.21: [16, K] x [K, 20] for K >= 40, the same for the
// plain and the gated dense layer), which no layer code can avoid.
void expect_no_allocation(saddle::nn::Network<float> net, std::size_t rows) {
  using namespace saddle;
  net.reserve(rows);
  Vector<float> theta = Vector<float>::from_shape({net.num_parameters()});
  Vector<float> grad = theta;
  net.init_parameters(nn::view(theta), 1);
  xt::xtensor<float, 2> in = xt::ones<float>({rows, net.in_features()});
  xt::xtensor<float, 2> dy = xt::ones<float>({rows, net.out_features()});
  const auto half_in = nn::crows(in, rows / 2);
  const auto half_dy = nn::crows(dy, rows / 2);
  // Warm-up: OpenBLAS initialises its buffers with its own allocator on first use.
  net.forward(nn::cview(theta), nn::cview(in), nn::Mode::train, 1);
  net.backward(nn::cview(theta), nn::cview(dy), nn::view(grad));
  net.forward(nn::cview(theta), half_in, nn::Mode::eval);
  net.backward(nn::cview(theta), half_dy, nn::view(grad));
  AllocationCounter counter;
  for (std::uint64_t rep = 0; rep < 3; ++rep) {
    net.forward(nn::cview(theta), nn::cview(in), nn::Mode::train, rep);
    net.backward(nn::cview(theta), nn::cview(dy), nn::view(grad));
    net.forward(nn::cview(theta), half_in, nn::Mode::eval);
    net.backward(nn::cview(theta), half_dy, nn::view(grad));
    net.clamp_log_alpha(nn::view(theta));
  }
  EXPECT_EQ(counter.count(), 0u);
}

TEST(NnAllocation, ConvNetForwardBackwardDoNotAllocate) {
  if (!SADDLE_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under sanitizers";
  saddle::nn::Network<float> net(1, 28, 28);  // LeNet5-Caffe's convolutional part
  net.add_conv2d(20, 5).add_relu().add_max_pool().add_gated_conv2d(50, 5).add_relu().add_max_pool();
  expect_no_allocation(std::move(net), 32);
}

TEST(NnAllocation, MlpForwardBackwardDoNotAllocate) {
  if (!SADDLE_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under sanitizers";
  saddle::nn::Network<float> net(784);
  net.add_dense(300).add_relu().add_gated_dense(100).add_relu().add_dense(10);
  expect_no_allocation(std::move(net), 128);
}

TEST(NnAllocation, RateProblemStepDoesNotAllocate) {
  if (!SADDLE_COUNT_ALLOCATIONS) GTEST_SKIP() << "allocation counting is off under sanitizers";
  using namespace saddle;
  nn::Dataset data;
  data.rows = data.cols = 5;
  data.train.x = xt::ones<float>({300, 25});
  data.train.y = xt::xtensor<std::int32_t, 1>::from_shape({300});
  for (std::size_t i = 0; i < 300; ++i) data.train.y(i) = static_cast<std::int32_t>(i % 10);
  for (std::size_t validation : {0, 60}) {  // strict values on the training / held-out batch
    rate_constraints::RateProblemOptions o;
    o.hidden = {16, 8};
    o.batch = 64;
    o.validation = validation;
    rate_constraints::RateConstrainedClassifier p(data, o);
    Vector<float> x = Vector<float>::from_shape({p.num_parameters()});
    Vector<float> grad = x;
    p.initial_point(x, 2);
    Vector<double> w = xt::ones<double>({10});
    Evaluation e;
    e.resize(10);
    p.forward(x, Batch{0, 64, 1}, e);
    p.backward(w, grad);
    const std::size_t last = p.num_samples() / 64 * 64;
    AllocationCounter counter;
    for (std::uint64_t rep = 0; rep < 3; ++rep) {
      p.shuffle(rep);
      p.forward(x, Batch{64, 64, rep}, e);
      p.backward(w, grad);
      p.forward(x, Batch{last, p.num_samples() - last, rep}, e);  // the last, smaller batch
      p.backward(w, grad);
    }
    EXPECT_EQ(counter.count(), 0u) << "validation " << validation;
  }
}

}  // namespace
