// `mpirun -np 2 saddle train`: data-parallel training end to end on a small generated IDX
// data set. The 2-rank run equals the one-process run up to float summation order, a 2-rank
// run killed -9 resumes (under mpirun) to the uninterrupted 2-rank summary, rank 0 alone
// writes, errors are printed once, and other subcommands run on rank 0 only.
// Skipped when saddle was built without MPI or no MPI launcher was found.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli_test_util.hpp"
#include "mini_json.hpp"

using namespace cli_test;

namespace {

#if defined(SADDLE_MPIEXEC) && defined(SADDLE_EXE)
#define REQUIRE_MPI() (void)0
const char* const kLauncher = SADDLE_MPIEXEC;
const char* const kExe = SADDLE_EXE;
#else
#define REQUIRE_MPI() GTEST_SKIP() << "saddle was built without MPI (apt-get install libopenmpi-dev openmpi-bin)"
const char* const kLauncher = "";
const char* const kExe = "";
#endif

// Lines of saddle's own (the launcher adds its own notice when a rank exits non-zero).
long saddle_lines(const std::string& err) {
  long n = 0;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);) n += line.rfind("saddle", 0) == 0 ? 1 : 0;
  return n;
}

// Lets Open MPI run as root and put 2 ranks on fewer cores; no single-copy mechanism
// (containers without ptrace rights refuse it).
const char* const kMpiEnv =
    "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 "
    "OMPI_MCA_btl_vader_single_copy_mechanism=none OPENBLAS_NUM_THREADS=1";

fs::path tiny_mnist() {
  static const fs::path dir = write_tiny_mnist("tiny_mnist_mpi", 1200, 300, 5);
  return dir;
}

std::vector<std::string> base_args(int epochs) {
  return {"train",         "--data-dir",     tiny_mnist().string(), "--batch", "50", "--epochs", std::to_string(epochs),
          "--seed",        "4",              "--target-density",    "0.5",     "--dual-lr", "0.05",
          "--ema",         "0.9",            "--quiet"};
}

// The shell command `mpirun -np P saddle <args>`.
std::string mpi_command(int ranks, const std::vector<std::string>& args) {
  std::string command = std::string(kMpiEnv) + " " + shell_quote(kLauncher) + " -np " + std::to_string(ranks) + " " +
                        shell_quote(kExe);
  for (const auto& a : args) command += " " + shell_quote(a);
  return command;
}

RunResult run_mpi(int ranks, const std::vector<std::string>& args) {
  const fs::path out = scratch_dir() / "mpi_out", err = scratch_dir() / "mpi_err";
  const std::string command =
      mpi_command(ranks, args) + " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string());
  const int status = std::system(command.c_str());
  RunResult r;
  if (status != -1 && WIFEXITED(status)) r.code = WEXITSTATUS(status);
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

}  // namespace

TEST(Distributed, TwoRanksTrainTheOneProcessModel) {
  REQUIRE_MPI();
  const fs::path one = scratch_dir() / "dp_one", two = scratch_dir() / "dp_two";
  auto args = base_args(3);
  auto one_args = args;
  one_args.insert(one_args.end(), {"--out", one.string()});
  ASSERT_EQ(run(one_args).code, 0);
  auto two_args = args;
  two_args.insert(two_args.end(), {"--out", two.string()});
  const auto r = run_mpi(2, two_args);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto a = mini_json::parse(read_file(one / "summary.json"));
  const auto b = mini_json::parse(read_file(two / "summary.json"));
  // Same global batch and seed: only the order of float sums differs (the gradient of a
  // batch is the sum of two half-batch gradients). After 72 Adam steps the densities and
  // multipliers agree to 1e-5 and the test error to one image in 300.
  EXPECT_NEAR(a["expected_density"].as_number(), b["expected_density"].as_number(), 1e-5);
  EXPECT_NEAR(a["multipliers"][0].as_number(), b["multipliers"][0].as_number(), 1e-5);
  EXPECT_NEAR(a["test_error"].as_number(), b["test_error"].as_number(), 1.0 / 300 + 1e-12);
  EXPECT_NEAR(a["train_loss"].as_number(), b["train_loss"].as_number(), 1e-4);
  EXPECT_EQ(b["epochs"].as_number(), 3);
}

