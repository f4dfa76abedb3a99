// Inputs found by fuzzing the readers of outside bytes (tests/fuzz, docs/testing.md), kept
// as regression tests: each must fail with one InputError line, without a crash, undefined
// behaviour or an allocation of gigabytes for a few bytes of input. Run them under
// AddressSanitizer and UndefinedBehaviorSanitizer too (SADDLE_SANITIZE_TESTS=1 scripts/test.sh).

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "saddle/callbacks.hpp"
#include "saddle/problem_builder.hpp"
#include "saddle/problems/l0/checkpoint.hpp"
#include "saddle/problems/l0/idx.hpp"
#include "saddle/problems/l0/purged_network.hpp"
#include "saddle/serialize.hpp"
#include "saddle/solver.hpp"
#include "saddle/solvers.hpp"
#include "saddle/types.hpp"

namespace fs = std::filesystem;
using namespace saddle;

namespace {

// The message of the InputError that `f` throws ("" if it throws none).
template <class F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

std::string temp_path(const std::string& tag) {
  return (fs::temp_directory_path() /
          ("saddle-fuzz-regression-" + tag + "-" + std::to_string(::getpid())))
      .string();
}

void append_u32(std::string& s, std::uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void append_u64(std::string& s, std::uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }

// An exported-network file around `payload` (header with the right size and CRC32).
std::string export_file(const std::string& payload) {
  std::string file(l0::kExportMagic, 8);
  append_u32(file, l0::kExportVersion);
  append_u64(file, payload.size());
  // CRC32 of the payload, as PurgedNetwork::serialize computes it (zlib polynomial).
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : payload) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  append_u32(file, ~crc);
  return file + payload;
}

// The payload of an exported network: five empty strings, a 1x1 input, 1 class, then
// `layers` layer records.
std::string network_payload(std::uint32_t layers) {
  std::string p;
  for (int i = 0; i < 5; ++i) append_u32(p, 0);
  append_u32(p, 1);  // rows
  append_u32(p, 1);  // cols
  append_u32(p, 1);  // classes
  append_u32(p, layers);
  return p;
}

}  // namespace

// IDX, gzip: a 30-byte file whose header claims 2^24 x 8 x 8 pixels used to allocate (and
// zero) 1 GiB before finding out that the stream holds none of them.
TEST(FuzzRegression, IdxGzipHeaderClaimingAGigabyteFailsWithoutAllocatingIt) {
  l0::IdxImages header;
  header.count = 1;
  header.rows = 8;
  header.cols = 8;
  header.pixels.assign(64, 0);
  std::vector<std::uint8_t> bytes = l0::encode_idx_images(header);
  bytes.resize(16);
  bytes[4] = 0x01;  // count = 2^24 (the largest accepted dimension)
  bytes[5] = bytes[6] = bytes[7] = 0;
  const std::string path = temp_path("idx.gz");
  l0::write_bytes(path, bytes, true);
  const std::string what = input_error([&] { (void)l0::read_idx_images(path); });
  std::remove(path.c_str());
  EXPECT_NE(what.find("truncated: expected 1073741840 decompressed bytes, got 16"),
            std::string::npos)
      << what;
}

// IDX, gzip: a file read in several growing chunks still comes back exactly.
TEST(FuzzRegression, IdxGzipLargerThanOneChunkRoundTrips) {
  l0::IdxImages images;
  images.count = 3000;
  images.rows = 28;
  images.cols = 28;  // 2.35 MB: three chunks of the gzip reader
  images.pixels.resize(images.count * 28 * 28);
  for (std::size_t i = 0; i < images.pixels.size(); ++i)
    images.pixels[i] = static_cast<std::uint8_t>(i * 7 + i / 977);
  const std::string path = temp_path("big.gz");
  l0::write_idx_images(path, images, true);
  const l0::IdxImages back = l0::read_idx_images(path);
  std::remove(path.c_str());
  EXPECT_EQ(back.count, 3000u);
  EXPECT_EQ(back.pixels, images.pixels);
}

