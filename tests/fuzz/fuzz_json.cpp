// libFuzzer target: the strict JSON reader of apps/json_read.hpp (summary.json and
// metrics.jsonl of the child runs that `saddle compare` and `saddle sweep` read back).
// Malformed text must end in std::runtime_error, never in a crash or a sanitizer report.

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "json_read.hpp"

namespace {

// Walks a parsed value through the accessors the commands use (they throw on a wrong type).
std::size_t touch(const saddle::cli::json_read::Value& v) {
  std::size_t n = 1;
  try {
    (void)v.as_number_or_nan();
  } catch (const std::runtime_error&) {
  }
  for (const auto& e : v.array) n += touch(e);
  for (const auto& [k, e] : v.object) n += k.size() + touch(e);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto v = saddle::cli::json_read::parse(text);
    (void)touch(v);
  } catch (const std::runtime_error&) {
  }
  return 0;
}
