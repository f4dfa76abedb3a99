// `saddle compare` and `saddle sweep` end to end on a small generated IDX data set: the
// tables (terminal, markdown, CSV) have one row per variant / target with parseable numbers
// and confidence intervals that match the run folders, the PNG exists when gnuplot is
// installed, a failing variant is reported without losing the others, and bad input gives one
// error line and exit code 2.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli_test_util.hpp"
#include "mini_json.hpp"
#include "saddle/problems/l0/idx.hpp"

using namespace cli_test;

namespace {

// Smaller: every run here takes well under a second.
fs::path tiny_mnist() {
  static const fs::path dir = write_tiny_mnist("tiny_mnist_compare", 600, 200, 7);
  return dir;
}

bool gnuplot_installed() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

bool is_png(const fs::path& path) {
  const std::string bytes = read_file(path);
  return bytes.size() > 1000 && bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> items;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, separator)) items.push_back(item);
  if (!text.empty() && text.back() == separator) items.emplace_back();
  return items;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(' ');
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(' ') - b + 1);
}

// A CSV file (no quoted cells in these tests' output except status, checked separately)
// as rows of name -> cell.
std::vector<std::map<std::string, std::string>> read_csv(const fs::path& path) {
  std::istringstream in(read_file(path));
  std::string line;
  std::getline(in, line);
  const auto header = split(line, ',');
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    const auto cells = split(line, ',');
    EXPECT_EQ(cells.size(), header.size()) << line;
    std::map<std::string, std::string> row;
    for (std::size_t c = 0; c < header.size() && c < cells.size(); ++c) row[header[c]] = cells[c];
    rows.push_back(row);
  }
  return rows;
}

// The body rows of a markdown table (lines starting with '|', minus header and rule), split
// into trimmed cells.
std::vector<std::vector<std::string>> markdown_rows(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  int table_line = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] != '|') continue;
    if (table_line++ < 2) continue;
    auto cells = split(line.substr(1, line.size() - 2), '|');
    for (auto& c : cells) c = trim(c);
    rows.push_back(cells);
  }
  return rows;
}

double number(const std::string& text) {
  std::size_t used = 0;
  const double v = std::stod(text, &used);
  EXPECT_EQ(used, text.size()) << "'" << text << "' is not a plain number";
  return v;
}

// "m ± c" -> {m, c}.
std::pair<double, double> mean_and_ci(const std::string& cell) {
  const auto at = cell.find(" \xc2\xb1 ");
  EXPECT_NE(at, std::string::npos) << "no '±' in '" << cell << "'";
  if (at == std::string::npos) return {NAN, NAN};
  return {number(cell.substr(0, at)), number(cell.substr(at + 4))};
}

std::vector<std::string> shared_args(const fs::path& out, int epochs) {
  return {"--data-dir", tiny_mnist().string(), "--batch", "50", "--epochs", std::to_string(epochs), "--seeds", "1,2",
          "--jobs", "2", "--dual-lr", "0.05", "--out", out.string(), "--quiet"};
}

}  // namespace

