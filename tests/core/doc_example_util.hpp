#pragma once
// Shared by the tests that keep docs/getting-started.md's programs identical to the files in
// examples/ and run them: file reading, ```cpp block extraction, and the check of the
// programs' output against the known answer of
//   min 6 x0^2 + 4 x0 x1 + 3 x1^2  s.t.  x0 + x1 = 5:  x = (1, 4), lambda = -28.

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace doc_example {

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string drop_one_trailing_newline(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

/// Contents of every ```cpp fenced block (without the fences, keeping the block's last
/// newline) whose fence opens a line, in order.
inline std::vector<std::string> cpp_blocks(const std::string& markdown) {
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

/// The first ```cpp block, or "" when there is none.
inline std::string first_cpp_block(const std::string& markdown) {
  const auto blocks = cpp_blocks(markdown);
  return blocks.empty() ? std::string() : blocks.front();
}

/// Runs `exe` and checks its two lines "NAME: x = (A, B), lambda = L, TERMINATION after N
/// steps": gda then extragradient, both converged to x = (1, 4), lambda = -28 within 1e-6.
inline void expect_example_reaches_known_answer(const std::string& exe) {
  FILE* pipe = popen(("\"" + exe + "\"").c_str(), "r");
  ASSERT_NE(pipe, nullptr) << "cannot run " << exe;
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
    ASSERT_EQ(std::sscanf(line.c_str(), "%63[^:]: x = (%lf, %lf), lambda = %lf, %63s after %zu steps", name, &x0,
                          &x1, &lambda, termination, &steps),
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

}  // namespace doc_example