TEST(Distributed, RanksTimesThreadsRepeatAndFollowOneProcess) {
  // 2 ranks x 2 threads: each rank's share of the batch split again over its threads. Two
  // runs give the same summary (but the wall time); against one process the same tolerances
  // as 2 ranks alone (only the order of float sums differs).
  REQUIRE_MPI();
  const fs::path one = scratch_dir() / "dpt_one", a_dir = scratch_dir() / "dpt_a", b_dir = scratch_dir() / "dpt_b";
  auto args = base_args(3);
  auto one_args = args;
  one_args.insert(one_args.end(), {"--out", one.string(), "--overwrite"});
  ASSERT_EQ(run(one_args).code, 0);
  for (const auto& dir : {a_dir, b_dir}) {
    auto two_args = args;
    two_args.insert(two_args.end(), {"--threads", "2", "--out", dir.string(), "--overwrite"});
    const auto r = run_mpi(2, two_args);
    ASSERT_EQ(r.code, 0) << r.err;
  }
  EXPECT_EQ(without_seconds(read_file(a_dir / "summary.json")), without_seconds(read_file(b_dir / "summary.json")));
  const auto a = mini_json::parse(read_file(one / "summary.json"));
  const auto b = mini_json::parse(read_file(a_dir / "summary.json"));
  EXPECT_NEAR(a["expected_density"].as_number(), b["expected_density"].as_number(), 1e-5);
  EXPECT_NEAR(a["multipliers"][0].as_number(), b["multipliers"][0].as_number(), 1e-5);
  EXPECT_NEAR(a["test_error"].as_number(), b["test_error"].as_number(), 1.0 / 300 + 1e-12);
  EXPECT_NEAR(a["train_loss"].as_number(), b["train_loss"].as_number(), 1e-4);
}

