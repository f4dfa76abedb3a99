#pragma once
/// \file json.hpp
/// A minimal streaming JSON writer for the command line's machine-readable output
/// (header-only; no dependency). It writes objects, arrays, strings (escaped per RFC 8259),
/// booleans, null, integers and doubles. Doubles are written with the shortest text that
/// reads back to the same value (std::to_chars); NaN and +-Inf, which JSON cannot express,
/// are written as null.
///
///     saddle::cli::JsonWriter json(std::cout);
///     json.begin_object();
///     json.key("x").number_array(summary.x);
///     json.key("termination").value("converged");
///     json.end_object();   // the writer ends the top-level value with a newline
///
/// Misuse (a key outside an object, a value without a key inside an object, unbalanced
/// ends) throws std::logic_error: it is a programming error, not bad input.

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace saddle::cli {

/// `text` as a JSON string literal, quotes included: escapes `"`, `\`, and control
/// characters (\b \f \n \r \t, others as \u00XX). Other bytes (UTF-8) pass through.
inline std::string json_quote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(text.size() + 2);
  s += '"';
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': s += "\\\""; break;
      case '\\': s += "\\\\"; break;
      case '\b': s += "\\b"; break;
      case '\f': s += "\\f"; break;
      case '\n': s += "\\n"; break;
      case '\r': s += "\\r"; break;
      case '\t': s += "\\t"; break;
      default:
        if (c < 0x20) {
          s += "\\u00";
          s += kHex[c >> 4];
          s += kHex[c & 0xF];
        } else {
          s += ch;
        }
    }
  }
  s += '"';
  return s;
}

/// `v` as a JSON number: the shortest round-trip representation; "null" for NaN or Inf.
inline std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), v);
  if (result.ec != std::errc()) return "null";  // cannot happen with 64 chars
  return std::string(buffer, result.ptr);
}

class JsonWriter {
 public:
  /// Writes to `out`. `indent` > 0 pretty-prints objects and arrays (arrays of numbers
  /// written by `number_array` stay on one line); 0 writes everything on one line.
  explicit JsonWriter(std::ostream& out, int indent = 2) : out_(out), indent_(indent) {}

  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }

  /// The key of the next value; only inside an object.
  JsonWriter& key(std::string_view name) {
    if (stack_.empty() || stack_.back().kind != '{' || key_pending_)
      throw std::logic_error("JsonWriter: key '" + std::string(name) + "' outside an object");
    separate();
    out_ << json_quote(name) << (indent_ > 0 ? ": " : ":");
    key_pending_ = true;
    return *this;
  }

  JsonWriter& value(std::string_view text) { return raw(json_quote(text)); }
  JsonWriter& value(const char* text) { return raw(json_quote(text)); }
  JsonWriter& value(const std::string& text) { return raw(json_quote(text)); }
  JsonWriter& value(bool b) { return raw(b ? "true" : "false"); }
  JsonWriter& value(double v) { return raw(json_number(v)); }
  JsonWriter& value(float v) { return raw(json_number(static_cast<double>(v))); }
  /// Any integer type, written exactly.
  template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  JsonWriter& value(I v) {
    return raw(std::to_string(v));
  }
  JsonWriter& null() { return raw("null"); }

  /// An array of numbers on one line from any range of arithmetic values (std::vector,
  /// xt::xtensor, ...).
  template <class Range>
  JsonWriter& number_array(const Range& values) {
    std::string s = "[";
    bool first = true;
    for (const auto& v : values) {
      if (!first) s += indent_ > 0 ? ", " : ",";
      first = false;
      s += json_number(static_cast<double>(v));
    }
    s += ']';
    return raw(s);
  }

  /// An array of strings on one line.
  JsonWriter& string_array(const std::vector<std::string>& values) {
    std::string s = "[";
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) s += indent_ > 0 ? ", " : ",";
      s += json_quote(values[i]);
    }
    s += ']';
    return raw(s);
  }

  /// True once the top-level value is complete.
  bool done() const { return done_; }

 private:
  struct Level {
    char kind;         // '{' or '['
    bool has_element;  // a comma is needed before the next element
  };

  // Comma and line break before an element of the current container.
  void separate() {
    if (stack_.empty()) return;
    Level& level = stack_.back();
    if (level.has_element) out_ << ',';
    level.has_element = true;
    newline();
  }

  void newline() {
    if (indent_ <= 0) return;
    out_ << '\n';
    for (std::size_t i = 0; i < stack_.size() * static_cast<std::size_t>(indent_); ++i) out_ << ' ';
  }

  // Position checks common to every value: after a key inside an object, as an element of
  // an array, or as the single top-level value.
  void before_value() {
    if (done_) throw std::logic_error("JsonWriter: a second top-level value");
    if (!stack_.empty() && stack_.back().kind == '{') {
      if (!key_pending_) throw std::logic_error("JsonWriter: object value without a key");
      key_pending_ = false;
    } else {
      separate();
    }
  }

  void after_value() {
    if (stack_.empty()) {
      done_ = true;
      out_ << '\n';
    }
  }

  JsonWriter& raw(const std::string& text) {
    before_value();
    out_ << text;
    after_value();
    return *this;
  }

  JsonWriter& open(char kind) {
    before_value();
    out_ << kind;
    stack_.push_back({kind, false});
    return *this;
  }

  JsonWriter& close(char kind) {
    const char opener = kind == '}' ? '{' : '[';
    if (stack_.empty() || stack_.back().kind != opener || key_pending_)
      throw std::logic_error(std::string("JsonWriter: unbalanced '") + kind + "'");
    const bool had_elements = stack_.back().has_element;
    stack_.pop_back();
    if (had_elements) newline();
    out_ << kind;
    after_value();
    return *this;
  }

  std::ostream& out_;
  int indent_;
  std::vector<Level> stack_;
  bool key_pending_ = false;
  bool done_ = false;
};

}  // namespace saddle::cli
