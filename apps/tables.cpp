// The tables of saddle compare and saddle sweep and the number formats of their cells
// (tables.hpp).
#include "tables.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "json_io.hpp"

namespace saddle::cli::experiments {

namespace {

// Number of UTF-8 code points (terminal columns for the text written here: ASCII and ±).
std::size_t display_width(const std::string& s) {
  std::size_t n = 0;
  for (const char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

std::string pad(const std::string& s, std::size_t width, bool right) {
  const std::size_t w = display_width(s);
  if (w >= width) return s;
  const std::string fill(width - w, ' ');
  return right ? fill + s : s + fill;
}

}  // namespace

// --- output ---

std::string render_terminal(const Table& t) {
  std::vector<std::size_t> width(t.header.size(), 0);
  for (std::size_t c = 0; c < t.header.size(); ++c) width[c] = display_width(t.header[c]);
  for (const auto& row : t.rows)
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c)
      width[c] = std::max(width[c], display_width(row[c]));
  auto line = [&](const std::vector<std::string>& cells, bool header) {
    std::string s;
    for (std::size_t c = 0; c < width.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : "";
      const bool right = !header && c < t.numeric.size() && t.numeric[c];
      const bool last = c + 1 == width.size();
      s += last && !right ? cell : pad(cell, width[c], right);
      if (!last) s += "  ";
    }
    return s + "\n";
  };
  std::string out = line(t.header, true);
  std::size_t total = 0;
  for (const auto w : width) total += w + 2;
  out += std::string(total > 2 ? total - 2 : 0, '-') + "\n";
  for (const auto& row : t.rows) out += line(row, false);
  return out;
}

std::string render_markdown(const Table& t) {
  auto line = [](const std::vector<std::string>& cells) {
    std::string s = "|";
    for (const auto& cell : cells) {
      std::string c = cell;
      for (std::size_t p = c.find('|'); p != std::string::npos; p = c.find('|', p + 2))
        c.replace(p, 1, "\\|");
      s += " " + c + " |";
    }
    return s + "\n";
  };
  std::string out = line(t.header) + "|";
  for (std::size_t c = 0; c < t.header.size(); ++c)
    out += c < t.numeric.size() && t.numeric[c] ? "---:|" : "---|";
  out += "\n";
  for (const auto& row : t.rows) out += line(row);
  return out;
}

std::string render_csv(const Table& t) {
  auto cell = [](const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string q = "\"";
    for (const char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t c = 0; c < cells.size(); ++c) s += (c ? "," : "") + cell(cells[c]);
    return s + "\n";
  };
  std::string out = line(t.header);
  for (const auto& row : t.rows) out += line(row);
  return out;
}

std::string format_mean_ci(const MeanCi& s, int digits, double scale) {
  if (s.n == 0 || std::isnan(s.mean)) return "-";
  std::ostringstream o;
  o << std::fixed << std::setprecision(digits) << s.mean * scale;
  if (!std::isnan(s.ci95)) o << " ± " << s.ci95 * scale;
  return o.str();
}

std::string format_sci(const MeanCi& s, int digits) {
  if (s.n == 0 || std::isnan(s.mean)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, s.mean);
  std::string text = buf;
  if (!std::isnan(s.ci95)) {
    std::snprintf(buf, sizeof buf, "%.2g", s.ci95);
    text += std::string(" ± ") + buf;
  }
  return text;
}

std::string csv_number(double v) {
  if (std::isnan(v)) return "";
  return json_number(v);
}

std::string dat_number(double v) {
  if (!std::isfinite(v)) return "NaN";
  return json_number(v);
}

}  // namespace saddle::cli::experiments
