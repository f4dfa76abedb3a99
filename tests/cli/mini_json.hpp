#pragma once
// The JSON reader of the command-line tests: the command line's own strict reader
// (apps/json_io.hpp, nlohmann-json underneath) with its result copied into a plain tree, so
// that the tests keep their spelling mini_json::Value / mini_json::parse. The tree is at most
// kMaxJsonDepth deep (parse_json refuses deeper text), so the recursive copy is bounded.

#include <cstddef>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "json_io.hpp"

namespace mini_json {

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
  /// A number, or NaN for null (the command line writes NaN and Inf as null).
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

inline Value to_value(const saddle::cli::Json& j) {
  Value v;
  if (j.is_boolean()) {
    v.type = Value::Type::boolean;
    v.boolean = j.get<bool>();
  } else if (j.is_number()) {
    v.type = Value::Type::number;
    v.number = j.get<double>();
  } else if (j.is_string()) {
    v.type = Value::Type::string;
    v.string = j.get<std::string>();
  } else if (j.is_array()) {
    v.type = Value::Type::array;
    for (const auto& e : j) v.array.push_back(to_value(e));
  } else if (j.is_object()) {
    v.type = Value::Type::object;
    for (const auto& [key, e] : j.items()) v.object[key] = to_value(e);
  }
  return v;
}

/// Parses exactly one JSON value; throws std::runtime_error on malformed text.
inline Value parse(const std::string& text) { return to_value(saddle::cli::parse_json(text)); }

}  // namespace mini_json
