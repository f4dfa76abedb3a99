// docs/getting-started.md also shows the ADOL-C version of its program,
// examples/getting_started_ad.cpp. These tests keep the page's second ```cpp block identical
// to that file and, when saddle::autodiff is built (target `getting_started_ad`), run the
// program and check the known answer of
//   min 6 x0^2 + 4 x0 x1 + 3 x1^2  s.t.  x0 + x1 = 5:  x = (1, 4), lambda = -28
// with both solvers it uses, as the hand-written version.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "doc_example_util.hpp"

using namespace doc_example;

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
  expect_example_reaches_known_answer(SADDLE_GETTING_STARTED_AD_EXE);
}
#else
TEST(GettingStartedAdDoc, ExampleProgramReachesTheKnownAnswer) {
  GTEST_SKIP() << "saddle::autodiff is not built (ADOL-C not found): no getting_started_ad";
}
#endif