// Exported network: a dense layer of width 0 read its empty weights with memcpy(nullptr,
// ..., 0), undefined behaviour (UBSan: "null pointer passed as argument 1").
TEST(FuzzRegression, ExportedNetworkEmptyDenseLayerIsAnErrorNotUb) {
  std::string p = network_payload(1);
  append_u32(p, 2);  // dense
  append_u32(p, 0);  // in
  append_u32(p, 0);  // out
  const std::string what =
      input_error([&] { (void)l0::PurgedNetwork::deserialize(export_file(p), "net"); });
  EXPECT_NE(what.find("net: "), std::string::npos) << what;
  EXPECT_EQ(what.find('\n'), std::string::npos);
}

// Exported network: a gather layer claiming 2^31 indices resized its index vector (8 GiB)
// before reading them.
TEST(FuzzRegression, ExportedNetworkHugeGatherCountIsTruncatedNotAllocated) {
  std::string p = network_payload(1);
  append_u32(p, 1);            // gather
  append_u32(p, 1);            // input width
  append_u32(p, 0x80000000u);  // index count 2^31
  const std::string what =
      input_error([&] { (void)l0::PurgedNetwork::deserialize(export_file(p), "net"); });
  EXPECT_EQ(what, "net: truncated while reading gather indices");
}

// Checkpoint file: a 24-byte header claiming a 16 GiB payload allocated it before reading.
TEST(FuzzRegression, CheckpointClaimingHugePayloadIsTruncatedNotAllocated) {
  std::string file = "SADLCKPT";
  append_u32(file, 1);                       // version
  append_u64(file, std::uint64_t{1} << 34);  // payload bytes
  append_u32(file, 0);                       // CRC32
  file += "abc";
  const std::string path = temp_path("ckpt");
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(file.data(), 1, file.size(), f);
    std::fclose(f);
  }
  const std::string what = input_error([&] { (void)l0::read_checkpoint_file(path); });
  std::remove(path.c_str());
  EXPECT_EQ(what, "checkpoint '" + path + "': truncated (3 of 17179869184 payload bytes)");
}

// Checkpoint run state: an EMA of 2^32 floats (16 GiB) was allocated before reading.
TEST(FuzzRegression, CheckpointHugeEmaIsTruncatedNotAllocated) {
  std::ostringstream out;
  l0::write_run_state(out, l0::RunState{});
  std::string bytes = out.str();
  bytes.resize(bytes.size() - 8);             // drop the EMA length (0) ...
  append_u64(bytes, std::uint64_t{1} << 32);  // ... and claim 2^32 floats
  std::istringstream in(bytes);
  const std::string what = input_error([&] { (void)l0::read_run_state(in, "ck"); });
  EXPECT_EQ(what, "checkpoint 'ck': truncated EMA");
}

// Solver state: read_parameters allocated up to 2^34 floats (64 GiB) for a corrupt count.
TEST(FuzzRegression, SolverStateHugeParameterCountIsTruncatedNotAllocated) {
  // A genuine state of a 1-parameter problem, saved after its first step.
  using V = Vector<float>;
  auto problem = ProblemBuilder<float>(1)
                     .objective([](const V& x) { return double(x(0) * x(0)); },
                                [](const V& x, V& g) { g(0) = 2 * x(0); })
                     .initial_point({1.0f})
                     .build();
  SolverOptions options;
  options.max_iterations = 1;
  Solver<float> solver(make_scheme<float>("gda"), options);
  struct Saver : Callback<float> {
    const Solver<float>* solver = nullptr;
    std::string state;
    bool on_step(const StepInfo<float>&) override {
      std::ostringstream out;
      solver->save_state(out);
      state = out.str();
      return true;
    }
  } saver;
  saver.solver = &solver;
  solver.add_callback(&saver);
  (void)solver.solve(*problem);
  ASSERT_GT(saver.state.size(), 16u);
  {
    std::istringstream in(saver.state);
    EXPECT_EQ(Solver<float>::read_parameters(in).size(), 1u);
  }
  // Its header (magic, version, scalar size), then a count of 2^33 parameters, the other
  // counters, and no parameters at all.
  std::string bytes = saver.state.substr(0, 16);
  append_u64(bytes, std::uint64_t{1} << 33);
  for (int i = 0; i < 8; ++i) append_u64(bytes, 0);
  std::istringstream in(bytes);
  const std::string what = input_error([&] { (void)Solver<float>::read_parameters(in); });
  EXPECT_EQ(what, "state truncated while reading parameters");
}
