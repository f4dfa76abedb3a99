#pragma once
/// \file json_read.hpp
/// A small strict JSON reader (header-only): RFC 8259 values; \u escapes are decoded for
/// the Basic Multilingual Plane only, which is all apps/json.hpp's writer produces. Used by
/// `saddle compare` / `saddle sweep` to read the summary.json and metrics.jsonl of child runs,
/// and by the command-line tests (tests/cli/mini_json.hpp). parse() throws
/// std::runtime_error with the byte offset on malformed text, including anything but
/// whitespace after the single top-level value and nesting deeper than Parser::kMaxDepth.
/// Values are plain trees (allocates freely: not for hot paths).

#include <cctype>
#include <cstddef>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace saddle::cli::json_read {

struct Value {
  enum class Type { null, boolean, number, string, array, object };
  Type type = Type::null;
  bool boolean = false;
  double number = 0.0;
  std::string string;
  std::vector<Value> array;
  std::map<std::string, Value> object;

  bool is_null() const { return type == Type::null; }
  bool has(const std::string& key) const { return type == Type::object && object.count(key) > 0; }
  /// Member `key` of an object; throws if absent or not an object.
  const Value& operator[](const std::string& key) const {
    if (type != Type::object) throw std::runtime_error("not an object (looking up '" + key + "')");
    const auto it = object.find(key);
    if (it == object.end()) throw std::runtime_error("missing key '" + key + "'");
    return it->second;
  }
  const Value& operator[](std::size_t i) const {
    if (type != Type::array || i >= array.size()) throw std::runtime_error("bad array index");
    return array[i];
  }
  double as_number() const {
    if (type != Type::number) throw std::runtime_error("not a number");
    return number;
  }
  /// A number, or NaN for null (apps/json.hpp writes NaN and Inf as null).
  double as_number_or_nan() const {
    if (type == Type::null) return std::numeric_limits<double>::quiet_NaN();
    return as_number();
  }
  const std::string& as_string() const {
    if (type != Type::string) throw std::runtime_error("not a string");
    return string;
  }
  bool as_bool() const {
    if (type != Type::boolean) throw std::runtime_error("not a boolean");
    return boolean;
  }
  /// An array of numbers (throws on any other element).
  std::vector<double> as_numbers() const {
    if (type != Type::array) throw std::runtime_error("not an array");
    std::vector<double> v;
    for (const auto& e : array) v.push_back(e.as_number());
    return v;
  }
};

class Parser {
 public:
  /// Deepest nesting of objects and arrays accepted (saddle's own files nest 3 levels).
  static constexpr std::size_t kMaxDepth = 256;

  explicit Parser(const std::string& text) : s_(text) {}

  Value parse_document() {
    Value v = parse_value();
    skip_ws();
    if (i_ != s_.size()) fail("trailing characters after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("JSON: " + what + " at offset " + std::to_string(i_));
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  void literal(const char* word) {
    for (const char* p = word; *p; ++p) expect(*p);
  }

  Value parse_value() {
    skip_ws();
    Value v;
    const char c = peek();
    if (c == '{' || c == '[') {
      // Objects and arrays are parsed recursively: bound the depth so that deeply nested
      // text fails with a message instead of overflowing the stack.
      if (depth_ == kMaxDepth) fail("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
      ++depth_;
      if (c == '{')
        parse_object(v);
      else
        parse_array(v);
      --depth_;
      return v;
    }
    switch (c) {
      case '"':
        v.type = Value::Type::string;
        v.string = parse_string();
        break;
      case 't': literal("true"); v.type = Value::Type::boolean; v.boolean = true; break;
      case 'f': literal("false"); v.type = Value::Type::boolean; v.boolean = false; break;
      case 'n': literal("null"); v.type = Value::Type::null; break;
      default: parse_number(v);
    }
    return v;
  }

  void parse_object(Value& v) {
    v.type = Value::Type::object;
    expect('{');
    skip_ws();
    if (peek() == '}') {
      ++i_;
      return;
    }
    for (;;) {
      skip_ws();
      const std::string key = parse_string();
      if (v.object.count(key)) fail("duplicate key '" + key + "'");
      skip_ws();
      expect(':');
      v.object[key] = parse_value();
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect('}');
      return;
    }
  }

  void parse_array(Value& v) {
    v.type = Value::Type::array;
    expect('[');
    skip_ws();
    if (peek() == ']') {
      ++i_;
      return;
    }
    for (;;) {
      v.array.push_back(parse_value());
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect(']');
      return;
    }
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) fail("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("raw control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("unterminated escape");
      const char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (i_ + 4 > s_.size()) fail("short \\u escape");
          unsigned code = 0;
          for (int k = 0; k < 4; ++k) {
            const char h = s_[i_++];
            if (!std::isxdigit(static_cast<unsigned char>(h))) fail("bad \\u escape");
            code = code * 16 + static_cast<unsigned>(std::isdigit(static_cast<unsigned char>(h))
                                                         ? h - '0'
                                                         : std::tolower(static_cast<unsigned char>(h)) - 'a' + 10);
          }
          // UTF-8 encode (BMP only).
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
          }
          break;
        }
        default: fail("bad escape");
      }
    }
  }

  // JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  void parse_number(Value& v) {
    const std::size_t start = i_;
    auto digits = [&] {
      const std::size_t b = i_;
      while (std::isdigit(static_cast<unsigned char>(peek()))) ++i_;
      return i_ - b;
    };
    if (peek() == '-') ++i_;
    if (peek() == '0') {
      ++i_;
    } else if (digits() == 0) {
      fail("expected a value");
    }
    if (peek() == '.') {
      ++i_;
      if (digits() == 0) fail("digits expected after '.'");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      if (digits() == 0) fail("digits expected in exponent");
    }
    v.type = Value::Type::number;
    v.number = std::strtod(s_.substr(start, i_ - start).c_str(), nullptr);
  }

  const std::string& s_;
  std::size_t i_ = 0;
  std::size_t depth_ = 0;  // objects and arrays open at i_
};

/// Parses exactly one JSON value (surrounding whitespace allowed).
inline Value parse(const std::string& text) { return Parser(text).parse_document(); }

}  // namespace saddle::cli::json_read