TEST(Compare, TablesCsvAndPlotPerVariant) {
  REQUIRE_EXE();
  const fs::path out = scratch_dir() / "compare_ok";
  std::vector<std::string> args = {"compare", "--variants", "gda,extragradient,penalized", "--target-density", "0.5"};
  const auto shared = shared_args(out, 2);
  args.insert(args.end(), shared.begin(), shared.end());
  const auto r = run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  EXPECT_TRUE(r.err.empty()) << r.err;  // --quiet, and gnuplot (if any) succeeded

  // Terminal table: a row per variant.
  for (const char* v : {"gda ", "extragradient ", "penalized "}) EXPECT_NE(r.out.find(v), std::string::npos) << r.out;

  // Markdown: one row per variant, in the order asked; numbers with a CI.
  const auto rows = markdown_rows(read_file(out / "compare.md"));
  ASSERT_EQ(rows.size(), 3u) << read_file(out / "compare.md");
  const std::vector<std::string> names = {"gda", "extragradient", "penalized"};
  for (std::size_t k = 0; k < 3; ++k) {
    ASSERT_EQ(rows[k].size(), 9u);
    EXPECT_EQ(rows[k][0], names[k]);
    EXPECT_EQ(rows[k][1], "2/2");
    const auto err = mean_and_ci(rows[k][2]);
    EXPECT_GE(err.first, 0.0);
    EXPECT_LE(err.first, 100.0);
    EXPECT_GE(err.second, 0.0);
    const auto density = mean_and_ci(rows[k][3]);
    EXPECT_GT(density.first, 0.0);
    EXPECT_LE(density.first, 1.0);
    EXPECT_EQ(rows[k][8], "ok");
  }
  // Forwards / backwards per step are the solvers' known costs.
  EXPECT_EQ(number(rows[0][5]), 1.0);
  EXPECT_EQ(number(rows[1][5]), 2.0);
  EXPECT_EQ(number(rows[1][6]), 2.0);
  EXPECT_EQ(number(rows[2][6]), 1.0);

  // CSV: header and rows; the mean and CI agree with the run folders (t(0.975, 1) = 12.706).
  const auto csv = read_csv(out / "compare.csv");
  ASSERT_EQ(csv.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    const auto& row = csv[k];
    EXPECT_EQ(row.at("variant"), names[k]);
    std::vector<double> errors, densities;
    for (const char* seed : {"seed-1", "seed-2"}) {
      const auto s = mini_json::parse(read_file(out / names[k] / seed / "summary.json"));
      errors.push_back(s["test_error"].as_number());
      densities.push_back(s["expected_density"].as_number());
      EXPECT_TRUE(fs::exists(out / names[k] / seed / "metrics.jsonl"));
    }
    const double mean = (errors[0] + errors[1]) / 2.0;
    const double ci = 12.7062047 * std::abs(errors[0] - errors[1]) / 2.0;  // t s / sqrt(2), s = |a-b|/sqrt(2)
    EXPECT_NEAR(number(row.at("test_error_mean")), mean, 1e-12);
    EXPECT_NEAR(number(row.at("test_error_ci95")), ci, 1e-9);
    const double worst = std::max({0.0, densities[0] - 0.5, densities[1] - 0.5});
    EXPECT_LE(number(row.at("worst_violation_mean")), worst + 1e-12);
    EXPECT_GE(number(row.at("worst_violation_mean")), 0.0);
    EXPECT_NEAR(number(row.at("expected_density_mean")), (densities[0] + densities[1]) / 2.0, 1e-12);
    EXPECT_GT(number(row.at("wall_seconds_mean")), 0.0);
    EXPECT_FALSE(row.at("wall_seconds_ci95").empty());
    EXPECT_EQ(row.at("ok_runs"), "2");
  }
  EXPECT_EQ(csv[2].at("train_flags"), "--l0-penalty 0.03");

  // Trajectory data and plot.
  const auto dat = read_file(out / "plot" / "gda.dat");
  EXPECT_EQ(std::count(dat.begin(), dat.end(), '\n'), 3) << dat;  // comment + 2 epochs
  EXPECT_TRUE(fs::exists(out / "compare.gp"));
  if (gnuplot_installed()) {
    EXPECT_TRUE(is_png(out / "compare.png"));
  } else {
    GTEST_LOG_(INFO) << "gnuplot not installed: compare.png not checked";
  }
}

TEST(Compare, FailedVariantIsReportedWithoutLosingTheOthers) {
  REQUIRE_EXE();
  const fs::path out = scratch_dir() / "compare_fail";
  // A penalty of 1e308 makes the penalized loss overflow: those runs stop on a numerical
  // failure, the gda runs finish.
  std::vector<std::string> args = {"compare", "--variants", "gda,penalized", "--penalty-lambda", "1e308"};
  const auto shared = shared_args(out, 1);
  args.insert(args.end(), shared.begin(), shared.end());
  const auto r = run(args);
  EXPECT_EQ(r.code, 3) << describe(args, r);
  const auto rows = markdown_rows(read_file(out / "compare.md"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][1], "2/2");
  EXPECT_EQ(rows[0][8], "ok");
  EXPECT_EQ(rows[1][1], "0/2");
  EXPECT_NE(rows[1][8].find("2 failed: numerical failure"), std::string::npos) << rows[1][8];
  EXPECT_NO_THROW(mean_and_ci(rows[0][2]));
}

