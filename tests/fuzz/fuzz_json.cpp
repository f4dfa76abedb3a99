// libFuzzer target: the strict JSON reader of the command line (apps/json_io.hpp:
// saddle::cli::parse_json on nlohmann-json), which reads the summary.json and metrics.jsonl
// of the child runs that `saddle compare` and `saddle sweep` read back. Malformed text must
// end in std::runtime_error, never in a crash, an uncaught exception or a sanitizer report.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "json_io.hpp"

namespace {

// Walks a parsed value through the accessors the commands use (they throw on a wrong type)
// and prints it back, as the commands do with their own values.
std::size_t touch(const saddle::cli::Json& v) {
  std::size_t n = 1;
  try {
    (void)saddle::cli::json_as_number_or_nan(v, "value");
  } catch (const std::runtime_error&) {
  }
  if (v.is_object()) {
    for (const auto& [k, e] : v.items()) {
      n += k.size() + touch(e);
      try {
        (void)saddle::cli::json_number_or_nan_at(v, k);
      } catch (const std::runtime_error&) {
      }
    }
  } else if (v.is_array()) {
    for (const auto& e : v) n += touch(e);
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto v = saddle::cli::parse_json(text);
    (void)touch(v);
    (void)saddle::cli::json_text(v, 2);
  } catch (const std::runtime_error&) {
  }
  return 0;
}
