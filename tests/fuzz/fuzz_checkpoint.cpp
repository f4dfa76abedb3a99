// libFuzzer target: the checkpoint of a training run (saddle::l0::read_checkpoint_file,
// read_run_state) and the solver state inside it (saddle::Solver<float>::read_parameters
// and Solver<float>::resume). Each input is read
//   1. as a checkpoint file (magic, version, size, CRC32), from a temporary file; and
//   2. as a payload, skipping the checksum so that the fuzzer reaches the records behind
//      it: run state, then read_parameters; and, from the start, the run state followed by
//      Solver<float>::resume of a 2-parameter, 1-constraint problem (Adam, nuPI,
//      augmented Lagrangian: every rule and formulation state is read back).
// Bad input must end in saddle::InputError (or InvalidOption for an impossible setting),
// never in a crash, a sanitizer report or an allocation the input cannot back.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>

#include "checkpoint_problem.hpp"
#include "fuzz_util.hpp"
#include "saddle/problems/l0/checkpoint.hpp"
#include "saddle/solver.hpp"
#include "saddle/solvers.hpp"
#include "saddle/types.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static saddle::fuzz::TempFile file("checkpoint");
  static const std::unique_ptr<saddle::BasicProblem<float>> problem =
      saddle::fuzz::checkpoint_problem();
  const std::string bytes(reinterpret_cast<const char*>(data), size);

  // 1. The whole file.
  try {
    std::istringstream in(saddle::l0::read_checkpoint_file(file.write(data, size)));
    (void)saddle::l0::read_run_state(in, file.path());
    (void)saddle::Solver<float>::read_parameters(in);
  } catch (const saddle::InputError&) {
  }

  // 2a. A payload: run state, then the parameters of the solver state.
  try {
    std::istringstream in(bytes);
    (void)saddle::l0::read_run_state(in, "fuzz payload");
    (void)saddle::Solver<float>::read_parameters(in);
  } catch (const saddle::InputError&) {
  }

  // 2b. A payload: run state, then the full solver state resumed on a small problem.
  try {
    std::istringstream in(bytes);
    (void)saddle::l0::read_run_state(in, "fuzz payload");
    saddle::Solver<float> solver(saddle::make_scheme<float>("extragradient"),
                                 saddle::fuzz::checkpoint_options());
    (void)solver.resume(*problem, in);
  } catch (const saddle::InputError&) {
  } catch (const saddle::InvalidOption&) {
  }

  // 2c. The solver state alone (Solver<float>::read_parameters and resume from a stream).
  try {
    std::istringstream in(bytes);
    (void)saddle::Solver<float>::read_parameters(in);
  } catch (const saddle::InputError&) {
  }
  try {
    std::istringstream in(bytes);
    saddle::Solver<float> solver(saddle::make_scheme<float>("extragradient"),
                                 saddle::fuzz::checkpoint_options());
    (void)solver.resume(*problem, in);
  } catch (const saddle::InputError&) {
  } catch (const saddle::InvalidOption&) {
  }
  return 0;
}
