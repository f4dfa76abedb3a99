// `saddle train` end to end on a small generated IDX data set: JSON summary keys, the run
// folder, kill -9 and --resume reaching the uninterrupted result, and every bad input
// giving one error line and exit code 2; --config files and config.ini, steps.csv (also
// across a resume), divergence (exit 3), progress modes and the dynamics plot.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli_test_util.hpp"
#include "mini_json.hpp"
#include "saddle/problems/l0/idx.hpp"

using namespace cli_test;

namespace {

// Learnable in a few epochs (cli_test_util.hpp).
fs::path tiny_mnist() {
  static const fs::path dir = write_tiny_mnist("tiny_mnist", 1200, 300, 5);
  return dir;
}

std::vector<std::string> base_args(int epochs = 3) {
  return {"train", "--data-dir", tiny_mnist().string(), "--batch", "50", "--epochs", std::to_string(epochs), "--seed", "4"};
}

void write_text_file(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// Starts `saddle <args> --out dir` in the background and kills it (-9) as soon as its first
// checkpoint exists; returns when it is dead.
void run_until_first_checkpoint(const std::vector<std::string>& args, const fs::path& dir) {
  std::string command = shell_quote(SADDLE_EXE);
  for (const auto& a : args) command += " " + shell_quote(a);
  command += " --out " + shell_quote(dir.string()) + " >/dev/null 2>&1 & pid=$!; ";
  command += "while [ ! -f " + shell_quote((dir / "checkpoint.bin").string()) +
             " ] && kill -0 $pid 2>/dev/null; do sleep 0.005; done; ";
  command += "kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; true";
  ASSERT_EQ(std::system(command.c_str()), 0);
}

}  // namespace

TEST(Train, JsonSummaryHasEveryField) {
  REQUIRE_EXE();
  auto args = base_args();
  args.insert(args.end(), {"--target-density", "0.5", "--dual-lr", "0.05", "--json"});
  const auto r = run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const auto v = mini_json::parse(r.out);
  for (const char* key : {"test_error", "best_test_error", "expected_density", "layer_densities", "test_time_density",
                          "pruned_architecture", "purged_params", "purged_macs", "multipliers", "epochs", "seconds",
                          "termination"})
    EXPECT_TRUE(v.has(key)) << key;
  EXPECT_EQ(v["epochs"].as_number(), 3);
  EXPECT_EQ(v["layer_densities"].as_numbers().size(), 3u);
  EXPECT_EQ(v["multipliers"].as_numbers().size(), 1u);
  EXPECT_GE(v["multipliers"][0].as_number(), 0.0);
  EXPECT_LT(v["test_error"].as_number(), 0.5);  // the blocks are easy to learn
  EXPECT_EQ(v["dense_params"].as_number(), 266610);
  // constraints_met agrees with the constraint values (density - target <= 0 for every group).
  bool met = true;
  for (double c : v["constraint_values"].as_numbers()) met = met && c <= 0.0;
  EXPECT_EQ(v["constraints_met"].as_bool(), met);
  EXPECT_LE(v["purged_params"].as_number(), 266610);
}

TEST(Train, LayerTargetsAndPenaltyModes) {
  REQUIRE_EXE();
  auto args = base_args(1);
  args.insert(args.end(), {"--layer-densities", "0.5,0.5,0.9", "--json"});
  auto r = run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  auto v = mini_json::parse(r.out);
  EXPECT_EQ(v["multipliers"].as_numbers().size(), 3u);
  EXPECT_EQ(v["formulation"].as_string(), "lagrangian");

  args = base_args(1);
  args.insert(args.end(), {"--l0-penalty", "0.5", "--json"});
  r = run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  v = mini_json::parse(r.out);
  EXPECT_EQ(v["formulation"].as_string(), "fixed-penalty");
  EXPECT_EQ(v["multipliers"][0].as_number(), 0.5);  // fixed multipliers never move
  EXPECT_TRUE(v["constraints_met"].is_null());  // penalized: no constraint
}

TEST(Train, KilledRunResumesToTheSameResult) {
  REQUIRE_EXE();
  const fs::path full = scratch_dir() / "run_full";
  const fs::path cut = scratch_dir() / "run_cut";
  auto args = base_args(6);
  args.insert(args.end(), {"--target-density", "0.5", "--dual-lr", "0.05", "--ema", "0.9", "--quiet"});
  auto full_args = args;
  full_args.insert(full_args.end(), {"--out", full.string()});
  ASSERT_EQ(run(full_args).code, 0);

  // Start the same run, kill -9 it as soon as its first checkpoint exists, then resume.
  run_until_first_checkpoint(args, cut);
  ASSERT_TRUE(fs::exists(cut / "checkpoint.bin"));
  EXPECT_FALSE(fs::exists(cut / "summary.json")) << "the run finished before it was killed";

  const auto r = run({"train", "--resume", cut.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("resumed from"), std::string::npos);
  EXPECT_EQ(without_seconds(read_file(full / "summary.json")), without_seconds(read_file(cut / "summary.json")));
  // metrics.jsonl lists every epoch once.
  std::ifstream metrics(cut / "metrics.jsonl");
  int lines = 0, restored = 0;
  for (std::string line; std::getline(metrics, line);) {
    ++lines;
    // train_seconds: null for the epochs restored from the checkpoint, then measured again.
    const auto v = mini_json::parse(line);
    ASSERT_TRUE(v.has("train_seconds")) << line;
    if (v["train_seconds"].is_null()) {
      EXPECT_EQ(restored, lines - 1) << "a restored epoch after a measured one: " << line;
      ++restored;
    } else {
      EXPECT_GT(v["train_seconds"].as_number(), 0.0) << line;
    }
  }
  EXPECT_EQ(lines, 6);
  EXPECT_GE(restored, 1);
  EXPECT_LT(restored, 6);
  // Uninterrupted: every epoch's training time is positive and at most its share of the run's
  // wall time (the evaluation, densities and checkpoint are outside it).
  std::ifstream full_metrics(full / "metrics.jsonl");
  double previous = 0.0;
  for (std::string line; std::getline(full_metrics, line);) {
    const auto v = mini_json::parse(line);
    const double train = v["train_seconds"].as_number(), seconds = v["seconds"].as_number();
    EXPECT_GT(train, 0.0) << line;
    EXPECT_LE(train, seconds - previous) << line;
    previous = seconds;
  }
}

TEST(Train, ThreadsRepeatBitForBitAndFollowOneThread) {
  // Same seed and thread count (2, and 3 on a 2-core machine): the same summary.json (but
  // the wall time) and metrics.jsonl; --threads 1 is the default; 2 threads end within
  // rounding of one thread (the run is short: the final test error is the same).
  REQUIRE_EXE();
  auto args = base_args(2);
  args.insert(args.end(), {"--target-density", "0.5", "--dual-lr", "0.05", "--quiet"});
  auto run_with = [&](const std::string& threads, const std::string& name) {
    const fs::path dir = scratch_dir() / name;
    auto a = args;
    a.insert(a.end(), {"--threads", threads, "--out", dir.string(), "--overwrite"});
    const auto r = run(a);
    EXPECT_EQ(r.code, 0) << describe(a, r);
    return dir;
  };
  for (const char* split : {"batch", "layers"})
    for (const char* threads : {"2", "3"}) {
      const std::string tag = std::string(split) + "_" + threads;
      args.insert(args.end(), {"--thread-split", split});
      const fs::path a = run_with(threads, "threads_a_" + tag);
      const fs::path b = run_with(threads, "threads_b_" + tag);
      args.resize(args.size() - 2);
      EXPECT_EQ(without_seconds(read_file(a / "summary.json")),
                without_seconds(read_file(b / "summary.json")))
          << tag;
      const std::string config = read_file(a / "config.ini");
      EXPECT_NE(config.find(std::string("threads = ") + threads), std::string::npos) << config;
      EXPECT_NE(config.find(std::string("thread-split = ") + split), std::string::npos) << config;
    }
  const fs::path one = run_with("1", "threads_one");
  const auto s1 = mini_json::parse(read_file(one / "summary.json"));
  for (const char* split : {"batch", "layers"}) {
    const auto s2 = mini_json::parse(
        read_file(scratch_dir() / ("threads_a_" + std::string(split) + "_2") / "summary.json"));
    EXPECT_NEAR(s1["expected_density"].as_number(), s2["expected_density"].as_number(), 1e-3)
        << split;
    EXPECT_NEAR(s1["test_error"].as_number(), s2["test_error"].as_number(), 0.02) << split;
  }
  // The default split (auto: layers for the MLP) is recorded as given: auto.
  EXPECT_NE(read_file(one / "config.ini").find("thread-split = auto\n"), std::string::npos);
  const auto bad = run({"train", "--threads", "2", "--thread-split", "rows", "--epochs", "1"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("unknown --thread-split 'rows' (choices: auto, batch, layers)"),
            std::string::npos)
      << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
}

TEST(Train, KilledThreadedRunResumesToTheSameResult) {
  // args.txt records --threads, so the resumed run splits its batches as the killed one did
  // and reaches the uninterrupted run's summary bit for bit (the MLP's default split: layers).
  REQUIRE_EXE();
  const fs::path full = scratch_dir() / "threads_full";
  const fs::path cut = scratch_dir() / "threads_cut";
  auto args = base_args(5);
  args.insert(args.end(), {"--target-density", "0.5", "--dual-lr", "0.05", "--threads", "2", "--quiet"});
  auto full_args = args;
  full_args.insert(full_args.end(), {"--out", full.string(), "--overwrite"});
  ASSERT_EQ(run(full_args).code, 0);
  fs::remove_all(cut);
  run_until_first_checkpoint(args, cut);
  ASSERT_TRUE(fs::exists(cut / "checkpoint.bin"));
  if (fs::exists(cut / "summary.json")) GTEST_SKIP() << "the run finished before it was killed";
  const auto r = run({"train", "--resume", cut.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(without_seconds(read_file(full / "summary.json")), without_seconds(read_file(cut / "summary.json")));
}

TEST(Train, DamagedCheckpointsAreRejected) {
  REQUIRE_EXE();
  const fs::path dir = scratch_dir() / "run_damaged";
  auto args = base_args(1);
  args.insert(args.end(), {"--quiet", "--out", dir.string()});
  ASSERT_EQ(run(args).code, 0);
  const fs::path ckpt = dir / "checkpoint.bin";
  std::string bytes = read_file(ckpt);
  ASSERT_GT(bytes.size(), 100u);

  auto expect_error = [&](const std::string& content, const std::string& words) {
    std::ofstream(ckpt, std::ios::binary | std::ios::trunc) << content;
    const auto r = run({"train", "--resume", dir.string()});
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find(words), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  };
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x5a;
  expect_error(flipped, "checksum mismatch");
  expect_error(bytes.substr(0, bytes.size() / 2), "truncated");
  expect_error("definitely not a checkpoint", "bad magic");
  std::string version = bytes;
  version[8] = 9;  // the u32 version follows the 8-byte magic
  expect_error(version, "format version 9");
  // The intact checkpoint resumed under another configuration (a different target).
  std::ofstream(ckpt, std::ios::binary | std::ios::trunc) << bytes;
  std::ofstream(dir / "args.txt", std::ios::app) << "--target-density\n0.2\n";
  const auto r = run({"train", "--resume", dir.string()});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("belongs to another run"), std::string::npos) << r.err;
}

struct TrainBadCase {
  std::vector<std::string> extra;
  std::string words;
};

TEST(Train, BadInputGivesOneLineAndExitCodeTwo) {
  REQUIRE_EXE();
  const fs::path existing = scratch_dir() / "existing_run";
  fs::create_directories(existing);
  std::ofstream(existing / "summary.json") << "{}";
  const std::vector<TrainBadCase> cases = {
      {{"--target-density", "0"}, "--target-density"},
      {{"--target-density", "1.5"}, "(0, 1]"},
      {{"--layer-densities", "0.3,0.3"}, "3 gated layers"},
      {{"--model", "lenet5", "--layer-densities", "0.3,0.3,0.3"}, "4 gated layers"},
      {{"--layer-densities", "0.3,1.2,0.3"}, "1.2"},
      {{"--model", "resnet"}, "resnet"},
      {{"--dataset", "cifar"}, "cifar"},
      {{"--solver", "adamw"}, "adamw"},
      {{"--primal-lr", "-1"}, "--primal-lr"},
      {{"--dual-lr", "0"}, "--dual-lr"},
      {{"--batch", "0"}, "--batch"},
      {{"--epochs", "0"}, "--epochs"},
      {{"--epochs", "-3"}, "--epochs"},
      {{"--formulation", "augmented-lagrangian", "--penalty", "0"}, "penalty"},
      {{"--l0-penalty", "0.1,0.2"}, "--l0-penalty"},
      {{"--target-density", "0.3", "--l0-penalty", "0.1"}, "only one"},
      {{"--out", existing.string()}, "already holds"},
      {{"--frobnicate"}, "frobnicate"},
      {{"--threads", "0"}, "--threads"},
      {{"--threads", "257"}, "--threads"},
      {{"--threads", "two"}, "--threads"},
      {{"--fixed-gate-epochs", "3"}, "--fixed-gate-epochs = 3: must be < --epochs (3)"},
      {{"--fixed-gate-epochs", "-1"}, "--fixed-gate-epochs"},
      {{"--fixed-gate-epochs", "100%"}, "[0%, 100%)"},
      {{"--fixed-gate-epochs", "x%"}, "--fixed-gate-epochs"},
      {{"--log-alpha-min", "0"}, "--log-alpha-min"},
      {{"--log-alpha-min", "-30"}, "--log-alpha-min"},
      {{"--log-alpha-min", "low"}, "--log-alpha-min"},
  };
  for (const auto& c : cases) {
    auto args = base_args();
    args.insert(args.end(), c.extra.begin(), c.extra.end());
    const auto r = run(args);
    EXPECT_EQ(r.code, 2) << describe(args, r);
    EXPECT_NE(r.err.find(c.words), std::string::npos) << describe(args, r);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(args, r);
    EXPECT_EQ(r.err.rfind("saddle: error: ", 0), 0u) << describe(args, r);
  }
  // Missing data set: the message names the fetch command.
  const auto r = run({"train", "--data-dir", (scratch_dir() / "no_such_dir").string(), "--epochs", "1"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("scripts/fetch_mnist.sh"), std::string::npos) << r.err;
  // A damaged data file.
  const fs::path bad = scratch_dir() / "bad_mnist";
  fs::create_directories(bad);
  for (const char* f : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"})
    fs::copy_file(tiny_mnist() / f, bad / f, fs::copy_options::overwrite_existing);
  fs::resize_file(bad / "train-images-idx3-ubyte", 5000);
  const auto t = run({"train", "--data-dir", bad.string(), "--epochs", "1"});
  EXPECT_EQ(t.code, 2);
  EXPECT_NE(t.err.find("truncated"), std::string::npos) << t.err;
  // A labels file where an images file should be: wrong magic number.
  fs::copy_file(tiny_mnist() / "train-images-idx3-ubyte", bad / "train-images-idx3-ubyte",
                fs::copy_options::overwrite_existing);
  fs::copy_file(tiny_mnist() / "t10k-labels-idx1-ubyte", bad / "t10k-images-idx3-ubyte",
                fs::copy_options::overwrite_existing);
  const auto w = run({"train", "--data-dir", bad.string(), "--epochs", "1"});
  EXPECT_EQ(w.code, 2);
  EXPECT_NE(w.err.find("bad magic"), std::string::npos) << w.err;
  EXPECT_EQ(std::count(w.err.begin(), w.err.end(), '\n'), 1) << w.err;
  // --resume of something that is not a run folder.
  const auto u = run({"train", "--resume", (scratch_dir() / "nothing_here").string()});
  EXPECT_EQ(u.code, 2);
  EXPECT_NE(u.err.find("not a run folder"), std::string::npos) << u.err;
}

// --- configuration files, run folder, per-step log, divergence, progress, plots ----------

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::trunc) << text; }

}  // namespace

TEST(Train, ConfigFileCommandLineOverridesAndConfigIniReruns) {
  REQUIRE_EXE();
  const fs::path ini = scratch_dir() / "run.ini";
  write_text(ini, "# a tiny run\n\ndata-dir = " + tiny_mnist().string() +
                      "\nbatch = 50   # inline comment\nepochs = 1\nseed=4\ntarget-density = 0.5\ndual-lr = 0.05\n"
                      "no-dual-restarts = true\n");
  const fs::path dir = scratch_dir() / "run_config";
  const auto r = run({"train", "--config", ini.string(), "--epochs", "2", "--json", "--out", dir.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto v = mini_json::parse(r.out);
  EXPECT_EQ(v["epochs"].as_number(), 2);                // the command line wins
  EXPECT_EQ(v["targets"][0].as_number(), 0.5);          // from the file
  EXPECT_FALSE(v["dual_restarts"].as_bool());           // a switch from the file
  const std::string config = read_file(dir / "config.ini");
  for (const char* line : {"epochs = 2", "target-density = 0.5", "batch = 50", "dual-lr = 0.05", "no-dual-restarts = true",
                           "model = mlp", "primal-lr = 7e-4", "log-every = 50"})
    EXPECT_NE(config.find(std::string("\n") + line + "\n"), std::string::npos) << line << "\n" << config;
  EXPECT_EQ(config.find("out ="), std::string::npos) << config;
  // args.txt holds the expanded configuration, not the --config path.
  const std::string args = read_file(dir / "args.txt");
  EXPECT_EQ(args.find("--config"), std::string::npos) << args;
  EXPECT_NE(args.find("--target-density\n0.5\n"), std::string::npos) << args;
  // config.ini re-runs the same experiment.
  const fs::path again = scratch_dir() / "run_config_again";
  const auto a = run({"train", "--config", (dir / "config.ini").string(), "--json", "--out", again.string()});
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(without_seconds(r.out), without_seconds(a.out));
}

TEST(Train, BadConfigFilesNameTheFileAndLine) {
  REQUIRE_EXE();
  struct Case {
    std::string text;
    std::string words;
  };
  const std::vector<Case> cases = {
      {"epochs = 1\nthis line has no equals sign\n", "line 2: expected 'name = value'"},
      {"epochs = 1\n\nfrobnicate = 3\n", "line 3: unknown option 'frobnicate'"},
      {"[train]\nepochs = 1\n", "line 1: sections are not used"},
      {"--epochs = 1\n", "without the dashes"},
      {"epochs = 1\nepochs = 2\n", "line 2: 'epochs' is already set on line 1"},
      {"resume = somewhere\n", "'resume' cannot be set"},
      {"epochs = many\n", "--epochs = 'many'"},
      {"quiet = maybe\n", "maybe"},
      {"epochs = 1\nquiet = maybe\n", "line 2: 'quiet' takes true or false"},
      // Found by fuzzing (docs/testing.md): Boost's message for this value looped forever.
      {"no-dual-restarts = %value%\n", "line 1: 'no-dual-restarts' takes true or false (or on/off, yes/no, 1/0), got '%value%'"},
  };
  const fs::path ini = scratch_dir() / "bad.ini";
  for (const auto& c : cases) {
    write_text(ini, c.text);
    const std::vector<std::string> args = {"train", "--data-dir", tiny_mnist().string(), "--config", ini.string()};
    const auto r = run(args);
    EXPECT_EQ(r.code, 2) << c.text << describe(args, r);
    EXPECT_NE(r.err.find(c.words), std::string::npos) << c.text << describe(args, r);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(args, r);
    if (c.words.find("line") != std::string::npos) {
      EXPECT_NE(r.err.find(ini.string()), std::string::npos) << describe(args, r);
    }
  }
  // Missing file and a folder.
  auto r = run({"train", "--config", (scratch_dir() / "no_such.ini").string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("no_such.ini: cannot read the file"), std::string::npos) << r.err;
  r = run({"train", "--config", scratch_dir().string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("is a folder"), std::string::npos) << r.err;
  // --resume takes its configuration from the run folder only.
  r = run({"train", "--resume", scratch_dir().string(), "--config", ini.string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("drop --config"), std::string::npos) << r.err;
}

TEST(Train, UnwritableOutputFolderIsRefused) {
  REQUIRE_EXE();
  // Running as root ignores permissions: a folder below a regular file cannot exist at all.
  const fs::path file = scratch_dir() / "file.txt";
  write_text(file, "not a folder\n");
  auto args = base_args(1);
  args.insert(args.end(), {"--out", (file / "run").string()});
  const auto r = run(args);
  EXPECT_EQ(r.code, 2) << describe(args, r);
  EXPECT_NE(r.err.find("cannot create the folder"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(Train, StepsCsvEveryNSteps) {
  REQUIRE_EXE();
  const fs::path dir = scratch_dir() / "run_steps";
  auto args = base_args(2);  // 1200 samples / batch 50 = 24 steps per epoch
  args.insert(args.end(), {"--log-every", "5", "--dual-lr", "0.05", "--quiet", "--out", dir.string()});
  ASSERT_EQ(run(args).code, 0);
  const auto rows = lines_of(read_file(dir / "steps.csv"));
  ASSERT_EQ(rows.size(), 1u + 9u);  // header, iterations 5, 10, ..., 45
  EXPECT_EQ(rows[0], "iteration,epoch,batch,loss,objective,max_violation,c_density_model,lambda_density_model");
  EXPECT_EQ(rows[1].rfind("5,1,5,", 0), 0u) << rows[1];
  EXPECT_EQ(rows[5].rfind("25,2,1,", 0), 0u) << rows[5];  // first batch of epoch 2
  EXPECT_EQ(rows[9].rfind("45,2,21,", 0), 0u) << rows[9];
  // The multiplier column grows from 0 while the density (0.94 at init) is above the target 0.33.
  const double lambda = std::stod(rows[9].substr(rows[9].rfind(',') + 1));
  EXPECT_GT(lambda, 0.0);
  // --log-every 0: no steps.csv.
  const fs::path none = scratch_dir() / "run_steps_off";
  args = base_args(1);
  args.insert(args.end(), {"--log-every", "0", "--quiet", "--out", none.string()});
  ASSERT_EQ(run(args).code, 0);
  EXPECT_FALSE(fs::exists(none / "steps.csv"));
}

TEST(Train, ResumedStepsCsvDropsRowsPastTheCheckpoint) {
  REQUIRE_EXE();
  const fs::path full = scratch_dir() / "steps_full";
  const fs::path cut = scratch_dir() / "steps_cut";
  auto args = base_args(2);
  args.insert(args.end(), {"--log-every", "7", "--dual-lr", "0.05", "--quiet"});
  auto full_args = args;
  full_args.insert(full_args.end(), {"--out", full.string()});
  ASSERT_EQ(run(full_args).code, 0);
  // The same run killed -9 as soon as its first checkpoint exists.
  auto cut_args = args;
  cut_args.insert(cut_args.end(), {"--out", cut.string()});
  std::string command = shell_quote(SADDLE_EXE);
  for (const auto& a : cut_args) command += " " + shell_quote(a);
  command += " >/dev/null 2>&1 & pid=$!; ";
  command += "while [ ! -f " + shell_quote((cut / "checkpoint.bin").string()) + " ] && kill -0 $pid 2>/dev/null; do sleep 0.005; done; ";
  command += "kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; true";
  ASSERT_EQ(std::system(command.c_str()), 0);
  ASSERT_TRUE(fs::exists(cut / "checkpoint.bin"));
  if (fs::exists(cut / "summary.json")) GTEST_SKIP() << "the run finished before it was killed";
  // Rows logged after the checkpoint (24 steps per epoch), the last one cut short by a kill.
  std::ofstream(cut / "steps.csv", std::ios::app) << "28,2,4,0.1,0.1,0.5,0.5,0.01\n35,2,11,0.1,0.1,0.5,0.5,0.01\n4";
  const auto r = run({"train", "--resume", cut.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_file(full / "steps.csv"), read_file(cut / "steps.csv"));
}

TEST(Train, DivergenceInTheFirstEpochExitsThree) {
  REQUIRE_EXE();
  const fs::path dir = scratch_dir() / "run_diverged";
  auto args = base_args(3);
  args.insert(args.end(), {"--primal-rule", "sgd", "--primal-lr", "1e6", "--out", dir.string()});
  const auto r = run(args);
  EXPECT_EQ(r.code, 3) << describe(args, r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("saddle: error: training diverged at epoch 1, iteration ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("NaN"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("last good checkpoint: none (the run diverged in its first epoch)"), std::string::npos) << r.err;
  const auto summary = mini_json::parse(read_file(dir / "summary.json"));
  EXPECT_EQ(summary["termination"].as_string(), "numerical_failure");
  EXPECT_EQ(r.out.find("result ("), std::string::npos) << r.out;  // no result table for a diverged run
}

TEST(Train, DivergenceAfterACheckpointNamesIt) {
  REQUIRE_EXE();
  // Epoch 1 with a sane step size, then resume it with a configuration whose only change is
  // the step size (not part of the checkpoint's fingerprint): the run diverges in epoch 2.
  const fs::path dir = scratch_dir() / "run_diverged_later";
  auto args = base_args(1);
  args.insert(args.end(), {"--primal-rule", "sgd", "--quiet", "--out", dir.string()});
  ASSERT_EQ(run(args).code, 0);
  write_text(dir / "args.txt", "--data-dir\n" + tiny_mnist().string() +
                                   "\n--batch\n50\n--epochs\n3\n--seed\n4\n--primal-rule\nsgd\n--primal-lr\n1e6\n");
  const auto r = run({"train", "--resume", dir.string(), "--json"});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_EQ(r.err.rfind("saddle: error: training diverged at epoch 2, iteration ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("last good checkpoint: " + (dir / "checkpoint.bin").string() + " (epoch 1)"), std::string::npos)
      << r.err;
  EXPECT_EQ(mini_json::parse(r.out)["termination"].as_string(), "numerical_failure");  // --json still prints the summary
  EXPECT_TRUE(fs::exists(dir / "checkpoint.bin"));
}

TEST(Train, ProgressLinesBarAndQuiet) {
  REQUIRE_EXE();
  auto args = base_args(2);
  auto r = run(args);  // stdout is a file here: a line per epoch
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find('\r'), std::string::npos);
  EXPECT_NE(r.out.find("epoch   1/2  loss "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epoch   2/2  loss "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nresult ("), std::string::npos) << r.out;

  args = base_args(2);
  args.insert(args.end(), {"--progress", "bar"});
  r = run(args);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\repoch 2/2 ["), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("24/24  ETA "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("epoch   1/2  loss "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\x1b[K\n\nresult ("), std::string::npos) << r.out;  // the bar's line is ended

  args = base_args(2);
  args.push_back("--quiet");
  r = run(args);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("\nresult (", 0), 0u) << r.out;  // the table only
  EXPECT_EQ(r.err, "");

  args = base_args(1);
  args.insert(args.end(), {"--progress", "fancy"});
  r = run(args);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--progress 'fancy'"), std::string::npos) << r.err;
}

TEST(Train, DynamicsPlotAndItsScript) {
  REQUIRE_EXE();
  const fs::path dir = scratch_dir() / "run_plot";
  auto args = base_args(2);
  args.insert(args.end(), {"--layer-densities", "0.5,0.5,0.9", "--quiet", "--out", dir.string()});
  auto r = run(args);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto dat = lines_of(read_file(dir / "dynamics.dat"));
  ASSERT_EQ(dat.size(), 3u);  // header and 2 epochs
  EXPECT_EQ(dat[0].rfind("# epoch density_model density_", 0), 0u) << dat[0];
  EXPECT_EQ(dat[2].rfind("2 ", 0), 0u) << dat[2];
  const std::string gp = read_file(dir / "dynamics.gp");
  EXPECT_NE(gp.find("set output \"dynamics.png\""), std::string::npos);
  EXPECT_NE(gp.find("0.9 with lines dt 2"), std::string::npos) << gp;  // a layer target
  const bool have_gnuplot = std::system("command -v gnuplot >/dev/null 2>&1") == 0;
  if (have_gnuplot) {
    EXPECT_EQ(r.err, "");
    const std::string png = read_file(dir / "dynamics.png");
    ASSERT_GT(png.size(), 1000u);
    EXPECT_EQ(png.substr(1, 3), "PNG");
  }
  // Without gnuplot on PATH: the data and the script are still written, and one note says
  // how to draw the plot.
  const fs::path no_plot = scratch_dir() / "run_no_gnuplot";
  const fs::path empty_bin = scratch_dir() / "empty_bin";
  fs::create_directories(empty_bin);
  const std::string saved_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", empty_bin.string().c_str(), 1);
  args = base_args(1);
  args.insert(args.end(), {"--quiet", "--out", no_plot.string()});
  r = run(args);
  ::setenv("PATH", saved_path.c_str(), 1);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "saddle: note: gnuplot not found: apt-get install gnuplot-nox, then run: gnuplot " +
                       (no_plot / "dynamics.gp").string() + "\n");
  EXPECT_TRUE(fs::exists(no_plot / "dynamics.dat"));
  EXPECT_TRUE(fs::exists(no_plot / "dynamics.gp"));
  EXPECT_FALSE(fs::exists(no_plot / "dynamics.png"));
  if (have_gnuplot) {  // ... and the script draws it from any working directory
    ASSERT_EQ(std::system(("cd / && gnuplot " + shell_quote((no_plot / "dynamics.gp").string()) + " 2>/dev/null").c_str()), 0);
    EXPECT_TRUE(fs::exists(no_plot / "dynamics.png"));
  }
}

// A batch larger than the training set is refused with one line (it used to run out of memory).
TEST(Train, BatchLargerThanTheTrainingSetIsRefused) {
  REQUIRE_EXE();
  const auto r = run({"train", "--data-dir", tiny_mnist().string(), "--batch", "100000", "--epochs", "1"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--batch 100000: larger than the training set of mnist (1200 samples)"), std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// The default dual update of train is nuPI with a clipped proportional term on the violation
// relative to the target (docs/formulations.md); the paper's protocol is one flag away.
TEST(Train, DefaultDualUpdateIsClippedNuPiRelativeToTheTarget) {
  REQUIRE_EXE();
  const auto help = run({"train", "--help"});
  ASSERT_EQ(help.code, 0) << help.err;
  for (const char* text : {"--dual-rule NAME (=nupi)", "--kp X (=30)", "--kp-clip X (=0.006)", "--dual-lr X (=3e-5)",
                           "--dual-scale NAME (=target)", "--paper-protocol"})
    EXPECT_NE(help.out.find(text), std::string::npos) << "help lacks " << text;
  const fs::path dir = scratch_dir() / "default_dual";
  auto args = base_args(1);
  args.insert(args.end(), {"--target-density", "0.5", "--quiet", "--out", dir.string(), "--overwrite"});
  ASSERT_EQ(run(args).code, 0);
  const std::string config = read_file(dir / "config.ini");
  for (const char* line : {"dual-rule = nupi\n", "kp = 30\n", "kp-clip = 0.006\n", "dual-lr = 3e-5\n",
                           "dual-scale = target\n", "paper-protocol = false\n", "log-alpha-min = -6.907755\n",
                           "fixed-gate-epochs = 5%\n"})
    EXPECT_NE(config.find(line), std::string::npos) << line << " not in\n" << config;
}

// --paper-protocol records the paper's dual update and model (log_alpha bound, no fixed-gate
// phase) in config.ini, runs exactly as the flags it stands for, and refuses a flag that
// contradicts it.
TEST(Train, PaperProtocolIsTheFlagsItNames) {
  REQUIRE_EXE();
  const fs::path a = scratch_dir() / "paper_switch";
  const fs::path b = scratch_dir() / "paper_flags";
  auto args = base_args(2);
  args.insert(args.end(), {"--target-density", "0.5", "--quiet", "--overwrite", "--log-every", "3"});
  auto with_switch = args;
  with_switch.insert(with_switch.end(), {"--paper-protocol", "--out", a.string()});
  auto with_flags = args;
  with_flags.insert(with_flags.end(), {"--dual-rule", "gradient-ascent", "--dual-lr", "1e-4", "--dual-scale", "one",
                                       "--log-alpha-min", "-4.605170185988091", "--fixed-gate-epochs", "0", "--out",
                                       b.string()});
  ASSERT_EQ(run(with_switch).code, 0);
  ASSERT_EQ(run(with_flags).code, 0);
  EXPECT_EQ(read_file(a / "steps.csv"), read_file(b / "steps.csv"));
  // Any spelling of "no fixed-gate epoch" agrees with it.
  for (const char* none : {"0.0%", "00"}) {
    auto agreeing = args;
    agreeing.insert(agreeing.end(), {"--paper-protocol", "--fixed-gate-epochs", none, "--out",
                                     (scratch_dir() / "paper_none").string()});
    const auto r = run(agreeing);
    EXPECT_EQ(r.code, 0) << none << ": " << r.err;
  }
  const std::string config = read_file(a / "config.ini");
  for (const char* line : {"dual-rule = gradient-ascent\n", "dual-lr = 1e-4\n", "dual-scale = one\n",
                           "paper-protocol = true\n", "log-alpha-min = -4.605170185988091\n", "fixed-gate-epochs = 0\n"})
    EXPECT_NE(config.find(line), std::string::npos) << line << " not in\n" << config;
  // The default differs from it (the multipliers move differently from the first step).
  const fs::path d = scratch_dir() / "paper_default";
  auto with_default = args;
  with_default.insert(with_default.end(), {"--out", d.string()});
  ASSERT_EQ(run(with_default).code, 0);
  EXPECT_NE(read_file(a / "steps.csv"), read_file(d / "steps.csv"));

  for (const auto& extra : std::vector<std::vector<std::string>>{
           {"--dual-rule", "nupi"}, {"--dual-lr", "0.05"}, {"--dual-scale", "target"}, {"--no-dual-restarts"},
           {"--log-alpha-min", "-6"}, {"--fixed-gate-epochs", "1"}}) {
    auto bad = args;
    bad.push_back("--paper-protocol");
    bad.insert(bad.end(), extra.begin(), extra.end());
    const auto r = run(bad);
    EXPECT_EQ(r.code, 2) << extra[0];
    EXPECT_NE(r.err.find("--paper-protocol"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(extra[0]), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  const auto bad_scale = run({"train", "--dual-scale", "relative", "--epochs", "1"});
  EXPECT_EQ(bad_scale.code, 2);
  EXPECT_NE(bad_scale.err.find("unknown --dual-scale 'relative' (choices: target, one)"), std::string::npos)
      << bad_scale.err;
}

// --resume takes every setting from the run folder (config.ini), not from today's defaults:
// a run recorded when a default was different continues with the value it started with.
TEST(Train, ResumeKeepsTheRecordedSettingsWhenDefaultsChange) {
  REQUIRE_EXE();
  struct Case {
    std::vector<std::string> flags;          // given when the run started
    std::vector<std::string> drop_args;      // removed from args.txt (as if they had been defaults)
    std::vector<std::string> drop_config;    // config.ini lines removed (as if the flag did not exist)
  };
  const std::vector<Case> cases = {
      // a gradient-ascent run made when gradient ascent was the default
      {{"--dual-rule", "gradient-ascent", "--dual-lr", "0.05"},
       {"--dual-rule", "gradient-ascent"},
       {}},
      // a nuPI run made before --kp-clip existed (no clipping then)
      {{"--dual-rule", "nupi", "--kp", "0.5", "--dual-lr", "0.05", "--kp-clip", "inf",
        "--dual-scale", "one"},
       {"--kp-clip", "inf", "--dual-scale", "one"},
       {"kp-clip", "dual-scale"}},
      // a run made before --dual-scale existed (the plain violation then)
      {{"--dual-scale", "one", "--dual-lr", "0.05"}, {"--dual-scale", "one"}, {"dual-scale"}},
      // a run made before --log-alpha-min and --fixed-gate-epochs existed (ln 0.01, no phase)
      // (a dual step large enough to drive gates to the bound within the 5 epochs)
      {{"--log-alpha-min", "-4.605170185988091", "--fixed-gate-epochs", "0", "--dual-lr", "5"},
       {"--log-alpha-min", "-4.605170185988091", "--fixed-gate-epochs", "0"},
       {"log-alpha-min", "fixed-gate-epochs"}},
      // a 2-thread MLP run made before --thread-split existed (the batch split then)
      {{"--threads", "2", "--thread-split", "batch"},
       {"--thread-split", "batch"},
       {"thread-split"}},
  };
  int index = 0;
  for (const auto& c : cases) {
    const fs::path full = scratch_dir() / ("recorded_full_" + std::to_string(index));
    const fs::path cut = scratch_dir() / ("recorded_cut_" + std::to_string(index));
    ++index;
    auto args = base_args(5);
    args.insert(args.end(), {"--target-density", "0.5", "--quiet", "--overwrite"});
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    auto full_args = args;
    full_args.insert(full_args.end(), {"--out", full.string()});
    ASSERT_EQ(run(full_args).code, 0);

    run_until_first_checkpoint(args, cut);
    ASSERT_TRUE(fs::exists(cut / "checkpoint.bin"));
    ASSERT_FALSE(fs::exists(cut / "summary.json")) << "the run finished before it was killed";

    // Rewrite the run folder as an older saddle would have recorded it.
    std::vector<std::string> lines;
    {
      std::ifstream in(cut / "args.txt");
      for (std::string line; std::getline(in, line);) lines.push_back(line);
    }
    std::string kept_args;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      bool drop = false;
      for (std::size_t k = 0; k + 1 < c.drop_args.size(); k += 2)
        if (lines[i] == c.drop_args[k] && i + 1 < lines.size() && lines[i + 1] == c.drop_args[k + 1]) drop = true;
      if (drop) {
        ++i;
        continue;
      }
      kept_args += lines[i] + "\n";
    }
    write_text_file(cut / "args.txt", kept_args);
    std::string config;
    {
      std::ifstream in(cut / "config.ini");
      for (std::string line; std::getline(in, line);) {
        bool drop = false;
        for (const auto& name : c.drop_config) drop = drop || line.rfind(name + " =", 0) == 0;
        if (!drop) config += line + "\n";
      }
    }
    write_text_file(cut / "config.ini", config);

    const auto r = run({"train", "--resume", cut.string()});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(without_seconds(read_file(full / "summary.json")), without_seconds(read_file(cut / "summary.json")))
        << "case " << index;
  }
}
