// The tables of saddle compare / sweep (apps/tables.hpp): column alignment (by code points,
// so "±" counts once), missing cells, failed runs, markdown and CSV escaping, and the number
// formats of the cells.

#include <cmath>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "tables.hpp"

namespace {

namespace ex = saddle::cli::experiments;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

ex::Table example() {
  ex::Table t;
  t.header = {"variant", "runs", "test error %", "status"};
  t.numeric = {false, true, true, false};
  t.rows = {{"gda", "3/3", "1.23 ± 0.05", "ok"},
            {"extragradient", "2/3", "-", "1 failed: exit 2: bad"},
            {"penalized", "0/3"}};  // a row with missing cells
  return t;
}

TEST(Tables, TerminalAlignsColumns) {
  EXPECT_EQ(ex::render_terminal(example()),
            "variant        runs  test error %  status\n"
            "--------------------------------------------------------\n"
            "gda             3/3   1.23 ± 0.05  ok\n"
            "extragradient   2/3             -  1 failed: exit 2: bad\n"
            "penalized       0/3                \n");
}

TEST(Tables, TerminalNumericLastColumnIsRightAligned) {
  ex::Table t;
  t.header = {"a", "value"};
  t.numeric = {false, true};
  t.rows = {{"x", "1"}, {"longer", "12.5"}};
  EXPECT_EQ(ex::render_terminal(t),
            "a       value\n"
            "-------------\n"
            "x           1\n"
            "longer   12.5\n");
}

TEST(Tables, Markdown) {
  ex::Table t = example();
  t.rows[0][0] = "a|b";  // a pipe in a cell is escaped
  EXPECT_EQ(ex::render_markdown(t),
            "| variant | runs | test error % | status |\n"
            "|---|---:|---:|---|\n"
            "| a\\|b | 3/3 | 1.23 ± 0.05 | ok |\n"
            "| extragradient | 2/3 | - | 1 failed: exit 2: bad |\n"
            "| penalized | 0/3 |\n");
}

TEST(Tables, CsvQuotesOnlyWhatNeedsIt) {
  ex::Table t;
  t.header = {"variant", "flags", "status"};
  t.rows = {{"gda", "--solver gda", "ok"},
            {"x", "a,b", "1 failed: exit 2: --model = 'm\"x': unknown"},
            {"y", "line\nbreak", ""}};
  EXPECT_EQ(ex::render_csv(t),
            "variant,flags,status\n"
            "gda,--solver gda,ok\n"
            "x,\"a,b\",\"1 failed: exit 2: --model = 'm\"\"x': unknown\"\n"
            "y,\"line\nbreak\",\n");
}

TEST(Tables, MeanCiFormats) {
  EXPECT_EQ(ex::format_mean_ci({2.0, 2.48413771175033, 3}, 3), "2.000 ± 2.484");
  EXPECT_EQ(ex::format_mean_ci({0.0125, 0.005, 4}, 2, 100.0), "1.25 ± 0.50");
  EXPECT_EQ(ex::format_mean_ci({5.0, kNaN, 1}, 2), "5.00");  // one run: no interval
  EXPECT_EQ(ex::format_mean_ci({kNaN, kNaN, 0}, 2), "-");    // no finished run
  EXPECT_EQ(ex::format_sci({1234.5678, 0.012345, 3}, 4), "1235 ± 0.012");
  EXPECT_EQ(ex::format_sci({1e-9, kNaN, 1}, 3), "1e-09");
  EXPECT_EQ(ex::format_sci({kNaN, kNaN, 0}), "-");
}

TEST(Tables, NumbersForCsvAndGnuplot) {
  EXPECT_EQ(ex::csv_number(0.1), "0.1");
  EXPECT_EQ(ex::csv_number(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(ex::csv_number(kNaN), "");
  EXPECT_EQ(ex::dat_number(2.5e-7), "2.5e-07");
  EXPECT_EQ(ex::dat_number(kNaN), "NaN");
  EXPECT_EQ(ex::dat_number(std::numeric_limits<double>::infinity()), "NaN");
}

}  // namespace
