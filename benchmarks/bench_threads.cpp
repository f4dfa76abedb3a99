// saddle_bench_threads: wall time of a training step of the L0 flagship on real MNIST in one
// process, with the two cores used six ways, measured in ONE run with the configurations
// interleaved round by round (the machine is shared: compare ratios, not absolute times):
//
//   blas1      1 thread, OpenBLAS 1 thread                 (the one-core baseline)
//   blas2      1 thread, OpenBLAS 2 threads                (today's two-core mode)
//   tbb2       2 data-parallel threads (oneTBB arena), OpenBLAS 1 thread each
//   std2       2 data-parallel threads (std::thread team), OpenBLAS 1 thread each
//   tbb2s      tbb2, and the solver's per-element work (Adam's update) split over
//              the same team (SolverOptions::range_runner), as `saddle train --threads 2` runs
//   std2s      std2, the same
//   tbb2l      ONE problem, its dense layers' work split over a team of 2 (column blocks
//              forward, input blocks backward: DensityProblem::set_runner) and the solver's
//              per-element work on the same team (oneTBB arena), OpenBLAS 1 thread
//   std2l      tbb2l on saddle's std::thread team (`saddle train --threads 2 --thread-split
//              layers` runs it)
//
// Usage: saddle_bench_threads [--models mlp,lenet5] [--steps N] [--rounds R] [--threads N]
//                             [--configs blas1,blas2,tbb2,std2,tbb2s,std2s,tbb2l,std2l]
// Prints one line per measurement
//   RUN model=<m> config=<c> round=<r> ms_step=<..> allocs_per_step=<..> main_cpu_ms=<..>
//       process_cpu_ms=<..> serial_cpu_ms=<..>
// (wall ms per step; CPU ms per step of the calling thread, which runs the solver and replica 0,
// and of the whole process: on a loaded machine, where the scheduler shares the cores between
// processes, the calling thread's CPU time per step is the step's critical path, what the
// wall time would be on idle cores, give or take the wait for the slower replica)
// then per model the median ms per step of every configuration, its training epoch
// (469 steps of 128 rows: s_epoch_train = 469 * ms_step / 1000) and the ratios of the medians
// to blas1 and blas2. Each measurement solves steps + 1 steps of `saddle train`'s defaults (gda,
// Adam 7e-4, nuPI, restarts, density <= 0.33, batch 128) from the initial point and times
// steps 2..N+1; allocations are counted in every thread over the same steps. Data:
// $SADDLE_MNIST_DIR or <repo>/data/mnist; missing data: one error line, exit 1.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "saddle/problems/l0/density_problem.hpp"
#include "saddle/problems/l0/experiment.hpp"
#include "saddle/solvers.hpp"
#include "saddle/thread_parallel.hpp"
#include "bench_problem.hpp"

// This program's interposed C allocator (counts in every thread); after every other header.
#define SADDLE_TEST_ALLOC_DEFINE
#include "common/allocation_counter.hpp"

extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
}

namespace {

using Clock = std::chrono::steady_clock;

double cpu_seconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Forwards to a problem and adds up the calling thread's CPU time inside forward, backward
// and constraints-only evaluations: what the step spends in the (split) problem; the rest of
// the step (the solver: weights, Adam, projection, checks, copies) is serial.
class TimedProblem final : public saddle::BasicProblem<float> {
 public:
  explicit TimedProblem(saddle::BasicProblem<float>& inner) : inner_(inner) {}
  std::size_t num_parameters() const override { return inner_.num_parameters(); }
  std::vector<saddle::ConstraintSpec> constraints() const override { return inner_.constraints(); }
  void initial_point(saddle::Vector<float>& x, std::uint64_t seed) const override {
    inner_.initial_point(x, seed);
  }
  void forward(const saddle::Vector<float>& x, const saddle::Batch& b,
               saddle::Evaluation& e) override {
    const double t0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    inner_.forward(x, b, e);
    cpu += cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - t0;
  }
  void backward(const saddle::Vector<double>& w, saddle::Vector<float>& g) override {
    const double t0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    inner_.backward(w, g);
    cpu += cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - t0;
  }
  void evaluate_constraints(const saddle::Vector<float>& x, const saddle::Batch& b,
                            saddle::Evaluation& e) override {
    const double t0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    inner_.evaluate_constraints(x, b, e);
    cpu += cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - t0;
  }
  std::size_t num_samples() const override { return inner_.num_samples(); }
  void shuffle(std::uint64_t seed) override { inner_.shuffle(seed); }
  void project(saddle::Vector<float>& x) const override { inner_.project(x); }
  double cpu = 0.0;  // seconds, calling thread