TEST(Distributed, KilledTwoRankRunResumesToTheSameResult) {
  REQUIRE_MPI();
  const fs::path full = scratch_dir() / "dp_full", cut = scratch_dir() / "dp_cut";
  auto args = base_args(6);
  auto full_args = args;
  full_args.insert(full_args.end(), {"--out", full.string()});
  const auto first = run_mpi(2, full_args);
  ASSERT_EQ(first.code, 0) << first.err;

  // The same run, killed -9 (the launcher and both ranks: Open MPI puts each rank in a
  // process group of its own, so they are found by the run folder on their command line)
  // as soon as its first checkpoint exists.
  auto cut_args = args;
  cut_args.insert(cut_args.end(), {"--out", cut.string()});
  const fs::path log = scratch_dir() / "dp_cut.log";
  std::string command = mpi_command(2, cut_args) + " >" + shell_quote(log.string()) + " 2>&1 & pid=$!; ";
  command += "while [ ! -f " + shell_quote((cut / "checkpoint.bin").string()) +
             " ] && kill -0 $pid 2>/dev/null; do sleep 0.002; done; ";
  // The pattern matches the command lines of the launcher and the ranks, not the one of this
  // shell (there the executable's name is quoted, and "[s]addle" is not "saddle").
  command += "pkill -9 -f " + shell_quote("[s]addle train .*--out " + cut.string()) + "; wait $pid 2>/dev/null; true";
  ASSERT_EQ(std::system(command.c_str()), 0);
  ASSERT_TRUE(fs::exists(cut / "checkpoint.bin")) << read_file(log);
  if (fs::exists(cut / "summary.json")) GTEST_SKIP() << "the run finished before it was killed";

  const auto r = run_mpi(2, {"train", "--resume", cut.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(without_seconds(read_file(full / "summary.json")), without_seconds(read_file(cut / "summary.json")));
  std::ifstream metrics(cut / "metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(metrics, line);) ++lines;
  EXPECT_EQ(lines, 6);
}

TEST(Distributed, ErrorsArePrintedOnceAndOtherSubcommandsRunOnRankZero) {
  REQUIRE_MPI();
  auto r = run_mpi(2, {"train", "--data-dir", tiny_mnist().string(), "--epochs", "0"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(saddle_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("--epochs"), std::string::npos) << r.err;

  r = run_mpi(2, {"train", "--data-dir", (scratch_dir() / "no_such_folder").string(), "--epochs", "1"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(saddle_lines(r.err), 1) << r.err;

  r = run_mpi(2, {"solve", "--problem", "equality-qp", "--solver", "gda", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto v = mini_json::parse(r.out);  // one JSON object: rank 0 alone printed
  EXPECT_NEAR(v["x"][1].as_number(), 4.0, 1e-6);
}

// `mpirun -np 2 saddle compare --problem ...`: the runs are spread over both ranks and the
// table equals the one-process table.
TEST(Distributed, CompareSpreadsItsRunsOverTheRanks) {
  REQUIRE_MPI();
  const fs::path one = scratch_dir() / "dcmp_one", two = scratch_dir() / "dcmp_two";
  const std::vector<std::string> args = {"compare", "--problem", "hs21", "--variants", "gda,extragradient",
                                         "--seeds", "1,2,3"};
  auto one_args = args;
  one_args.insert(one_args.end(), {"--out", one.string()});
  ASSERT_EQ(run(one_args).code, 0);
  auto two_args = args;
  two_args.insert(two_args.end(), {"--out", two.string()});
  const auto r = run_mpi(2, two_args);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("on rank 1"), std::string::npos) << r.err;  // rank 1 ran some of them
  std::set<int> ranks;
  for (const char* v : {"gda", "extragradient"})
    for (const char* s : {"seed-1", "seed-2", "seed-3"}) {
      std::istringstream status(read_file(two / v / (std::string(s) + ".status")));
      int code = -1, signal = -1, rank = -1;
      double seconds = 0;
      ASSERT_TRUE(status >> code >> signal >> seconds >> rank) << v << " " << s;
      EXPECT_EQ(code, 0);
      ranks.insert(rank);
      EXPECT_TRUE(fs::exists(two / v / s / "summary.json"));
    }
  EXPECT_EQ(ranks, (std::set<int>{0, 1}));
  // Same numbers (the loss and violation columns of the markdown table), other wall times.
  auto columns = [](const std::string& md) {
    std::string out;
    std::istringstream in(md);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("| gda", 0) != 0 && line.rfind("| extragradient", 0) != 0) continue;
      int bar = 0;
      for (char c : line) {
        if (c == '|' && ++bar == 5) break;
        out += c;
      }
      out += '\n';
    }
    return out;
  };
  EXPECT_EQ(columns(read_file(one / "compare.md")), columns(read_file(two / "compare.md")));
  EXPECT_FALSE(columns(read_file(two / "compare.md")).empty());
}

// Ranks without a shared file system: each rank runs in its own working folder (MPMD launch
// with --wdir) and writes its runs there; rank 0 receives the run folders and logs and
// tabulates all of them. A sweep of the L0 flagship on the tiny data set.
TEST(Distributed, SweepWithoutASharedFileSystem) {
  REQUIRE_MPI();
  const fs::path a = scratch_dir() / "dsw_rank0", b = scratch_dir() / "dsw_rank1";
  fs::create_directories(a);
  fs::create_directories(b);
  const std::vector<std::string> args = {"sweep", "--data-dir", tiny_mnist().string(), "--batch", "50", "--epochs",
                                         "1", "--target-densities", "0.5,0.7", "--seeds", "1,2", "--out", "exp"};
  std::string command = std::string(kMpiEnv) + " " + shell_quote(kLauncher);
  for (const fs::path& wdir : {a, b}) {
    command += (wdir == a ? "" : " :") + std::string(" -np 1 --wdir ") + shell_quote(wdir.string()) + " " +
               shell_quote(kExe);
    for (const auto& arg : args) command += " " + shell_quote(arg);
  }
  command += " >" + shell_quote((scratch_dir() / "dsw.out").string()) + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << read_file(scratch_dir() / "dsw.out");
  int on_rank1 = 0;
  for (const char* point : {"target-0.5", "target-0.7"})
    for (const char* s : {"seed-1", "seed-2"}) {
      EXPECT_TRUE(fs::exists(a / "exp" / point / s / "summary.json")) << point << " " << s;
      EXPECT_TRUE(fs::exists(a / "exp" / point / (std::string(s) + ".log")));
      on_rank1 += fs::exists(b / "exp" / point / s / "summary.json") ? 1 : 0;
    }
  EXPECT_GT(on_rank1, 0) << "rank 1 ran none of the runs";
  EXPECT_TRUE(fs::exists(a / "exp" / "sweep.md"));
  EXPECT_FALSE(fs::exists(b / "exp" / "sweep.md"));  // rank 1 tabulates nothing
}
