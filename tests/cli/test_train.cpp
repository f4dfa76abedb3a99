// `saddle train` end to end on a small generated IDX data set: JSON summary keys, the run
// folder, kill -9 and --resume reaching the uninterrupted result, and every bad input
// giving one error line and exit code 2.
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

// 28x28 images whose label is drawn as a bright 4x4 block at a label-dependent place, plus
// noise: learnable in a few epochs.
fs::path tiny_mnist() {
  static const fs::path dir = [] {
    const fs::path d = scratch_dir() / "tiny_mnist";
    fs::create_directories(d);
    std::mt19937_64 rng(5);
    auto make = [&](std::size_t n, const std::string& images, const std::string& labels) {
      saddle::l0::IdxImages im;
      im.count = n;
      im.rows = im.cols = 28;
      im.pixels.resize(n * 784);
      saddle::l0::IdxLabels lb;
      lb.labels.resize(n);
      for (std::size_t i = 0; i < n; ++i) {
        const int y = static_cast<int>(rng() % 10);
        lb.labels[i] = static_cast<std::uint8_t>(y);
        for (std::size_t p = 0; p < 784; ++p) im.pixels[i * 784 + p] = static_cast<std::uint8_t>(rng() % 40);
        const std::size_t r0 = 2 + 2 * static_cast<std::size_t>(y), c0 = 4 + static_cast<std::size_t>(y);
        for (std::size_t r = r0; r < r0 + 4; ++r)
          for (std::size_t c = c0; c < c0 + 4; ++c) im.pixels[i * 784 + r * 28 + c] = 250;
      }
      saddle::l0::write_idx_images((d / images).string(), im);
      saddle::l0::write_idx_labels((d / labels).string(), lb);
    };
    make(1200, "train-images-idx3-ubyte", "train-labels-idx1-ubyte");
    make(300, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");
    return d;
  }();
  return dir;
}

std::vector<std::string> base_args(int epochs = 3) {
  return {"train", "--data-dir", tiny_mnist().string(), "--batch", "50", "--epochs", std::to_string(epochs), "--seed", "4"};
}

std::string without_seconds(const std::string& json) {
  std::string out;
  std::istringstream in(json);
  for (std::string line; std::getline(in, line);)
    if (line.find("\"seconds\"") == std::string::npos) out += line + "\n";
  return out;
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
  std::string command = shell_quote(SADDLE_EXE);
  for (const auto& a : args) command += " " + shell_quote(a);
  command += " --out " + shell_quote(cut.string()) + " >/dev/null 2>&1 & pid=$!; ";
  command += "while [ ! -f " + shell_quote((cut / "checkpoint.bin").string()) + " ] && kill -0 $pid 2>/dev/null; do sleep 0.005; done; ";
  command += "kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; true";
  ASSERT_EQ(std::system(command.c_str()), 0);
  ASSERT_TRUE(fs::exists(cut / "checkpoint.bin"));
  EXPECT_FALSE(fs::exists(cut / "summary.json")) << "the run finished before it was killed";

  const auto r = run({"train", "--resume", cut.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("resumed from"), std::string::npos);
  EXPECT_EQ(without_seconds(read_file(full / "summary.json")), without_seconds(read_file(cut / "summary.json")));
  // metrics.jsonl lists every epoch once.
  std::ifstream metrics(cut / "metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(metrics, line);) ++lines;
  EXPECT_EQ(lines, 6);
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
  // --resume of something that is not a run folder.
  const auto u = run({"train", "--resume", (scratch_dir() / "nothing_here").string()});
  EXPECT_EQ(u.code, 2);
  EXPECT_NE(u.err.find("not a run folder"), std::string::npos) << u.err;
}
