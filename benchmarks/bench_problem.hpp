#pragma once
/// \file bench_problem.hpp
/// The density problem every saddle benchmark measures: `saddle train`'s problem (lz init,
/// test-set batches of 500) with one model-level constraint, so that the benchmarks' step
/// times are comparable with each other and with a training run.

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "saddle/problems/l0/dataset.hpp"
#include "saddle/problems/l0/density_problem.hpp"

namespace saddle_bench {

/// Options of the benchmarked problem: `arch` on `data` (its image size and classes), batch
/// `batch`, one model-level constraint of target `target` (the MLP's Table 1 target by default).
inline saddle::l0::DensityProblemOptions density_problem_options(saddle::l0::Architecture arch, std::size_t batch,
                                                                 const saddle::l0::Dataset& data,
                                                                 double target = 0.33) {
  saddle::l0::DensityProblemOptions po;
  po.architecture = arch;
  po.batch = batch;
  po.eval_batch = 500;                       // `saddle train` default
  po.init = saddle::l0::InitScheme::lz;      // TrainConfig default
  saddle::l0::GatedModel<float> shape(arch, data.rows, data.cols, data.num_classes);
  po.groups = saddle::l0::model_level(shape, target);
  return po;
}

#ifdef SADDLE_SOURCE_DIR
/// The benchmarks' MNIST folder: $SADDLE_MNIST_DIR, else <repo>/data/mnist.
inline std::string mnist_dir() {
  const char* env_dir = std::getenv("SADDLE_MNIST_DIR");
  return env_dir ? env_dir : std::string(SADDLE_SOURCE_DIR) + "/data/mnist";
}

/// Loads real MNIST from mnist_dir() (standardised inputs) into `data`. On failure prints
/// "<program>: error: <why and how to fetch it>" (when `report`) and returns false: the caller
/// exits with status 1.
inline bool load_mnist(const char* program, saddle::l0::Dataset& data, bool report = true) {
  try {
    data = saddle::l0::load_dataset("mnist", mnist_dir(), saddle::l0::InputScaling::standardize);
    return true;
  } catch (const std::exception& e) {
    if (report) std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return false;
  }
}
#endif

}  // namespace saddle_bench
