// Stopping `saddle train` and `saddle compare` with SIGTERM / SIGINT (exit 128 + signal, the
// last checkpoint kept, --resume reaching the uninterrupted result), a second signal ending
// the process at once without damage, and a file that cannot be written giving exit code 4
// with one error line (apps/stop_signal.hpp, saddle/atomic_file.hpp, docs/cli.md).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli_test_util.hpp"

using namespace cli_test;

namespace {

fs::path tiny_mnist() {
  static const fs::path dir = write_tiny_mnist("tiny_mnist_stop", 1200, 300, 11);
  return dir;
}

std::vector<std::string> train_args(int epochs) {
  return {"train",
          "--data-dir",
          tiny_mnist().string(),
          "--batch",
          "50",
          "--epochs",
          std::to_string(epochs),
          "--seed",
          "3",
          "--target-density",
          "0.5",
          "--dual-lr",
          "0.05",
          "--ema",
          "0.9",
          "--quiet"};
}

struct Background {
  int code = -1;
  std::string err;
};

// Runs `saddle <args>` in the background, waits until `marker` exists (or the process has
// ended), then sends it `signals` (kill -SIG, in order), and returns its exit code and stderr.
Background run_and_signal(const std::vector<std::string>& args, const fs::path& marker,
                          const std::vector<std::string>& signals) {
  static int counter = 0;
  const fs::path err = scratch_dir() / ("signal_err" + std::to_string(counter));
  const fs::path code = scratch_dir() / ("signal_code" + std::to_string(counter++));
  std::string command = shell_quote(SADDLE_EXE);
  for (const auto& a : args) command += " " + shell_quote(a);
  command += " >/dev/null 2>" + shell_quote(err.string()) + " & pid=$!; ";
  command += "while [ ! -e " + shell_quote(marker.string()) +
             " ] && kill -0 $pid 2>/dev/null; do sleep 0.002; done; ";
  for (const auto& s : signals) command += "kill -" + s + " $pid 2>/dev/null; ";
  command += "wait $pid; echo $? >" + shell_quote(code.string());
  EXPECT_EQ(std::system(command.c_str()), 0);
  Background b;
  b.code = std::atoi(read_file(code).c_str());
  b.err = read_file(err);
  return b;
}

std::size_t lines_in(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

// SIGTERM after the first checkpoint: exit 143, one line naming the checkpoint and the resume
// command, no summary.json; --resume reaches the summary of the uninterrupted run.
TEST(StopSignal, SigtermStopsTrainingAndResumeReachesTheSameSummary) {
  REQUIRE_EXE();
  const fs::path full = scratch_dir() / "stop_full", cut = scratch_dir() / "stop_cut";
  auto args = train_args(12);
  auto full_args = args;
  full_args.insert(full_args.end(), {"--out", full.string()});
  const auto f = run(full_args);
  ASSERT_EQ(f.code, 0) << describe(full_args, f);

  args.insert(args.end(), {"--out", cut.string()});
  const auto b = run_and_signal(args, cut / "checkpoint.bin", {"TERM"});
  if (b.code == 0) GTEST_SKIP() << "the run finished before the signal";
  EXPECT_EQ(b.code, 143) << b.err;
  EXPECT_EQ(lines_in(b.err), 1u) << b.err;
  EXPECT_EQ(b.err.rfind("saddle: stopped by SIGTERM: training stopped after iteration ", 0), 0u)
      << b.err;
  EXPECT_NE(b.err.find("continue with: saddle train --resume " + cut.string()), std::string::npos)
      << b.err;
  ASSERT_TRUE(fs::exists(cut / "checkpoint.bin"));
  EXPECT_FALSE(fs::exists(cut / "summary.json"));

  const auto r = run({"train", "--resume", cut.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(without_seconds(read_file(full / "summary.json")),
            without_seconds(read_file(cut / "summary.json")));
  EXPECT_EQ(read_file(full / "steps.csv"), read_file(cut / "steps.csv"));
  EXPECT_EQ(lines_in(read_file(cut / "metrics.jsonl")), 12u);
}

// SIGINT (Ctrl-C) in the first epoch gives 130 and a checkpoint of the step it stopped after;
// a second signal ends the process at once (its own code), and what is on disk still resumes
// to the uninterrupted result.
TEST(StopSignal, SigintThenASecondSignalExitAtOnceWithoutDamage) {
  REQUIRE_EXE();
  const fs::path full = scratch_dir() / "stop2_full", once = scratch_dir() / "stop2_int",
                 twice = scratch_dir() / "stop2_twice";
  auto args = train_args(12);
  auto full_args = args;
  full_args.insert(full_args.end(), {"--out", full.string()});
  ASSERT_EQ(run(full_args).code, 0);

  auto once_args = args;
  once_args.insert(once_args.end(), {"--out", once.string()});
  // steps.csv appears at the first step: the stop comes in the middle of epoch 1.
  const auto a = run_and_signal(once_args, once / "steps.csv", {"INT"});
  if (a.code == 0) GTEST_SKIP() << "the run finished before the signal";
  EXPECT_EQ(a.code, 130) << a.err;
  EXPECT_EQ(a.err.rfind("saddle: stopped by SIGINT: training stopped after iteration ", 0), 0u)
      << a.err;
  EXPECT_NE(a.err.find(" complete epochs); checkpoint " + (once / "checkpoint.bin").string()),
            std::string::npos)
      << a.err;
  ASSERT_TRUE(fs::exists(once / "checkpoint.bin"));

  // INT then TERM at once (two different signals are both delivered).
  auto twice_args = args;
  twice_args.insert(twice_args.end(), {"--out", twice.string()});
  const auto b = run_and_signal(twice_args, twice / "checkpoint.bin", {"INT", "TERM"});
  if (b.code == 0) GTEST_SKIP() << "the run finished before the signal";
  EXPECT_TRUE(b.code == 130 || b.code == 143) << b.code << " " << b.err;
  EXPECT_NE(b.err.find("saddle: stopped at once by a second signal"), std::string::npos) << b.err;
  for (const fs::path& dir : {once, twice}) {
    const auto r = run({"train", "--resume", dir.string()});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(without_seconds(read_file(full / "summary.json")),
              without_seconds(read_file(dir / "summary.json")));
    EXPECT_EQ(read_file(full / "steps.csv"), read_file(dir / "steps.csv"));
  }
}

// compare: SIGTERM once a run has a checkpoint: no new run, the running ones stop with their
// checkpoints, exit 143 and no table; --resume finishes to the table of an uninterrupted one.
TEST(StopSignal, SigtermStopsCompareAndResumeReachesTheSameTable) {
  REQUIRE_EXE();
  const fs::path full = scratch_dir() / "stop_cmp_full", cut = scratch_dir() / "stop_cmp_cut";
  const std::vector<std::string> args = {"compare", "--data-dir", tiny_mnist().string(),
                                         "--batch", "50",         "--epochs",
                                         "8",       "--variants", "gda,extragradient",
                                         "--seeds", "1,2",        "--target-density",
                                         "0.5",     "--dual-lr",  "0.05",
                                         "--jobs",  "2",          "--quiet"};
  auto full_args = args;
  full_args.insert(full_args.end(), {"--out", full.string()});
  const auto f = run(full_args);
  ASSERT_EQ(f.code, 0) << describe(full_args, f);

  auto cut_args = args;
  cut_args.insert(cut_args.end(), {"--out", cut.string()});
  const auto b = run_and_signal(cut_args, cut / "gda" / "seed-1" / "checkpoint.bin", {"TERM"});
  if (b.code == 0) GTEST_SKIP() << "the comparison finished before the signal";
  EXPECT_EQ(b.code, 143) << b.err;
  EXPECT_EQ(b.err.rfind("saddle: stopped by SIGTERM: ", 0), 0u) << b.err;
  EXPECT_NE(b.err.find("not started"), std::string::npos) << b.err;
  EXPECT_FALSE(fs::exists(cut / "compare.csv"));
  // The two runs that were running got the signal and ended with 143 (status file).
  EXPECT_EQ(read_file(cut / "gda" / "seed-1.status").rfind("143 0 ", 0), 0u);
  EXPECT_TRUE(fs::exists(cut / "gda" / "seed-1" / "checkpoint.bin"));
  EXPECT_FALSE(fs::exists(cut / "extragradient" / "seed-2")) << "a run started after the stop";

  auto resume_args = cut_args;
  resume_args.push_back("--resume");
  const auto r = run(resume_args);
  ASSERT_EQ(r.code, 0) << describe(resume_args, r);
  // Equal but for the wall-time columns.
  auto strip_seconds = [](const std::string& csv) {
    std::string out;
    std::istringstream in(csv);
    std::string header;
    std::getline(in, header);
    std::vector<std::string> names;
    {
      std::istringstream h(header);
      for (std::string c; std::getline(h, c, ',');) names.push_back(c);
    }
    for (std::string line; std::getline(in, line);) {
      std::istringstream l(line);
      std::size_t i = 0;
      for (std::string c; std::getline(l, c, ','); ++i)
        if (i >= names.size() || names[i].find("seconds") == std::string::npos) out += c + ",";
      out += "\n";
    }
    return out;
  };
  EXPECT_EQ(strip_seconds(read_file(full / "compare.csv")),
            strip_seconds(read_file(cut / "compare.csv")));
}

// compare killed with SIGKILL (no chance to pass a stop on): its runs get SIGTERM from the
// kernel when it dies (PR_SET_PDEATHSIG), checkpoint and stop instead of running on
// orphaned; --resume then finishes the experiment.
TEST(StopSignal, RunsOfAKilledCompareStopWithIt) {
  REQUIRE_EXE();
  const fs::path cut = scratch_dir() / "stop_cmp_killed";
  const std::vector<std::string> args = {"compare", "--data-dir", tiny_mnist().string(),
                                         "--batch", "50",         "--epochs",
                                         "8",       "--variants", "gda",
                                         "--seeds", "1,2",        "--target-density",
                                         "0.5",     "--dual-lr",  "0.05",
                                         "--jobs",  "2",          "--quiet",
                                         "--out",   cut.string()};
  const fs::path log1 = cut / "gda" / "seed-1.log", log2 = cut / "gda" / "seed-2.log";
  std::string command = shell_quote(SADDLE_EXE);
  for (const auto& a : args) command += " " + shell_quote(a);
  command += " >/dev/null 2>&1 & pid=$!; while [ ! -e " +
             shell_quote((cut / "gda" / "seed-1" / "checkpoint.bin").string()) +
             " ] && kill -0 $pid 2>/dev/null; do sleep 0.002; done; kill -9 $pid; wait $pid; ";
  // Both runs write their stop line to their logs and exit (at most 20 s).
  command += "for i in $(seq 2000); do grep -q 'stopped by SIGTERM' " + shell_quote(log1.string()) +
             " 2>/dev/null && grep -q 'stopped by SIGTERM' " + shell_quote(log2.string()) +
             " 2>/dev/null && break; sleep 0.01; done; true";
  ASSERT_EQ(std::system(command.c_str()), 0);
  if (fs::exists(cut / "compare.csv"))
    GTEST_SKIP() << "the comparison finished before it was killed";
  for (const fs::path& log : {log1, log2}) {
    const std::string text = read_file(log);
    EXPECT_NE(text.find("saddle: stopped by SIGTERM: training stopped after iteration "),
              std::string::npos)
        << log << ": " << text;
  }
  EXPECT_TRUE(fs::exists(cut / "gda" / "seed-2" / "checkpoint.bin"));
  auto resume_args = args;
  resume_args.push_back("--resume");
  const auto r = run(resume_args);
  ASSERT_EQ(r.code, 0) << describe(resume_args, r);
  EXPECT_TRUE(fs::exists(cut / "compare.csv"));
}

// A file that cannot be written (here: a folder in the way of summary.json, a real failure
// even as root) gives exit 4 and one line `saddle: error: cannot write FILE: REASON`.
TEST(StopSignal, UnwritableSummaryGivesExitCodeFour) {
  REQUIRE_EXE();
  const fs::path dir = scratch_dir() / "write_fail";
  fs::create_directories(dir / "summary.json" / "in_the_way");
  auto args = train_args(1);
  args.insert(args.end(), {"--out", dir.string(), "--overwrite"});
  const auto r = run(args);
  EXPECT_EQ(r.code, 4) << describe(args, r);
  EXPECT_EQ(r.err, "saddle: error: cannot write " + (dir / "summary.json").string() +
                       ": Is a directory\n");
  EXPECT_FALSE(fs::exists(dir / "summary.json.tmp"));
  EXPECT_TRUE(fs::exists(dir / "checkpoint.bin"));  // the work is kept

  // The same for `eval --predictions` and `export --out` into a folder that does not exist.
  const std::string missing = (scratch_dir() / "no_such_folder").string();
  const std::vector<std::string> eval = {"eval",          dir.string(),
                                         "--data-dir",    tiny_mnist().string(),
                                         "--predictions", missing + "/p.txt"};
  auto e = run(eval);
  EXPECT_EQ(e.code, 4) << describe(eval, e);
  EXPECT_EQ(e.err,
            "saddle: error: cannot write " + missing + "/p.txt: No such file or directory\n");
  const std::vector<std::string> exported = {"export", dir.string(), "--out",
                                             missing + "/net.sdln"};
  e = run(exported);
  EXPECT_EQ(e.code, 4) << describe(exported, e);
  EXPECT_EQ(e.err,
            "saddle: error: cannot write " + missing + "/net.sdln: No such file or directory\n");
}

// The checkpoint at the end of epoch 1 cannot be written (a folder where its temporary file
// goes): the run stops there with exit 4 and one line naming the file.
TEST(StopSignal, UnwritableCheckpointGivesExitCodeFour) {
  REQUIRE_EXE();
  const fs::path dir = scratch_dir() / "write_fail_ckpt";
  fs::create_directories(dir / "checkpoint.bin.tmp" / "in_the_way");
  auto args = train_args(2);
  args.insert(args.end(), {"--out", dir.string(), "--overwrite"});
  const auto r = run(args);
  EXPECT_EQ(r.code, 4) << describe(args, r);
  EXPECT_EQ(r.err, "saddle: error: cannot write " + (dir / "checkpoint.bin").string() +
                       ": Is a directory\n");
  EXPECT_FALSE(fs::exists(dir / "summary.json"));
}

TEST(StopSignal, UnwritableCompareTableGivesExitCodeFour) {
  REQUIRE_EXE();
  const fs::path dir = scratch_dir() / "write_fail_cmp";
  fs::create_directories(dir / "compare.csv" / "in_the_way");
  const std::vector<std::string> args = {"compare",    "--data-dir", tiny_mnist().string(),
                                         "--batch",    "100",        "--epochs",
                                         "1",          "--variants", "gda",
                                         "--seeds",    "1",          "--target-density",
                                         "0.5",        "--quiet",    "--out",
                                         dir.string(), "--overwrite"};
  const auto r = run(args);
  EXPECT_EQ(r.code, 4) << describe(args, r);
  EXPECT_EQ(r.err,
            "saddle: error: cannot write " + (dir / "compare.csv").string() + ": Is a directory\n");
}

// A log in a folder that does not exist: exit 4 (it was 2 before exit code 4 existed;
// tests/cli/test_cli.cpp no longer lists it among the exit-2 cases).
TEST(StopSignal, SolveLogInAMissingFolderGivesExitCodeFour) {
  REQUIRE_EXE();
  const std::string log = (scratch_dir() / "no_such_dir" / "log.csv").string();
  const std::vector<std::string> args = {"solve",         "--problem", "hs21", "--solver",
                                         "extragradient", "--log",     log};
  const auto r = run(args);
  EXPECT_EQ(r.code, 4) << describe(args, r);
  EXPECT_EQ(r.err, "saddle: error: cannot write " + log + ": No such file or directory\n");
  EXPECT_TRUE(r.out.empty()) << r.out;
  // A full disk, for real: /dev/full refuses every write with ENOSPC, here in the middle of
  // the solve (the log is appended as the solve goes).
  if (!fs::exists("/dev/full")) return;
  const std::vector<std::string> full = {"solve",         "--problem", "hs21",     "--solver",
                                         "extragradient", "--log",     "/dev/full"};
  const auto f = run(full);
  EXPECT_EQ(f.code, 4) << describe(full, f);
  EXPECT_EQ(f.err, "saddle: error: cannot write /dev/full: No space left on device\n");
}

TEST(StopSignal, UnwritableSolveOutputGivesExitCodeFour) {
  REQUIRE_EXE();
  const fs::path dir = scratch_dir() / "write_fail_solve";
  fs::create_directories(dir / "summary.json" / "in_the_way");
  const std::vector<std::string> args = {"solve",         "--problem", "hs21",      "--solver",
                                         "extragradient", "--out",     dir.string()};
  const auto r = run(args);
  EXPECT_EQ(r.code, 4) << describe(args, r);
  EXPECT_EQ(r.err, "saddle: error: cannot write " + (dir / "summary.json").string() +
                       ": Is a directory\n");
}

// mpirun -np 2 saddle train, SIGTERM to mpirun (which passes SIGTERM to the ranks): the ranks
// agree on the step to stop after, rank 0 writes one checkpoint and prints one line; resumed
// under the launcher the run reaches the summary of the uninterrupted 2-rank run.
TEST(StopSignal, TwoRankTrainingStopsTogetherAndResumes) {
#if defined(SADDLE_MPIEXEC) && defined(SADDLE_EXE)
  // Root-friendly Open MPI settings (as tests/cli/test_distributed.cpp). Signalled, mpirun
  // waits odls_base_sigkill_timeout seconds (default 1), sends SIGTERM to the ranks, waits as
  // long again and sends SIGKILL: 2 s here, so that a loaded machine cannot turn the stop
  // into a kill. mpi_yield_when_idle: a rank waiting in a collective yields its core instead
  // of busy-polling it (two ranks on two busy cores otherwise crawl: 492-878 s measured
  // beside two training runs, against 137 s on an idle machine).
  const std::string env =
      "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
      "OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1 "
      "OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_odls_base_sigkill_timeout=2 "
      "OPENBLAS_NUM_THREADS=1 ";
  auto mpi = [&](const std::vector<std::string>& args) {
    std::string command = env + shell_quote(SADDLE_MPIEXEC) + " -np 2 " + shell_quote(SADDLE_EXE);
    for (const auto& a : args) command += " " + shell_quote(a);
    return command;
  };
  const fs::path full = scratch_dir() / "stop_mpi_full", cut = scratch_dir() / "stop_mpi_cut";
  // Long enough to outlast mpirun's 2 s before it passes the signal on.
  auto args = train_args(60);
  auto full_args = args;
  full_args.insert(full_args.end(), {"--out", full.string()});
  ASSERT_EQ(std::system((mpi(full_args) + " >/dev/null 2>&1").c_str()), 0);

  args.insert(args.end(), {"--out", cut.string()});
  const fs::path err = scratch_dir() / "stop_mpi_err";
  std::string command = mpi(args) + " >/dev/null 2>" + shell_quote(err.string()) + " & pid=$!; ";
  command +=
      "while [ ! -e " + shell_quote((cut / "checkpoint.bin").string()) +
      " ] && kill -0 $pid 2>/dev/null; do sleep 0.002; done; kill -TERM $pid; wait $pid; true";
  ASSERT_EQ(std::system(command.c_str()), 0);
  if (fs::exists(cut / "summary.json")) GTEST_SKIP() << "the run finished before the signal";
  const std::string text = read_file(err);
  // mpirun itself exits 1 when it is signalled (Open MPI); the ranks' line is printed once.
  EXPECT_NE(text.find("saddle: stopped by SIGTERM: training stopped after iteration "),
            std::string::npos)
      << text;
  std::size_t lines = 0;
  for (auto at = text.find("stopped by"); at != std::string::npos;
       at = text.find("stopped by", at + 1))
    ++lines;
  EXPECT_EQ(lines, 1u) << text;
  ASSERT_TRUE(fs::exists(cut / "checkpoint.bin"));

  ASSERT_EQ(std::system(
                (mpi({"train", "--resume", cut.string(), "--quiet"}) + " >/dev/null 2>&1").c_str()),
            0);
  EXPECT_EQ(without_seconds(read_file(full / "summary.json")),
            without_seconds(read_file(cut / "summary.json")));
  EXPECT_EQ(read_file(full / "steps.csv"), read_file(cut / "steps.csv"));
#else
  GTEST_SKIP() << "saddle was built without MPI";
#endif
}
