// saddle_bench_phases: where a layer-split forward + backward spends its time. One
// DensityProblem on real MNIST whose work is split over a team (DensityProblem::set_runner,
// `saddle train --thread-split layers`) through a timing RangeRunner: for every fork-join of a
// pass (the batch gather, the gate sampling, each dense layer's phases, ReLUs, density terms)
// it records the wall time of the fork-join and the time of each part inside it. With
// --sequential the parts run one after the other on the calling thread (the work of each part
// alone, no second core): the two runs side by side show how each phase splits, its
// imbalance, and what the fork-joins and the serial code between them cost.
//
// Usage: saddle_bench_phases [--model mlp|lenet5] [--passes N] [--threads N] [--sequential]
//                            [--sparse]
// --sparse: every gate open with probability 0.3 (saddle_bench's sparse30 state: the compacted
// GEMMs of a sparsified network) instead of the initial gates.
// Prints one line per fork-join of a pass (index in the pass, median over the passes of the
// wall time and of each part's time, microseconds), then the pass: forward + backward time,
// the time inside fork-joins, the sum of the slowest parts, and the time outside fork-joins.
// Data: $SADDLE_MNIST_DIR or <repo>/data/mnist; missing data: one error line, exit 1.
#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "saddle/problems/l0/density_problem.hpp"
#include "saddle/problems/l0/experiment.hpp"
#include "saddle/thread_parallel.hpp"
#include "bench_problem.hpp"

extern "C" void openblas_set_num_threads(int num_threads);

namespace {

using Clock = std::chrono::steady_clock;
double us_since(Clock::time_point t) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A RangeRunner that forwards to a team (or runs the parts in order on the calling thread) and
// records, per fork-join of the current pass, its wall time and each part's time.
class TimingRunner final : public saddle::RangeRunner {
 public:
  TimingRunner(saddle::ThreadTeam& team, bool sequential) : team_(team), sequential_(sequential) {}
  std::size_t workers() const override { return team_.size(); }
  void run(void (*task)(void*, std::size_t), void* ctx) override {
    const std::size_t n = team_.size();
    if (parts_.size() < n) parts_.resize(n);
    struct Call {
      void (*task)(void*, std::size_t);
      void* ctx;
      double* part_us;
    } call{task, ctx, parts_.data()};
    auto timed = [](void* c, std::size_t i) {
      auto& k = *static_cast<Call*>(c);
      const auto t = Clock::now();
      k.task(k.ctx, i);
      k.part_us[i] = us_since(t);
    };
    const auto t = Clock::now();
    if (sequential_) {
      for (std::size_t i = 0; i < n; ++i) timed(&call, i);
    } else {
      team_.run(timed, &call);
    }
    const double wall = us_since(t);
    if (recording_) {
      if (wall_.size() <= index_) {
        wall_.resize(index_ + 1);
        part_.resize(index_ + 1, std::vector<std::vector<double>>(n));
      }
      wall_[index_].push_back(wall);
      for (std::size_t i = 0; i < n; ++i) part_[index_][i].push_back(parts_[i]);
    }
    ++index_;
  }
  void start_pass(bool record) {
    index_ = 0;
    recording_ = record;
  }
  std::size_t calls() const { return wall_.size(); }
  const std::vector<double>& wall(std::size_t c) const { return wall_[c]; }
  const std::vector<double>& part(std::size_t c, std::size_t i) const { return part_[c][i]; }

 private:
  saddle::ThreadTeam& team_;
  bool sequential_;
  bool recording_ = false;
  std::size_t index_ = 0;
  std::vector<double> parts_;
  std::vector<std::vector<double>> wall_;                // [call][pass]
  std::vector<std::vector<std::vector<double>>> part_;  // [call][part][pass]
};

}  // namespace