TEST(Sweep, TableAndPlotPerTarget) {
  REQUIRE_EXE();
  const fs::path out = scratch_dir() / "sweep_ok";
  // --threads and --thread-split are passed through to every run (each run's args.txt
  // records them).
  std::vector<std::string> args = {"sweep", "--target-densities", "0.3,0.6", "--threads", "2",
                                   "--thread-split", "batch"};
  const auto shared = shared_args(out, 1);
  args.insert(args.end(), shared.begin(), shared.end());
  const auto r = run(args);
  ASSERT_EQ(r.code, 0) << describe(args, r);
  const auto rows = markdown_rows(read_file(out / "sweep.md"));
  ASSERT_EQ(rows.size(), 2u) << read_file(out / "sweep.md");
  EXPECT_EQ(rows[0][0], "gda");
  EXPECT_EQ(rows[0][1], "0.3");
  EXPECT_EQ(rows[1][1], "0.6");
  for (const auto& row : rows) {
    EXPECT_EQ(row[2], "2/2");
    const auto density = mean_and_ci(row[3]);
    EXPECT_GT(density.first, 0.0);
    EXPECT_LE(density.first, 1.0);
    const auto error = mean_and_ci(row[4]);
    EXPECT_GE(error.first, 0.0);
    EXPECT_LE(error.first, 100.0);
  }
  const auto csv = read_csv(out / "sweep.csv");
  ASSERT_EQ(csv.size(), 2u);
  EXPECT_EQ(csv[0].at("target"), "0.3");
  EXPECT_GE(number(csv[0].at("worst_violation_mean")), 0.0);
  EXPECT_FALSE(csv[1].at("expected_density_ci95").empty());
  EXPECT_TRUE(fs::exists(out / "target-0.3" / "seed-2" / "summary.json"));
  const std::string run_args = read_file(out / "target-0.3" / "seed-2" / "args.txt");
  EXPECT_NE(run_args.find("--threads\n2\n"), std::string::npos) << run_args;
  EXPECT_NE(run_args.find("--thread-split\nbatch\n"), std::string::npos) << run_args;
  EXPECT_TRUE(fs::exists(out / "sweep.gp"));
  if (gnuplot_installed()) {
    EXPECT_TRUE(is_png(out / "sweep.png"));
  }
}

struct BadCase {
  std::vector<std::string> args;
  std::string words;
};

