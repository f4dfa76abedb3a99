// docs/getting-started.md shows a complete program; examples/getting_started.cpp is that
// program. These tests keep the two identical and check that the program, compiled and run
// (target `getting_started`), reaches the known answer of
//   min 6 x0^2 + 4 x0 x1 + 3 x1^2  s.t.  x0 + x1 = 5:  x = (1, 4), lambda = -28
// with both solvers it uses.

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string drop_one_trailing_newline(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// Contents of the first ```cpp fenced block (without the fences), or "" when there is none.
std::string first_cpp_block(const std::string& markdown) {
  const std::string open = "```cpp\n";
  std::size_t start = markdown.find(open);
  while (start != std::string::npos && start != 0 && markdown[start - 1] != '\n')
    start = markdown.find(open, start + 1);  // the fence must open a line
  if (start == std::string::npos) return "";
  start += open.size();
  const std::size_t end = markdown.find("\n```", start - 1);
  if (end == std::string::npos) return "";
  return markdown.substr(start, end + 1 - start);  // keeps the block's last newline
}

struct SolverLine {
  std::string name;
  double x0 = 0, x1 = 0, lambda = 0;
  std::string termination;
  std::size_t steps = 0;
};

// Parses "NAME: x = (A, B), lambda = L, TERMINATION after N steps".
bool parse_line(const std::string& line, SolverLine& out) {
  char name[64] = {0}, termination[64] = {0};
  std::size_t steps = 0;
  if (std::sscanf(line.c_str(), "%63[^:]: x = (%lf, %lf), lambda = %lf, %63s after %zu steps", name, &out.x0,
                  &out.x1, &out.lambda, termination, &steps) != 6)
    return false;
  out.name = name;
  out.termination = termination;
  out.steps = steps;
  return true;
}

}  // namespace

TEST(GettingStartedDoc, DocumentShowsExactlyTheExampleProgram) {
  const std::string doc = read_text(std::string(SADDLE_SOURCE_DIR) + "/docs/getting-started.md");
  const std::string program = read_text(std::string(SADDLE_SOURCE_DIR) + "/examples/getting_started.cpp");
  const std::string block = first_cpp_block(doc);
  ASSERT_FALSE(block.empty()) << "docs/getting-started.md has no ```cpp block";
  EXPECT_EQ(drop_one_trailing_newline(block), drop_one_trailing_newline(program))
      << "the first ```cpp block of docs/getting-started.md must be examples/getting_started.cpp verbatim";
}

TEST(GettingStartedDoc, BlockExtractionFindsTheFirstCppFence) {
  // The extractor itself: first cpp block only, fences excluded, other languages skipped.
  const std::string md = "text\n```sh\nls\n```\n```cpp\nint a;\nint b;\n```\n```cpp\nint c;\n```\n";
  EXPECT_EQ(first_cpp_block(md), "int a;\nint b;\n");
  EXPECT_EQ(first_cpp_block("no code here\n"), "");
}

#ifdef SADDLE_GETTING_STARTED_EXE
TEST(GettingStartedDoc, ExampleProgramReachesTheKnownAnswer) {
  FILE* pipe = popen("\"" SADDLE_GETTING_STARTED_EXE "\"", "r");
  ASSERT_NE(pipe, nullptr) << "cannot run " << SADDLE_GETTING_STARTED_EXE;
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  const int status = pclose(pipe);
  ASSERT_EQ(status, 0) << "the example exited with status " << status << "; output:\n" << output;

  std::vector<SolverLine> lines;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    SolverLine parsed;
    ASSERT_TRUE(parse_line(line, parsed)) << "unexpected output line: " << line;
    lines.push_back(parsed);
  }
  ASSERT_EQ(lines.size(), 2u) << output;
  EXPECT_EQ(lines[0].name, "gda");
  EXPECT_EQ(lines[1].name, "extragradient");
  for (const auto& l : lines) {
    EXPECT_EQ(l.termination, "converged") << l.name;
    EXPECT_NEAR(l.x0, 1.0, 1e-6) << l.name;
    EXPECT_NEAR(l.x1, 4.0, 1e-6) << l.name;
    EXPECT_NEAR(l.lambda, -28.0, 1e-6) << l.name;
    EXPECT_GT(l.steps, 0u) << l.name;
  }
}
#else
TEST(GettingStartedDoc, ExampleProgramReachesTheKnownAnswer) {
  GTEST_SKIP() << "SADDLE_GETTING_STARTED_EXE is not defined (tests/CMakeLists.txt builds the example)";
}
#endif
