// libFuzzer target: the exported purged-network format (PurgedNetwork::deserialize, which
// PurgedNetwork::load and `saddle eval FILE.sdln` use). Each input is read twice: as a
// whole file (magic, version, size, CRC32, payload), and as a payload wrapped in a valid
// header with the right size and CRC32, so that the fuzzer reaches the layer records
// behind the checksum. A network that loads is run on one zero input when it is small:
// validate() must make predict() safe. Bad input must end in saddle::InputError.

#include <cstddef>
#include <cstdint>
#include <string>

#include "saddle/problems/l0/purged_network.hpp"
#include "saddle/problems/l0/tensor_view.hpp"
#include "saddle/types.hpp"

namespace {

void load_and_run(const std::string& bytes) {
  using saddle::l0::PurgedNetwork;
  try {
    const PurgedNetwork net = PurgedNetwork::deserialize(bytes, "fuzz input");
    const std::size_t features = net.rows * net.cols;
    if (net.params() <= 100000 && net.macs() <= 100000 && features <= 100000 &&
        net.classes <= 100000) {
      std::vector<float> input(features, 0.0f);
      xt::xtensor<float, 2> logits;
      net.predict(saddle::l0::make_cview<float, 2>(input.data(), {1, features}), logits);
    }
  } catch (const saddle::InputError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  load_and_run(raw);

  // The same bytes as the payload of a well-formed header.
  const std::string file = saddle::l0::frame(saddle::l0::kExportFormat, raw);
  load_and_run(file);
  return 0;
}
