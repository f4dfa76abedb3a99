// The runs of saddle compare / sweep as the tabulation sees them (apps/jobs.hpp,
// apps/train_runs.hpp): one job per seed and group, the jobs of a group, the combined exit
// code, and what is read back of a run folder (never an exception: a failed or unreadable
// run is a status line).

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli_common.hpp"
#include "jobs.hpp"
#include "train_runs.hpp"

namespace {

namespace ex = saddle::cli::experiments;
namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("saddle_app_tests_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

TEST(Jobs, OneJobPerSeedAndGroupInItsOwnFolder) {
  const ex::Job job = ex::make_job("out", "gda", 7, {"--model", "mlp"}, {"--solver", "gda"});
  EXPECT_EQ(job.group, "gda");
  EXPECT_EQ(job.seed, 7u);
  EXPECT_EQ(job.out_dir, "out/gda/seed-7");
  EXPECT_EQ(job.log_path, "out/gda/seed-7.log");
  EXPECT_EQ(ex::status_path(job), fs::path("out/gda/seed-7.status"));
  const std::vector<std::string> args = {"train",  "--model", "mlp",   "--solver",       "gda",
                                         "--seed", "7",       "--out", "out/gda/seed-7", "--quiet"};
  EXPECT_EQ(job.args, args);
}

TEST(Jobs, GroupsCollectTheirSeedsInOrder) {
  std::vector<ex::Job> jobs;
  for (const std::uint64_t seed : {1, 2, 3})
    for (const char* group : {"gda", "extragradient"})
      jobs.push_back(ex::make_job("o", group, seed, {}, {}));
  const auto gda = ex::jobs_of_group(jobs, "gda");
  ASSERT_EQ(gda.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(gda[k]->group, "gda");
    EXPECT_EQ(gda[k]->seed, k + 1);
  }
  EXPECT_EQ(ex::jobs_of_group(jobs, "extragradient").size(), 3u);
  EXPECT_TRUE(ex::jobs_of_group(jobs, "gd").empty());  // whole names only
}

TEST(Jobs, CombinedExitCode) {
  auto jobs_with = [](std::vector<int> codes) {
    std::vector<ex::Job> jobs(codes.size());
    for (std::size_t k = 0; k < codes.size(); ++k) jobs[k].exit_code = codes[k];
    return jobs;
  };
  EXPECT_EQ(ex::combined_exit_code(jobs_with({0, 0})), 0);
  EXPECT_EQ(ex::combined_exit_code(jobs_with({0, 3, 3})), 3);
  EXPECT_EQ(ex::combined_exit_code(jobs_with({2, 0, 2})), 2);
  EXPECT_EQ(ex::combined_exit_code(jobs_with({2, 3})), 1);
  EXPECT_EQ(ex::combined_exit_code(jobs_with({-1})), 1);
  EXPECT_EQ(ex::combined_exit_code({}), 0);
}

TEST(Jobs, DescribeEnd) {
  ex::Job j;
  j.exit_code = 0;
  EXPECT_EQ(ex::describe_end(j), "ok");
  j.exit_code = 3;
  EXPECT_EQ(ex::describe_end(j), "numerical failure");
  j.exit_code = 127;
  EXPECT_EQ(ex::describe_end(j), "could not start");
  j.exit_code = 2;
  EXPECT_EQ(ex::describe_end(j), "exit 2");
  j.exit_code = 4;
  EXPECT_EQ(ex::describe_end(j), "exit 4");
  j.exit_code = 130;  // a run stopped by the forwarded SIGINT (stop_signal.hpp)
  EXPECT_EQ(ex::describe_end(j), "stopped by SIGINT, checkpoint kept");
  j.exit_code = 143;
  EXPECT_EQ(ex::describe_end(j), "stopped by SIGTERM, checkpoint kept");
  j.exit_code = -1;
  j.signal = 9;
  EXPECT_EQ(ex::describe_end(j), "killed by signal 9");
}

const char* const kSummary = R"({
  "test_error": 0.025, "expected_density": 0.31, "layer_densities": [0.5, 0.25, null],
  "iterations": 100, "forwards": 200, "backwards": 100, "seconds": 12.5, "extra": {"ignored": [1, 2]}
})";

