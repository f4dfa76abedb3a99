// docs/getting-started.md shows a complete program; examples/getting_started.cpp is that
// program. These tests keep the two identical and check that the program, compiled and run
// (target `getting_started`), reaches the known answer of
//   min 6 x0^2 + 4 x0 x1 + 3 x1^2  s.t.  x0 + x1 = 5:  x = (1, 4), lambda = -28
// with both solvers it uses.

#include <gtest/gtest.h>

#include <string>

#include "doc_example_util.hpp"

using namespace doc_example;

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
  expect_example_reaches_known_answer(SADDLE_GETTING_STARTED_EXE);
}
#else
TEST(GettingStartedDoc, ExampleProgramReachesTheKnownAnswer) {
  GTEST_SKIP() << "SADDLE_GETTING_STARTED_EXE is not defined (tests/CMakeLists.txt builds the example)";
}
#endif
