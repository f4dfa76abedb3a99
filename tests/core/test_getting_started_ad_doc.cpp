// docs/getting-started.md also shows the ADOL-C version of its program,
// examples/getting_started_ad.cpp. These tests keep the page's second ```cpp block identical
// to that file and, when saddle::autodiff is built (target `getting_started_ad`), run the
// program and check the known answer of
//   min 6 x0^2 + 4 x0 x1 + 3 x1^2  s.t.  x0 + x1 = 5:  x = (1, 4), lambda = -28
// with both solvers it uses, as the hand-written version.

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

// Contents of every ```cpp fenced block (without the fences) that opens a line, in order.
std::vector<std::string> cpp_blocks(const std::string& markdown) {
  std::vector<std::string> blocks;
  const std::string open = "```cpp\n";
  std::size_t start = markdown.find(open);
  while (start != std::string::npos) {
    if (start != 0 && markdown[start - 1] != '\n') {
      start = markdown.find(open, start + 1);
      continue;
    }
    const std::size_t body = start + open.size();
    const std::size_t end = markdown.find("\n```", body - 1);
    if (end == std::string::npos) break;
    blocks.push_back(markdown.substr(body, end + 1 - body));
    start = markdown.find(open, end + 4);
  }
  return blocks;
}

}  // namespace

TEST(GettingStartedAdDoc, BlockExtractionFindsEveryCppFenceInOrder) {
  const std::string md =
      "text\n```sh\nls\n```\n```cpp\nint a;\n```\nx ```cpp\n```cpp\nint c;\n```\n";
  const std::vector<std::string> b = cpp_blocks(md);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0], "int a;\n");
  EXPECT_EQ(b[1], "int c;\n");
}

TEST(GettingStartedAdDoc, DocumentShowsExactlyTheAutodiffExampleAsItsSecondCppBlock) {
  const std::string doc = read_text(std::string(SADDLE_SOURCE_DIR) + "/docs/getting-started.md");
  const std::string program =
      read_text(std::string(SADDLE_SOURCE_DIR) + "/examples/getting_started_ad.cpp");
  const std::vector<std::string> blocks = cpp_blocks(doc);
  ASSERT_GE(blocks.size(), 2u)
      << "docs/getting-started.md needs the hand-written and the ADOL-C programs";
  EXPECT_EQ(drop_one_trailing_newline(blocks[1]), drop_one_trailing_newline(program))
      << "the second ```cpp block of docs/getting-started.md must be "
         "examples/getting_started_ad.cpp verbatim";
}

#ifdef SADDLE_GETTING_STARTED_AD_EXE
TEST(GettingStartedAdDoc, ExampleProgramReachesTheKnownAnswer) {
  FILE* pipe = popen("\"" SADDLE_GETTING_STARTED_AD_EXE "\"", "r");
  ASSERT_NE(pipe, nullptr) << "cannot run " << SADDLE_GETTING_STARTED_AD_EXE;
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  const int status = pclose(pipe);
  ASSERT_EQ(status, 0) << "the example exited with status " << status << "; output:\n" << output;
  std::istringstream in(output);
  std::string line;
  std::vector<std::string> names;
  while (std::getline(in, line)) {
    char name[64] = {0}, termination[64] = {0};
    double x0 = 0, x1 = 0, lambda = 0;
    std::size_t steps = 0;
    ASSERT_EQ(
        std::sscanf(line.c_str(), "%63[^:]: x = (%lf, %lf), lambda = %lf, %63s after %zu steps",
                    name, &x0, &x1, &lambda, termination, &steps),
        6)
        << "unexpected output line: " << line;
    names.push_back(name);
    EXPECT_STREQ(termination, "converged") << name;
    EXPECT_NEAR(x0, 1.0, 1e-6) << name;
    EXPECT_NEAR(x1, 4.0, 1e-6) << name;
    EXPECT_NEAR(lambda, -28.0, 1e-6) << name;
    EXPECT_GT(steps, 0u) << name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"gda", "extragradient"})) << output;
}
#else
TEST(GettingStartedAdDoc, ExampleProgramReachesTheKnownAnswer) {
  GTEST_SKIP() << "saddle::autodiff is not built (ADOL-C not found): no getting_started_ad";
}
#endif