TEST(ReadOutcome, AFinishedRun) {
  const fs::path dir = scratch("finished");
  ex::Job job = ex::make_job(dir.string(), "gda", 1, {}, {});
  job.exit_code = 0;
  write(fs::path(job.out_dir) / "summary.json", kSummary);
  write(
      fs::path(job.out_dir) / "metrics.jsonl",
      "{\"epoch\":1,\"expected_density\":0.5,\"test_error\":null,\"multipliers\":[0.1,0.3]}\n"
      "{\"epoch\":2,\"expected_density\":0.31,\"test_error\":0.025,\"multipliers\":[null,0.2]}\n");
  const ex::RunOutcome o = ex::read_outcome(job, 0.3, {});
  EXPECT_TRUE(o.ok) << o.status;
  EXPECT_EQ(o.status, "ok");
  EXPECT_EQ(o.test_error, 0.025);
  EXPECT_EQ(o.expected_density, 0.31);
  EXPECT_NEAR(o.worst_violation, 0.01, 1e-15);
  EXPECT_EQ(o.forwards_per_step, 2.0);
  EXPECT_EQ(o.backwards_per_step, 1.0);
  EXPECT_EQ(o.seconds, 12.5);
  ASSERT_EQ(o.curve.size(), 2u);
  EXPECT_TRUE(std::isnan(o.curve[0].test_error));
  EXPECT_EQ(o.curve[0].max_multiplier, 0.3);
  EXPECT_EQ(o.curve[1].max_multiplier, 0.2);
  // Layer targets: the worst excess over the layers (a null density is no excess).
  EXPECT_NEAR(ex::read_outcome(job, 0.0, {0.4, 0.3, 0.1}).worst_violation, 0.1, 1e-15);
}

TEST(ReadOutcome, FailedAndUnreadableRunsAreStatusLines) {
  const fs::path dir = scratch("failed");
  ex::Job refused = ex::make_job(dir.string(), "gda", 1, {}, {});
  refused.exit_code = 2;
  write(refused.log_path,
        "saddle: error: first\nsomething\nsaddle: error: --epochs = 0: must be > 0\n");
  ex::RunOutcome o = ex::read_outcome(refused, 0.3, {});
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.status, "exit 2: --epochs = 0: must be > 0");

  ex::Job missing = ex::make_job(dir.string(), "gda", 2, {}, {});
  missing.exit_code = 0;
  o = ex::read_outcome(missing, 0.3, {});
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.status, "no summary.json");

  ex::Job malformed = ex::make_job(dir.string(), "gda", 3, {}, {});
  malformed.exit_code = 0;
  write(fs::path(malformed.out_dir) / "summary.json",
        "{\"test_error\": 0.1,\n \"test_error\": 0.2}");
  o = ex::read_outcome(malformed, 0.3, {});
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.status, "unreadable results: JSON: duplicate key 'test_error'");

  ex::Job deep = ex::make_job(dir.string(), "gda", 4, {}, {});
  deep.exit_code = 0;
  write(fs::path(deep.out_dir) / "summary.json", std::string(100000, '['));
  o = ex::read_outcome(deep, 0.3, {});
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.status, "unreadable results: JSON: nesting deeper than 256 levels");

  ex::Job wrong_type = ex::make_job(dir.string(), "gda", 5, {}, {});
  wrong_type.exit_code = 0;
  std::string text = kSummary;
  text.replace(text.find("\"iterations\": 100"), 17, "\"iterations\": \"x\"");
  write(fs::path(wrong_type.out_dir) / "summary.json", text);
  o = ex::read_outcome(wrong_type, 0.3, {});
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.status, "unreadable results: 'iterations' is not a number");

  ex::Job bad_line = ex::make_job(dir.string(), "gda", 6, {}, {});
  bad_line.exit_code = 0;
  write(fs::path(bad_line.out_dir) / "summary.json", kSummary);
  write(fs::path(bad_line.out_dir) / "metrics.jsonl", "{\"epoch\":1,\"expected_density\":0.5,\n");
  o = ex::read_outcome(bad_line, 0.3, {});
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.status.rfind("unreadable results: JSON: ", 0), 0u) << o.status;
  EXPECT_EQ(o.status.find('\n'), std::string::npos) << o.status;
}

}  // namespace
