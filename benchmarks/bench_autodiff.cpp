// saddle_bench_autodiff: the cost of one forward + backward of the seven analytic problems
// written three ways, measured in the same run (docs/performance.md explains the figures):
//   hand      the built-in problem (hand-written backward), the baseline;
//   autodiff  AutoDiffProblem over the functor of tests/common/analytic_functors.hpp
//             (ADOL-C: zos_forward + one fos_reverse with the seed (1, w));
//   numeric   NumericDiffProblem over the same functor (1 + 2n functor evaluations).
// Each benchmark evaluates forward(x, batch) then backward(w) at a fixed point with fixed
// weights (distinct, non-zero); the regression uses batch 128 of a shuffled order, the
// others the whole (deterministic) problem. Times are thread CPU time
// (CLOCK_THREAD_CPUTIME_ID) per forward + backward, so a loaded machine's waiting does not
// count. The `ratio` counter of autodiff and numeric is their time over the hand-written
// time of the same problem, measured earlier in the same run; a summary table follows the
// Google Benchmark output.

#include <benchmark/benchmark.h>

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/analytic_functors.hpp"
#include "saddle/autodiff.hpp"
#include "saddle/numeric_diff.hpp"
#include "saddle/problems/registry.hpp"

namespace {

using saddle::Vector;
namespace tf = saddle::testing_functors;

double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

const saddle::problems::ProblemRegistry& registry() {
  static const saddle::problems::ProblemRegistry r = [] {
    saddle::problems::ProblemRegistry reg;
    saddle::problems::register_builtin_problems(reg);
    return reg;
  }();
  return r;
}

std::unique_ptr<saddle::Problem> make(const std::string& name, const std::string& way) {
  if (way == "hand") return registry().get(name).make();
  if (way == "autodiff")
    return tf::function_version(
        name, [](saddle::FunctionProblemSpec spec, auto f) -> std::unique_ptr<saddle::Problem> {
          return std::make_unique<saddle::autodiff::AutoDiffProblem<decltype(f)>>(std::move(spec),
                                                                                  f);
        });
  return tf::function_version(
      name, [](saddle::FunctionProblemSpec spec, auto f) -> std::unique_ptr<saddle::Problem> {
        return std::make_unique<saddle::NumericDiffProblem<decltype(f)>>(std::move(spec), f);
      });
}

// Nanoseconds per forward + backward, by problem and way, filled as the benchmarks run.
std::map<std::string, std::map<std::string, double>>& results() {
  static std::map<std::string, std::map<std::string, double>> r;
  return r;
}

void fwd_bwd(benchmark::State& state, const std::string& name, const std::string& way) {
  auto problem = make(name, way);
  const std::size_t n = problem->num_parameters();
  const std::size_t m = problem->constraints().size();
  Vector<double> x0 = Vector<double>::from_shape({n});
  problem->initial_point(x0, 0);
  const Vector<double> x = tf::test_point(name, x0, 1);
  const Vector<double> w = tf::test_weights(m, 1);
  Vector<double> grad = Vector<double>::from_shape({n});
  saddle::Evaluation eval;
  eval.resize(m);
  problem->shuffle(1);
  const saddle::Batch batch =
      problem->num_samples() > 0 ? saddle::Batch{128, 128, 0} : saddle::Batch{};
  problem->forward(x, batch, eval);  // AD: records the tape outside the timing
  problem->backward(w, grad);
  const double t0 = thread_seconds();
  for (auto _ : state) {
    problem->forward(x, batch, eval);
    problem->backward(w, grad);
    benchmark::DoNotOptimize(grad.data());
    benchmark::ClobberMemory();
  }
  const double ns = 1e9 * (thread_seconds() - t0) / static_cast<double>(state.iterations());
  results()[name][way] = ns;
  state.counters["ns"] = ns;
  if (way != "hand" && results()[name].count("hand"))
    state.counters["ratio"] = ns / results()[name]["hand"];
}

void print_summary() {
  std::printf(
      "\n| problem | n | m | hand (ns) | autodiff (ns) | autodiff / hand | numeric (ns) | numeric "
      "/ hand |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const std::string& name : tf::analytic_names()) {
    auto it = results().find(name);
    if (it == results().end()) continue;
    auto& r = it->second;
    auto p = registry().get(name).make();
    const double hand = r.count("hand") ? r["hand"] : 0.0;
    auto cell = [&](const char* way, bool ratio) {
      if (!r.count(way) || (ratio && hand <= 0.0)) return std::string("-");
      char buf[64];
      std::snprintf(buf, sizeof buf, ratio ? "%.1f" : "%.0f", ratio ? r[way] / hand : r[way]);
      return std::string(buf);
    };
    std::printf("| %s | %zu | %zu | %s | %s | %s | %s | %s |\n", name.c_str(), p->num_parameters(),
                p->constraints().size(), cell("hand", false).c_str(),
                cell("autodiff", false).c_str(), cell("autodiff", true).c_str(),
                cell("numeric", false).c_str(), cell("numeric", true).c_str());
  }
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3)
    std::printf("\nload average at the end: %.2f %.2f %.2f\n", load[0], load[1], load[2]);
}

}  // namespace

int main(int argc, char** argv) {
  // OpenBLAS (the regression's gemv) reads OPENBLAS_NUM_THREADS when it is loaded, before
  // main: pin it to one thread by re-executing once.
  const char* threads = std::getenv("OPENBLAS_NUM_THREADS");
  if (threads == nullptr || std::string(threads) != "1") {
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    execv("/proc/self/exe", argv);
    std::fprintf(stderr,
                 "saddle_bench_autodiff: error: could not re-execute with OPENBLAS_NUM_THREADS=1; "
                 "set it yourself\n");
    return 1;
  }
  // Registration order = run order: the hand-written baseline of a problem runs first.
  for (const std::string& name : tf::analytic_names())
    for (const char* way : {"hand", "autodiff", "numeric"})
      benchmark::RegisterBenchmark(
          ("fwdbwd/" + name + "/" + way).c_str(),
          [name, w = std::string(way)](benchmark::State& s) { fwd_bwd(s, name, w); });
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  print_summary();
  return 0;
}
