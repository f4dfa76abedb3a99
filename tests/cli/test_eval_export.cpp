// `saddle eval` and `saddle export` end to end on a small generated IDX data set: a trained
// run (MLP and LeNet5, gates pushed closed by a strong L0 penalty) is evaluated, exported,
// and the exported purged network gives the same predictions as the gated model with
// test-time gates, with the parameter and MAC counts the training reported. Damaged or
// wrong files exit 2 with one error line.
#include <algorithm>
#include <cmath>
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

// Its own folder, the same pattern as test_train.cpp.
fs::path tiny_mnist() {
  static const fs::path dir = write_tiny_mnist("tiny_mnist_eval", 600, 300, 7);
  return dir;
}

// A finished run in scratch_dir()/name: 3 epochs of 30 steps with a fixed L0 penalty and a
// large primal step, so that many gates end below the median-gate threshold (measured: mlp
// 575-143-93, lenet5 20-29-163-472).
fs::path trained_run(const std::string& name, const std::string& model) {
  const fs::path dir = scratch_dir() / name;
  if (fs::exists(dir / "summary.json")) return dir;
  const std::vector<std::string> args = {"train", "--model", model, "--data-dir", tiny_mnist().string(), "--batch", "20",
                                         "--epochs", "3", "--seed", "3", "--l0-penalty", "20", "--primal-lr", "0.03",
                                         "--quiet", "--out", dir.string()};
  const auto r = run(args);
  EXPECT_EQ(r.code, 0) << describe(args, r);
  return dir;
}

std::string dense_architecture(const std::string& model) { return model == "mlp" ? "784-300-100" : "20-50-800-500"; }

void check_export_matches_gated_model(const std::string& model) {
  const fs::path dir = trained_run("run_" + model, model);
  const auto summary = mini_json::parse(read_file(dir / "summary.json"));

  // The gated model at test time, from the run folder.
  const fs::path gated_predictions = scratch_dir() / (model + "_gated.txt");
  std::vector<std::string> args = {"eval", dir.string(), "--json", "--predictions", gated_predictions.string()};
  auto r = run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const auto gated = mini_json::parse(r.out);
  EXPECT_EQ(gated["kind"].as_string(), "run");
  EXPECT_EQ(gated["model"].as_string(), model);
  EXPECT_EQ(gated["count"].as_number(), 300);
  // Same parameters, batching and gates as the run's last evaluation.
  EXPECT_EQ(gated["test_error"].as_number(), summary["test_error"].as_number());
  EXPECT_EQ(gated["pruned_architecture"].as_string(), summary["pruned_architecture"].as_string());
  EXPECT_EQ(gated["purged_params"].as_number(), summary["purged_params"].as_number());
  EXPECT_EQ(gated["purged_macs"].as_number(), summary["purged_macs"].as_number());
  EXPECT_DOUBLE_EQ(gated["expected_density"].as_number(), summary["expected_density"].as_number());
  EXPECT_NE(gated["pruned_architecture"].as_string(), dense_architecture(model)) << "the run closed no gate";

  // Export, then evaluate the purged network.
  const fs::path file = scratch_dir() / (model + ".sdln");
  args = {"export", dir.string(), "--out", file.string(), "--json"};
  r = run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const auto exported = mini_json::parse(r.out);
  EXPECT_EQ(exported["purged_params"].as_number(), gated["purged_params"].as_number());
  EXPECT_EQ(exported["purged_macs"].as_number(), gated["purged_macs"].as_number());
  EXPECT_EQ(exported["pruned_architecture"].as_string(), gated["pruned_architecture"].as_string());
  EXPECT_EQ(exported["bytes"].as_number(), static_cast<double>(fs::file_size(file)));
  EXPECT_LT(exported["purged_params"].as_number(), exported["dense_params"].as_number());

  const fs::path purged_predictions = scratch_dir() / (model + "_purged.txt");
  args = {"eval", file.string(), "--data-dir", tiny_mnist().string(), "--json", "--predictions", purged_predictions.string()};
  r = run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const auto purged = mini_json::parse(r.out);
  EXPECT_EQ(purged["kind"].as_string(), "export");
  EXPECT_EQ(purged["count"].as_number(), 300);
  EXPECT_EQ(purged["test_error"].as_number(), gated["test_error"].as_number());
  // Float sums in another order (packed GEMMs): the same 1e-4 relative bound as the logits
  // in tests/l0/test_purged_network.cpp; the predictions themselves must be identical.
  EXPECT_NEAR(purged["test_loss"].as_number(), gated["test_loss"].as_number(),
              1e-4 * (1.0 + std::abs(gated["test_loss"].as_number())));
  EXPECT_EQ(purged["purged_params"].as_number(), gated["purged_params"].as_number());
  EXPECT_EQ(purged["purged_macs"].as_number(), gated["purged_macs"].as_number());
  // Per-example predictions are identical.
  const std::string a = read_file(gated_predictions), b = read_file(purged_predictions);
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 300);
  EXPECT_EQ(a, b);

  // The human-readable reports name the key numbers.
  r = run({"eval", file.string(), "--data-dir", tiny_mnist().string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("purged params"), std::string::npos) << r.out;
  r = run({"eval", (dir / "checkpoint.bin").string()});  // a checkpoint finds its args.txt
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("test error"), std::string::npos) << r.out;
}

}  // namespace

