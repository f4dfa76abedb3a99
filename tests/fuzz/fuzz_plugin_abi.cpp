// libFuzzer target: the comparison of a plugin's ABI stamp with the host's
// (saddle::plugin_abi_mismatch, called by load_plugin after dlsym, before anything else of
// the library is trusted). The input becomes a saddle_plugin_abi: its integers from the
// first bytes, its five strings from the rest (split at NUL bytes; a missing string is a
// null pointer). Half of the inputs start from the host's own stamp, so that the later
// fields are reached. The answer must be a string ("" or a reason), with no crash.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "saddle/plugin.hpp"

namespace {

struct Input {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t pos = 0;
  template <class T>
  T take() {
    T v{};
    const std::size_t n = std::min(sizeof(T), size - pos);
    std::memcpy(&v, data + pos, n);
    pos += n;
    return v;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Input in{data + 1, size - 1};
  const saddle_plugin_abi& host = saddle::host_plugin_abi();
  saddle_plugin_abi stamp = host;
  const std::uint8_t mode = data[0];
  // mode bit 0: start from zeros instead of the host's stamp; bits 1..7: which integer
  // fields the input overrides.
  if ((mode & 1u) != 0) std::memset(&stamp, 0, sizeof stamp);
  if ((mode & 2u) != 0) stamp.abi = in.take<std::uint32_t>();
  if ((mode & 4u) != 0) stamp.size = in.take<std::uint32_t>();
  if ((mode & 8u) != 0) stamp.gxx_abi = in.take<std::uint32_t>();
  if ((mode & 16u) != 0) stamp.cxx11_string_abi = in.take<std::uint32_t>();
  if ((mode & 32u) != 0) stamp.xsimd = in.take<std::uint32_t>();
  if ((mode & 64u) != 0) stamp.layout = in.take<std::uint64_t>();
  // The rest: up to five NUL-separated strings, in field order; mode bit 7 keeps the
  // host's strings for the fields the input does not reach.
  std::vector<std::string> texts;
  std::string cur;
  for (std::size_t i = in.pos; i < in.size; ++i) {
    if (in.data[i] == 0) {
      texts.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(in.data[i]));
    }
  }
  if (!cur.empty()) texts.push_back(cur);
  const char** fields[] = {&stamp.saddle_version, &stamp.vector_float_type,
                           &stamp.vector_double_type, &stamp.string_type, &stamp.compiler};
  for (std::size_t i = 0; i < 5; ++i) {
    if (i < texts.size())
      *fields[i] = texts[i].c_str();
    else if ((mode & 128u) == 0)
      *fields[i] = nullptr;
  }
  // The reason quotes the plugin's strings as they are; the command line's print_error
  // makes one line of it.
  const std::string why = saddle::plugin_abi_mismatch(stamp);
  (void)why;
  return 0;
}
