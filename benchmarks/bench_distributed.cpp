// saddle_bench_distributed: wall time of a training step of the L0 flagship on real MNIST,
// in one process or data-parallel under an MPI launcher, and the time spent in the
// all-reduce. scripts/bench_distributed.sh runs it as 1 process x 1 BLAS thread, 1 process x
// 2 BLAS threads and 2 ranks x 1 thread, interleaved, and tabulates the ratios of one run
// (docs/distributed.md).
//
// Usage: saddle_bench_distributed [--models mlp,lenet5] [--batches 128[,64,...]] [--steps N]
//                                 [--tag TEXT]
// Prints (rank 0) one line per model and global batch:
//   RESULT tag=<tag> model=<m> batch=<B> ranks=<P> threads=<T> ms_step=<..> ms_allreduce=<..>
//          s_epoch_train=<469 * ms_step / 1000 at B = 128> params=<n>
// Each measurement solves `steps` + 1 steps with the `saddle train` options (gda, Adam 7e-4,
// dual 1e-4, restarts, model-level density 0.33) from the initial point and times steps 2..N+1
// (wall clock, rank 0; the ranks move in lock step). Data: $SADDLE_MNIST_DIR or
// <repo>/data/mnist; missing data: one error line, exit 1.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "saddle/data_parallel.hpp"
#include "saddle/problems/l0/density_problem.hpp"
#include "saddle/problems/l0/experiment.hpp"
#include "saddle/solvers.hpp"
#include "bench_problem.hpp"
#ifdef SADDLE_HAS_MPI
#include "saddle/mpi.hpp"
#endif

namespace {

using Clock = std::chrono::steady_clock;

// Adds the wall time spent inside reductions (that includes waiting for the slower rank).
class TimedCommunicator final : public saddle::Communicator {
 public:
  explicit TimedCommunicator(saddle::Communicator& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  void allreduce_sum(double* data, std::size_t n) override { timed([&] { inner_.allreduce_sum(data, n); }); }
  void allreduce_sum(float* data, std::size_t n) override { timed([&] { inner_.allreduce_sum(data, n); }); }
  void barrier() override { inner_.barrier(); }
  double seconds = 0.0;

 private:
  template <class F>
  void timed(F f) {
    const auto t0 = Clock::now();
    f();
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  }
  saddle::Communicator& inner_;
};

// Records the wall time at the end of step 1 and of the last step, and the reduction time
// between them.
class StepClock final : public saddle::Callback<float> {
 public:
  StepClock(std::size_t last, const TimedCommunicator* comm) : last_(last), comm_(comm) {}
  bool on_step(const saddle::StepInfo<float>& info) override {
    if (info.iteration == 1) {
      start_ = Clock::now();
      reduce_start_ = comm_ ? comm_->seconds : 0.0;
    }
    if (info.iteration == last_) {
      seconds = std::chrono::duration<double>(Clock::now() - start_).count();
      reduce_seconds = (comm_ ? comm_->seconds : 0.0) - reduce_start_;
    }
    return true;
  }
  double seconds = 0.0, reduce_seconds = 0.0;

 private:
  std::size_t last_;
  const TimedCommunicator* comm_;
  Clock::time_point start_;
  double reduce_start_ = 0.0;
};

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream s(text);
  for (std::string item; std::getline(s, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  namespace l0 = saddle::l0;
#ifdef SADDLE_HAS_MPI
  std::unique_ptr<saddle::mpi::Session> session;
  std::unique_ptr<saddle::mpi::Communicator> mpi_comm;
  if (saddle::mpi::Session::launched()) {
    session = std::make_unique<saddle::mpi::Session>(&argc, &argv);
    mpi_comm = std::make_unique<saddle::mpi::Communicator>();
  }
  saddle::Communicator* world = mpi_comm && mpi_comm->size() > 1 ? mpi_comm.get() : nullptr;
#else
  saddle::Communicator* world = nullptr;
#endif
  std::vector<std::string> models = {"mlp", "lenet5"};
  std::vector<std::size_t> batches = {128};
  std::size_t steps = 60;
  std::string tag = "run";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--models") {
      models = split(value);
    } else if (flag == "--batches") {
      batches.clear();
      for (const auto& b : split(value)) batches.push_back(std::stoul(b));
    } else if (flag == "--steps") {
      steps = std::stoul(value);
    } else if (flag == "--tag") {
      tag = value;
    } else {
      std::fprintf(stderr, "saddle_bench_distributed: error: unknown flag '%s'\n", flag.c_str());
      return 2;
    }
  }
  const bool root = world == nullptr || world->rank() == 0;
  l0::Dataset data;
  if (!saddle_bench::load_mnist("saddle_bench_distributed", data, root)) return 1;
  const char* threads = std::getenv("OPENBLAS_NUM_THREADS");
  for (const auto& model : models) {
    for (const std::size_t batch : batches) {
      const l0::DensityProblemOptions po =
          saddle_bench::density_problem_options(l0::parse_architecture(model), batch, data);
      l0::DensityProblem problem(data, po);
      saddle::SolverOptions so = l0::TrainConfig::default_solver_options();
      so.batch_size = batch;
      so.max_iterations = steps + 1;
      so.max_epochs = 0;
      so.seed = 1;
      std::unique_ptr<TimedCommunicator> timed;
      std::unique_ptr<saddle::DataParallelProblem<float>> parallel;
      if (world != nullptr) {
        timed = std::make_unique<TimedCommunicator>(*world);
        parallel = std::make_unique<saddle::DataParallelProblem<float>>(problem, *timed);
      }
      saddle::BasicProblem<float>& solved = parallel ? static_cast<saddle::BasicProblem<float>&>(*parallel) : problem;
      // Warm-up (BLAS buffers, first touch), then the timed solve.
      {
        saddle::SolverOptions warm = so;
        warm.max_iterations = 3;
        saddle::solve(solved, warm, "gda");
      }
      StepClock clock(steps + 1, timed.get());
      saddle::solve<float>(solved, so, "gda", {&clock});
      const double ms = 1e3 * clock.seconds / static_cast<double>(steps);
      const double ms_reduce = 1e3 * clock.reduce_seconds / static_cast<double>(steps);
      const double steps_per_epoch = static_cast<double>((data.train.size() + batch - 1) / batch);
      if (root)
        std::printf("RESULT tag=%s model=%s batch=%zu ranks=%d threads=%s ms_step=%.4f ms_allreduce=%.4f "
                    "s_epoch_train=%.3f params=%zu\n",
                    tag.c_str(), model.c_str(), batch, world ? world->size() : 1, threads ? threads : "default", ms,
                    ms_reduce, steps_per_epoch * ms / 1e3, problem.num_parameters());
      std::fflush(stdout);
    }
  }
  return 0;
}