TEST(EvalExport, MlpExportGivesTheGatedModelsPredictions) {
  REQUIRE_EXE();
  check_export_matches_gated_model("mlp");
}

TEST(EvalExport, Lenet5ExportGivesTheGatedModelsPredictions) {
  REQUIRE_EXE();
  check_export_matches_gated_model("lenet5");
}

TEST(EvalExport, EmaRunEvaluatesTheAveragedParameters) {
  REQUIRE_EXE();
  // With --ema, training evaluates the moving average; eval must load it, not the iterate.
  const fs::path dir = scratch_dir() / "run_ema";
  std::vector<std::string> args = {"train", "--data-dir", tiny_mnist().string(), "--batch", "50", "--epochs", "1",
                                   "--seed", "2", "--ema", "0.9", "--quiet", "--out", dir.string()};
  auto r = run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const auto summary = mini_json::parse(read_file(dir / "summary.json"));
  args = {"eval", dir.string(), "--json"};
  r = run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const auto v = mini_json::parse(r.out);
  EXPECT_TRUE(v["ema"].as_bool());
  EXPECT_EQ(v["epochs"].as_number(), 1);
  EXPECT_EQ(v["test_error"].as_number(), summary["test_error"].as_number());
  EXPECT_DOUBLE_EQ(v["expected_density"].as_number(), summary["expected_density"].as_number());
}

TEST(EvalExport, BadInputGivesOneLineAndExitCodeTwo) {
  REQUIRE_EXE();
  const fs::path dir = trained_run("run_mlp", "mlp");
  const fs::path good = scratch_dir() / "bad_input_good.sdln";
  ASSERT_EQ(run({"export", dir.string(), "--out", good.string(), "--overwrite"}).code, 0);
  const std::string bytes = read_file(good);
  const std::string checkpoint = read_file(dir / "checkpoint.bin");
  ASSERT_GT(bytes.size(), 100u);

  auto write = [](const fs::path& path, const std::string& content) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
    return path.string();
  };
  std::string flipped = bytes;
  flipped[bytes.size() / 2] = static_cast<char>(flipped[bytes.size() / 2] ^ 0x5a);
  std::string bad_checkpoint = checkpoint;
  bad_checkpoint[checkpoint.size() / 2] = static_cast<char>(bad_checkpoint[checkpoint.size() / 2] ^ 0x5a);
  const fs::path ckpt_dir = scratch_dir() / "bad_checkpoint_run";
  fs::create_directories(ckpt_dir);
  write(ckpt_dir / "checkpoint.bin", bad_checkpoint);
  const fs::path cut_dir = scratch_dir() / "cut_checkpoint_run";
  fs::create_directories(cut_dir);
  write(cut_dir / "checkpoint.bin", checkpoint.substr(0, checkpoint.size() / 2));

  struct Case {
    std::vector<std::string> args;
    std::string words;
  };
  const std::vector<Case> cases = {
      {{"eval", (scratch_dir() / "missing.sdln").string()}, "no such file"},
      {{"export", (scratch_dir() / "missing_run").string()}, "no such file"},
      {{"eval"}, "missing RUN_OR_CHECKPOINT"},
      {{"export"}, "missing RUN_OR_CHECKPOINT"},
      {{"eval", good.string(), good.string()}, "one RUN_OR_CHECKPOINT"},
      {{"eval", write(scratch_dir() / "cut.sdln", bytes.substr(0, bytes.size() / 2)), "--data-dir", tiny_mnist().string()},
       "truncated"},
      {{"eval", write(scratch_dir() / "flipped.sdln", flipped), "--data-dir", tiny_mnist().string()}, "checksum mismatch"},
      {{"eval", write(scratch_dir() / "text.bin", "definitely not a model"), "--data-dir", tiny_mnist().string()}, "bad magic"},
      {{"eval", ckpt_dir.string()}, "checksum mismatch"},
      {{"export", ckpt_dir.string(), "--out", (scratch_dir() / "x.sdln").string()}, "checksum mismatch"},
      {{"eval", cut_dir.string()}, "truncated"},
      {{"eval", scratch_dir().string()}, "no checkpoint.bin"},
      {{"export", dir.string(), "--out", good.string()}, "--overwrite"},
      {{"export", good.string()}, "already an exported network"},
      {{"eval", good.string(), "--data-dir", (scratch_dir() / "no_data").string()}, "no_data"},
      {{"eval", good.string(), "--batch", "0"}, "--batch"},
      {{"eval", good.string(), "--frobnicate"}, "frobnicate"},
  };
  for (const auto& c : cases) {
    const auto r = run(c.args);
    EXPECT_EQ(r.code, 2) << describe(c.args, r);
    EXPECT_TRUE(r.out.empty()) << describe(c.args, r);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(c.args, r);
    EXPECT_EQ(r.err.rfind("saddle: error: ", 0), 0u) << describe(c.args, r);
    EXPECT_NE(r.err.find(c.words), std::string::npos) << describe(c.args, r);
  }
}
