#pragma once
/// \file json_io.hpp
/// JSON of the command line on nlohmann-json (a dependency of the command line only, not of
/// the saddle libraries): the machine-readable output (--json, summary.json, metrics.jsonl)
/// and the strict reader of the summary.json and metrics.jsonl of child runs that
/// `saddle compare` and `saddle sweep` read back.
///
/// Writing: build a Json value (keys keep their insertion order) and print it with
/// json_text(). Doubles are printed with the shortest text that reads back to the same value;
/// NaN and +-Inf, which JSON cannot express, are printed as null.
///
///     saddle::cli::Json j;
///     j["x"] = saddle::cli::number_array(summary.x);
///     j["termination"] = "converged";
///     std::cout << saddle::cli::json_text(j, 2);
///
/// Reading: parse_json() accepts exactly one RFC 8259 value and throws std::runtime_error
/// with a one-line message on anything else (including duplicate keys and nesting deeper
/// than kMaxJsonDepth); the accessors below throw std::runtime_error naming the key.

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace saddle::cli {

/// A JSON value whose objects keep their keys in insertion order.
using Json = nlohmann::ordered_json;

/// Deepest nesting of objects and arrays parse_json accepts (saddle's own files nest 3).
constexpr std::size_t kMaxJsonDepth = 256;

/// `value` as text ending with a newline: on one line without spaces for `indent` <= 0, else
/// pretty-printed with `indent` spaces per level and arrays of scalars on one line ("[1, 4]").
/// Doubles are written in their shortest round-trip form (json_number: "1", "0.1"); NaN and
/// Inf as null; bytes of strings that are not valid UTF-8 are replaced by U+FFFD (never an
/// exception). The same bytes as the command line's former hand-written writer.
std::string json_text(const Json& value, int indent);

/// `v` as a JSON number text: the shortest text that reads back to `v`; "null" for NaN or
/// Inf.
std::string json_number(double v);

/// Parses exactly one JSON value (surrounding white space allowed). Throws
/// std::runtime_error "JSON: <reason>" (one line) on malformed text, trailing characters,
/// duplicate keys and nesting deeper than kMaxJsonDepth.
Json parse_json(const std::string& text);

/// An array of the numbers of any range of arithmetic values (std::vector, xt::xtensor, ...),
/// as doubles.
template <class Range>
Json number_array(const Range& values) {
  Json a = Json::array();
  for (const auto& v : values) a.push_back(static_cast<double>(v));
  return a;
}

// --- strict accessors: each throws std::runtime_error naming the key ---

/// Member `key` of the object `object`.
const Json& json_member(const Json& object, const std::string& key);
/// `value` as a number.
double json_as_number(const Json& value, const std::string& what);
/// `value` as a number, NaN for null (NaN and Inf are written as null).
double json_as_number_or_nan(const Json& value, const std::string& what);
/// Member `key` as a number.
double json_number_at(const Json& object, const std::string& key);
/// Member `key` as a number, NaN for null.
double json_number_or_nan_at(const Json& object, const std::string& key);
/// Member `key` as a string.
std::string json_string_at(const Json& object, const std::string& key);
/// Member `key`, which must be an array.
const Json& json_array_at(const Json& object, const std::string& key);

}  // namespace saddle::cli
