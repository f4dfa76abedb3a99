// JSON of the command line on nlohmann-json (json_io.hpp).
#include "json_io.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace saddle::cli {

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), v);
  if (result.ec != std::errc()) return "null";  // cannot happen with 64 chars
  return std::string(buffer, result.ptr);
}

namespace {

// `v` appended to `out` in the layout of the command line's former writer, so that every output
// file keeps its bytes: "key": value with `indent` spaces per level, arrays of scalars on one
// line ("[1, 4]"), doubles in their shortest round-trip form ("1", not nlohmann's "1.0");
// indent <= 0: everything on one line without spaces. Recursion is bounded by the depth of the
// value (parse_json: kMaxJsonDepth; the command line's own values: a few levels).
void append_json(std::string& out, const Json& v, int indent, int level) {
  const bool pretty = indent > 0;
  auto newline = [&](int depth) {
    if (!pretty) return;
    out += '\n';
    out.append(static_cast<std::size_t>(depth) * static_cast<std::size_t>(indent), ' ');
  };
  auto scalar = [](const Json& e) { return !e.is_object() && !e.is_array(); };
  if (v.is_object()) {
    if (v.empty()) {
      out += "{}";
      return;
    }
    out += '{';
    bool first = true;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!first) out += ',';
      first = false;
      newline(level + 1);
      out += Json(it.key()).dump(-1, ' ', false, Json::error_handler_t::replace);
      out += pretty ? ": " : ":";
      append_json(out, it.value(), indent, level + 1);
    }
    newline(level);
    out += '}';
  } else if (v.is_array()) {
    if (v.empty()) {
      out += "[]";
      return;
    }
    const bool one_line = !pretty || std::all_of(v.begin(), v.end(), scalar);
    out += '[';
    bool first = true;
    for (const auto& e : v) {
      if (!first) out += one_line && pretty ? ", " : ",";
      first = false;
      if (!one_line) newline(level + 1);
      append_json(out, e, indent, level + 1);
    }
    if (!one_line) newline(level);
    out += ']';
  } else if (v.is_number_float()) {
    out += json_number(v.get<double>());
  } else {
    out += v.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

}  // namespace

std::string json_text(const Json& value, int indent) {
  std::string out;
  append_json(out, value, indent, 0);
  return out + "\n";
}

namespace {

// Thrown by the parse callback; turned into the one-line runtime_error of parse_json.
class JsonLimit : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// nlohmann's message without its "[json.exception.parse_error.101] " prefix.
std::string reason(const nlohmann::json::exception& e) {
  std::string what = e.what();
  if (!what.empty() && what.front() == '[') {
    const auto end = what.find("] ");
    if (end != std::string::npos) what.erase(0, end + 2);
  }
  for (char& c : what)
    if (c == '\n' || c == '\r') c = ' ';
  return what;
}

}  // namespace

Json parse_json(const std::string& text) {
  // nlohmann's parser is iterative; the callback bounds the depth anyway (a deeper value
  // would make every recursive walk of it, such as dump(), a stack risk) and refuses
  // duplicate keys, which nlohmann would silently merge.
  std::vector<std::set<std::string>> keys;  // one set per open object
  auto check = [&keys](int depth, nlohmann::json::parse_event_t event, Json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start || event == Event::array_start) {
      if (static_cast<std::size_t>(depth) >= kMaxJsonDepth)
        throw JsonLimit("nesting deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      if (event == Event::object_start) keys.emplace_back();
    } else if (event == Event::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (event == Event::key && !keys.empty()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!keys.back().insert(key).second) throw JsonLimit("duplicate key '" + key + "'");
    }
    return true;
  };
  try {
    return Json::parse(text, check, true, false);
  } catch (const JsonLimit& e) {
    throw std::runtime_error(std::string("JSON: ") + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("JSON: " + reason(e));
  }
}

const Json& json_member(const Json& object, const std::string& key) {
  if (!object.is_object()) throw std::runtime_error("not an object (looking up '" + key + "')");
  const auto it = object.find(key);
  if (it == object.end()) throw std::runtime_error("missing key '" + key + "'");
  return *it;
}

double json_as_number(const Json& value, const std::string& what) {
  if (!value.is_number()) throw std::runtime_error("'" + what + "' is not a number");
  return value.get<double>();
}

double json_as_number_or_nan(const Json& value, const std::string& what) {
  if (value.is_null()) return std::numeric_limits<double>::quiet_NaN();
  return json_as_number(value, what);
}

double json_number_at(const Json& object, const std::string& key) {
  return json_as_number(json_member(object, key), key);
}

double json_number_or_nan_at(const Json& object, const std::string& key) {
  return json_as_number_or_nan(json_member(object, key), key);
}

std::string json_string_at(const Json& object, const std::string& key) {
  const Json& v = json_member(object, key);
  if (!v.is_string()) throw std::runtime_error("'" + key + "' is not a string");
  return v.get<std::string>();
}

const Json& json_array_at(const Json& object, const std::string& key) {
  const Json& v = json_member(object, key);
  if (!v.is_array()) throw std::runtime_error("'" + key + "' is not an array");
  return v;
}

}  // namespace saddle::cli