TEST(Compare, BadInputGivesOneLineAndExitCodeTwo) {
  REQUIRE_EXE();
  const fs::path existing = scratch_dir() / "compare_existing";
  fs::create_directories(existing);
  std::ofstream(existing / "compare.md") << "old\n";
  const std::string fresh = (scratch_dir() / "compare_never_written").string();
  const std::vector<BadCase> cases = {
      {{"compare", "--variants", "gda,sgd", "--out", fresh}, "unknown variant 'sgd' (choices: all, gda, gda-no-restarts"},
      {{"compare", "--variants", "gda,gda", "--out", fresh}, "twice"},
      {{"compare", "--jobs", "0", "--out", fresh}, "--jobs"},
      {{"compare", "--threads", "0", "--out", fresh}, "--threads"},
      {{"sweep", "--target-densities", "0.3", "--threads", "300", "--out", fresh}, "--threads"},
      {{"compare", "--thread-split", "rows", "--out", fresh}, "unknown --thread-split 'rows'"},
      {{"compare", "--variants", "gda"}, "--out DIR is required"},
      {{"compare", "--out", existing.string()}, "already holds files"},
      {{"compare", "--seeds", "1,1", "--out", fresh}, "repeated"},
      {{"compare", "--seeds", "1", "--num-seeds", "2", "--out", fresh}, "only one"},
      {{"compare", "--target-density", "1.5", "--out", fresh}, "(0, 1]"},
      {{"compare", "--layer-densities", "0.3,0.3", "--out", fresh}, "3 gated layers"},
      {{"compare", "--penalty-lambda", "-1", "--out", fresh}, "--penalty-lambda"},
      {{"compare", "--epochs", "0", "--out", fresh}, "--epochs"},
      {{"sweep", "--out", fresh}, "exactly one of --target-densities"},
      {{"sweep", "--target-densities", "0.3,2", "--out", fresh}, "must be in (0, 1]"},
      {{"sweep", "--layer-densities", "0.3,0.3,0.3;0.5,0.5", "--out", fresh}, "3 gated layers"},
      {{"sweep", "--target-densities", "0.3", "--variant", "penalized", "--out", fresh}, "--penalty-lambdas"},
      {{"sweep", "--target-densities", "0.3", "--jobs", "0", "--out", fresh}, "--jobs"},
      {{"sweep", "--target-densities", "0.3,0.3", "--out", fresh}, "repeated"},
  };
  for (const auto& c : cases) {
    const auto r = run(c.args);
    EXPECT_EQ(r.code, 2) << describe(c.args, r);
    EXPECT_NE(r.err.find(c.words), std::string::npos) << describe(c.args, r);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(c.args, r);
    EXPECT_EQ(r.err.rfind("saddle: error: ", 0), 0u) << describe(c.args, r);
    EXPECT_TRUE(r.out.empty()) << describe(c.args, r);
  }
  EXPECT_FALSE(fs::exists(fresh)) << "a refused command created its --out folder";
  EXPECT_EQ(read_file(existing / "compare.md"), "old\n");

  // Every run refused by train (a missing data set): train's message, exit 2.
  const std::vector<std::string> args = {"compare", "--variants", "gda", "--seeds", "1", "--data-dir",
                                         (scratch_dir() / "no_such_data").string(), "--out",
                                         (scratch_dir() / "compare_no_data").string(), "--quiet"};
  const auto r = run(args);
  EXPECT_EQ(r.code, 2) << describe(args, r);
  EXPECT_NE(r.err.find("scripts/fetch_mnist.sh"), std::string::npos) << describe(args, r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(args, r);
}

// An interrupted comparison (killed -9 with its runs, after some checkpoints) continues with
// --resume: finished runs are kept, unfinished ones continue from their checkpoints, and the
// table equals the one of an uninterrupted comparison (resumed runs reach the same result).
TEST(Compare, InterruptedComparisonResumesToTheSameTable) {
  REQUIRE_EXE();
  const fs::path full = scratch_dir() / "cmp_resume_full", cut = scratch_dir() / "cmp_resume_cut";
  const std::vector<std::string> args = {"compare", "--data-dir", tiny_mnist().string(), "--batch", "50", "--epochs",
                                         "5", "--variants", "gda,extragradient", "--seeds", "1,2",
                                         "--target-density", "0.5", "--dual-lr", "0.05", "--jobs", "2", "--quiet"};
  auto full_args = args;
  full_args.insert(full_args.end(), {"--out", full.string()});
  ASSERT_EQ(run(full_args).code, 0);

  auto cut_args = args;
  cut_args.insert(cut_args.end(), {"--out", cut.string()});
  std::string command = shell_quote(SADDLE_EXE);
  for (const auto& a : cut_args) command += " " + shell_quote(a);
  // Kill the comparison and its runs once a run has a checkpoint ("[s]addle": the pattern must
  // not match this shell's own command line).
  command += " >/dev/null 2>&1 & pid=$!; while [ -z \"$(find " + shell_quote(cut.string()) +
             " -name checkpoint.bin 2>/dev/null)\" ] && kill -0 $pid 2>/dev/null; do sleep 0.002; done; ";
  command += "pkill -9 -f " + shell_quote("[s]addle .*" + cut.string()) + "; wait $pid 2>/dev/null; true";
  ASSERT_EQ(std::system(command.c_str()), 0);
  if (fs::exists(cut / "compare.md")) GTEST_SKIP() << "the comparison finished before it was killed";

  auto resume_args = cut_args;
  resume_args.push_back("--resume");
  resume_args.erase(std::find(resume_args.begin(), resume_args.end(), "--quiet"));
  const auto r = run(resume_args);
  ASSERT_EQ(r.code, 0) << describe(resume_args, r);
  EXPECT_NE(r.err.find("resuming: "), std::string::npos) << r.err;
  // Same runs, same results: the CSV tables agree but for the wall times.
  const auto a = read_csv(full / "compare.csv"), b = read_csv(cut / "compare.csv");
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    for (const char* column : {"variant", "runs", "ok_runs", "test_error_mean", "test_error_ci95",
                               "expected_density_mean", "worst_violation_mean"})
      EXPECT_EQ(a[i].at(column), b[i].at(column)) << column;
  for (const char* variant : {"gda", "extragradient"})
    for (const char* seed : {"seed-1", "seed-2"}) EXPECT_TRUE(fs::exists(cut / variant / (std::string(seed) + ".status")));
}

TEST(Compare, ResumeRefusesAnotherExperimentOrNoFolder) {
  REQUIRE_EXE();
  const fs::path dir = scratch_dir() / "cmp_resume_other";
  std::vector<std::string> args = {"compare", "--data-dir", tiny_mnist().string(), "--batch", "50", "--epochs", "1",
                                   "--variants", "gda", "--seeds", "1", "--quiet", "--out", dir.string()};
  ASSERT_EQ(run(args).code, 0);
  // Everything finished: --resume keeps every run and tabulates again.
  auto again = args;
  again.push_back("--resume");
  auto r = run(again);
  EXPECT_EQ(r.code, 0) << r.err;
  // Another experiment in the same folder.
  auto other = again;
  other[std::find(other.begin(), other.end(), "--epochs") - other.begin() + 1] = "2";
  r = run(other);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("holds another experiment"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // No folder, and --resume with --overwrite.
  auto missing = again;
  missing[std::find(missing.begin(), missing.end(), "--out") - missing.begin() + 1] = (dir / "nope").string();
  r = run(missing);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("nothing to resume"), std::string::npos) << r.err;
  auto both = again;
  both.push_back("--overwrite");
  r = run(both);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--resume, --overwrite"), std::string::npos) << r.err;
}