 private:
  saddle::BasicProblem<float>& inner_;
};

// Wall time and allocations (all threads) from the end of step 1 to the end of step `last`.
class StepClock final : public saddle::Callback<float> {
 public:
  StepClock(std::size_t last, const TimedProblem* problem) : last_(last), problem_(problem) {}
  bool on_step(const saddle::StepInfo<float>& info) override {
    if (info.iteration == 1) {
      counter_.emplace();
      start_ = Clock::now();
      main_cpu_start_ = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
      problem_cpu_start_ = problem_->cpu;
      process_cpu_start_ = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
    }
    if (info.iteration == last_) {
      seconds = std::chrono::duration<double>(Clock::now() - start_).count();
      main_cpu = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - main_cpu_start_;
      problem_cpu = problem_->cpu - problem_cpu_start_;
      process_cpu = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - process_cpu_start_;
      allocations = counter_->count();
      counter_.reset();
    }
    return true;
  }
  double seconds = 0.0, main_cpu = 0.0, process_cpu = 0.0, problem_cpu = 0.0;
  std::size_t allocations = 0;

 private:
  std::size_t last_;
  Clock::time_point start_;
  double main_cpu_start_ = 0.0, process_cpu_start_ = 0.0, problem_cpu_start_ = 0.0;
  const TimedProblem* problem_;
  std::optional<saddle_test_alloc::ProcessAllocationCounter> counter_;
};

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream s(text);
  for (std::string item; std::getline(s, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  namespace l0 = saddle::l0;
  std::vector<std::string> models = {"mlp", "lenet5"};
  std::vector<std::string> configs = {"blas1", "blas2", "tbb2",  "std2",
                                      "tbb2s", "std2s", "tbb2l", "std2l"};
  std::size_t steps = 100, rounds = 5, threads = 2;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "saddle_bench_threads: error: %s needs a value\n", flag.c_str());
      return 2;
    }
    const std::string value = argv[i + 1];
    if (flag == "--models") {
      models = split(value);
    } else if (flag == "--configs") {
      configs = split(value);
    } else if (flag == "--steps") {
      steps = std::stoul(value);
    } else if (flag == "--rounds") {
      rounds = std::stoul(value);
    } else if (flag == "--threads") {
      threads = std::stoul(value);
    } else {
      std::fprintf(stderr, "saddle_bench_threads: error: unknown flag '%s'\n", flag.c_str());
      return 2;
    }
  }
  for (const auto& c : configs)
    if (c != "blas1" && c != "blas2" && c != "tbb2" && c != "std2" && c != "tbb2s" &&
        c != "std2s" && c != "tbb2l" && c != "std2l") {
      std::fprintf(stderr,
                   "saddle_bench_threads: error: unknown config '%s' (choices: blas1, blas2, tbb2, "
                   "std2, tbb2s, std2s, tbb2l, std2l)\n",
                   c.c_str());
      return 2;
    }
  l0::Dataset data;
  if (!saddle_bench::load_mnist("saddle_bench_threads", data)) return 1;
  const std::size_t batch = 128;
  const double steps_per_epoch = static_cast<double>((data.train.size() + batch - 1) / batch);
  std::printf("saddle_bench_threads: %zu steps x %zu rounds, data-parallel threads = %zu, tbb %s\n",
              steps, rounds, threads, saddle::tbb_available() ? "available" : "not built");
  for (const auto& model : models) {
    const l0::DensityProblemOptions po =
        saddle_bench::density_problem_options(l0::parse_architecture(model), batch, data);
    // The problems are built once and reused by every round.
    l0::DensityProblem single(data, po);
    auto make = [&](std::size_t) { return std::make_unique<l0::DensityProblem>(data, po); };
    std::map<std::string, std::unique_ptr<saddle::ThreadParallelProblem<float>>> split_problems;
    for (const auto& c : configs) {
      if ((c == "tbb2" || c == "tbb2s") && saddle::tbb_available())
        split_problems[c] = std::make_unique<saddle::ThreadParallelProblem<float>>(
            threads, make, saddle::ThreadBackend::tbb);
      if (c == "std2" || c == "std2s")
        split_problems[c] = std::make_unique<saddle::ThreadParallelProblem<float>>(
            threads, make, saddle::ThreadBackend::std_thread);
    }
    // Layer split: one problem per config, its model's dense layers on the config's team.
    std::map<std::string, std::unique_ptr<saddle::ThreadTeam>> teams;
    std::map<std::string, std::unique_ptr<l0::DensityProblem>> layer_problems;
    for (const auto& c : configs) {
      if (c != "tbb2l" && c != "std2l") continue;
      if (c == "tbb2l" && !saddle::tbb_available()) continue;
      teams[c] = std::make_unique<saddle::ThreadTeam>(
          threads, c == "tbb2l" ? saddle::ThreadBackend::tbb : saddle::ThreadBackend::std_thread);
      layer_problems[c] = std::make_unique<l0::DensityProblem>(data, po);
      layer_problems[c]->set_runner(teams[c].get());
    }
    saddle::SolverOptions so = l0::TrainConfig::default_solver_options();
    so.dual.kind = saddle::DualRuleKind::nupi;
    so.dual.kp = 100;
    so.batch_size = batch;
    so.max_iterations = steps + 1;
    so.max_epochs = 0;
    so.seed = 1;
    std::map<std::string, std::vector<double>> ms;
    for (std::size_t round = 0; round < rounds; ++round) {
      for (const auto& c : configs) {
        if ((c == "tbb2" || c == "tbb2s" || c == "tbb2l") && !saddle::tbb_available()) continue;
        openblas_set_num_threads(c == "blas2" ? 2 : 1);
        saddle::BasicProblem<float>& solved =
            split_problems.count(c) ? static_cast<saddle::BasicProblem<float>&>(*split_problems[c])
            : layer_problems.count(c)
                ? static_cast<saddle::BasicProblem<float>&>(*layer_problems[c])
                : single;
        saddle::SolverOptions sc = so;
        if (c == "tbb2s" || c == "std2s") sc.range_runner = &split_problems[c]->team();
        if (teams.count(c)) sc.range_runner = teams[c].get();
        if (round == 0) {  // warm-up: BLAS buffers, first touch, thread start
          saddle::SolverOptions warm = sc;
          warm.max_iterations = 3;
          saddle::solve(solved, warm, "gda");
        }
        TimedProblem timed(solved);
        StepClock clock(steps + 1, &timed);
        saddle::solve<float>(timed, sc, "gda", {&clock});
        const double t = 1e3 * clock.seconds / static_cast<double>(steps);
        ms[c].push_back(t);
        const double per = 1e3 / static_cast<double>(steps);
        std::printf(
            "RUN model=%s config=%s round=%zu ms_step=%.4f allocs_per_step=%.4f main_cpu_ms=%.4f "
            "process_cpu_ms=%.4f serial_cpu_ms=%.4f\n",
            model.c_str(), c.c_str(), round, t,
            static_cast<double>(clock.allocations) / static_cast<double>(steps),
            per * clock.main_cpu, per * clock.process_cpu,
            per * (clock.main_cpu - clock.problem_cpu));
        std::fflush(stdout);
      }
    }
    std::printf("\n%s, batch %zu: median of %zu rounds\n", model.c_str(), batch, rounds);
    std::printf("  %-6s %10s %14s %10s %10s\n", "config", "ms/step", "s/epoch(469)", "/blas1",
                "/blas2");
    for (const auto& c : configs) {
      if (ms[c].empty()) continue;
      const double m = median(ms[c]);
      const double b1 = ms.count("blas1") && !ms["blas1"].empty() ? median(ms["blas1"]) : 0.0;
      const double b2 = ms.count("blas2") && !ms["blas2"].empty() ? median(ms["blas2"]) : 0.0;
      std::printf("  %-6s %10.3f %14.2f %10.3f %10.3f\n", c.c_str(), m, steps_per_epoch * m / 1e3,
                  b1 > 0 ? m / b1 : 0.0, b2 > 0 ? m / b2 : 0.0);
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  openblas_set_num_threads(1);
  return 0;
}