int main(int argc, char** argv) {
  namespace l0 = saddle::l0;
  std::string model = "mlp";
  std::size_t passes = 2000, threads = 2;
  bool sequential = false, sparse = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--sequential" || flag == "--sparse") {
      (flag == "--sparse" ? sparse : sequential) = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "saddle_bench_phases: error: %s needs a value\n", flag.c_str());
      return 2;
    }
    const std::string value = argv[++i];
    if (flag == "--model" && (value == "mlp" || value == "lenet5")) {
      model = value;
    } else if (flag == "--passes" && std::atol(value.c_str()) > 0) {
      passes = static_cast<std::size_t>(std::atol(value.c_str()));
    } else if (flag == "--threads" && std::atol(value.c_str()) >= 2 && std::atol(value.c_str()) <= 64) {
      threads = static_cast<std::size_t>(std::atol(value.c_str()));
    } else {
      std::fprintf(stderr,
                   "saddle_bench_phases: error: bad flag or value '%s %s' (flags: --model mlp|lenet5, "
                   "--passes N > 0, --threads 2..64, --sequential, --sparse)\n",
                   flag.c_str(), value.c_str());
      return 2;
    }
  }
  openblas_set_num_threads(1);
  l0::Dataset data;
  if (!saddle_bench::load_mnist("saddle_bench_phases", data)) return 1;
  const std::size_t batch = 128;
  l0::DensityProblem problem(data,
                             saddle_bench::density_problem_options(l0::parse_architecture(model), batch, data));
  saddle::ThreadTeam team(threads, saddle::ThreadBackend::std_thread);
  TimingRunner runner(team, sequential);
  problem.set_runner(&runner);
  saddle::Vector<float> x = saddle::Vector<float>::from_shape({problem.num_parameters()});
  saddle::Vector<float> grad = x;
  problem.initial_point(x, 1);
  if (sparse) {  // 1 - q0 = sigmoid(log_alpha - kQ0Shift) = 0.3 for every gate
    const double la = std::log(0.3 / 0.7) + l0::kQ0Shift;
    for (const auto& g : problem.model().gated_layers())
      for (std::size_t j = 0; j < g.num_gates; ++j) x(g.log_alpha_offset + j) = static_cast<float>(la);
  }
  problem.shuffle(1);
  saddle::Evaluation eval;
  eval.resize(problem.constraints().size());
  saddle::Vector<double> weights = saddle::Vector<double>::from_shape({problem.constraints().size()});
  weights.fill(1.0);
  const std::size_t batches = data.train.size() / batch, warmup = 20;
  std::vector<double> total, forward;
  for (std::size_t s = 0; s < passes + warmup; ++s) {
    const bool record = s >= warmup;
    runner.start_pass(record);
    const auto t0 = Clock::now();
    problem.forward(x, saddle::Batch{(s % batches) * batch, batch, s}, eval);
    const double f = us_since(t0);
    problem.backward(weights, grad);
    const double all = us_since(t0);
    if (record) {
      total.push_back(all);
      forward.push_back(f);
    }
  }
  std::printf("saddle_bench_phases: %s, batch %zu, %zu passes, %zu parts%s (%s)\n", model.c_str(), batch, passes,
              threads, sequential ? ", run one after the other" : "",
              sparse ? "every gate open with probability 0.3" : "gates as initialised");
  double in_forks = 0.0, slowest = 0.0;
  for (std::size_t c = 0; c < runner.calls(); ++c) {
    const double w = median(runner.wall(c));
    double worst = 0.0;
    std::printf("fork %2zu  wall %8.1f  parts", c, w);
    for (std::size_t i = 0; i < threads; ++i) {
      const double p = median(runner.part(c, i));
      worst = std::max(worst, p);
      std::printf(" %8.1f", p);
    }
    std::printf("\n");
    in_forks += w;
    slowest += worst;
  }
  const double t = median(total);
  std::printf("pass: forward + backward %.1f us (forward %.1f), in fork-joins %.1f, slowest parts %.1f, "
              "outside fork-joins %.1f\n",
              t, median(forward), in_forks, slowest, t - in_forks);
  return 0;
}
