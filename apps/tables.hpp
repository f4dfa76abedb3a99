#pragma once
/// \file tables.hpp
/// The tables of saddle compare and saddle sweep (terminal, markdown, CSV) and the number
/// formats of their cells and of gnuplot data files.

#include <string>
#include <vector>

#include "statistics.hpp"

namespace saddle::cli::experiments {

/// A table of text cells; `numeric[c]` right-aligns column c in the terminal rendering.
struct Table {
  std::vector<std::string> header;
  std::vector<bool> numeric;
  std::vector<std::vector<std::string>> rows;
};
/// Space-aligned columns with a dashed rule under the header.
std::string render_terminal(const Table& table);
/// A GitHub markdown table.
std::string render_markdown(const Table& table);
/// RFC 4180 CSV (cells quoted when they hold ',', '"' or a line break).
std::string render_csv(const Table& table);

/// "m ± c" with `digits` decimals of value * scale ("m" alone when c is NaN; "-" when n = 0).
std::string format_mean_ci(const MeanCi& s, int digits, double scale = 1.0);
/// "m ± c" with `digits` significant digits for m and 2 for c ("m" alone when c is NaN; "-"
/// when n = 0).
std::string format_sci(const MeanCi& s, int digits = 4);
/// A number for CSV: shortest round-trip text, empty for NaN.
std::string csv_number(double v);
/// A value for gnuplot data files: "NaN" for NaN (gnuplot skips it).
std::string dat_number(double v);

}  // namespace saddle::cli::experiments
