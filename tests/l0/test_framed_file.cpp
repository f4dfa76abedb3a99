// The framed file shared by checkpoints and exported networks (framed_file.hpp): a round
// trip, the exact header bytes, every kind of damage rejected with its one-line message,
// atomic writes, and the files of the fuzz seed corpus (written before the two formats
// shared this code) still read, byte for byte.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

#include "saddle/problems/l0/checkpoint.hpp"
#include "saddle/problems/l0/framed_file.hpp"
#include "saddle/problems/l0/purged_network.hpp"
#include "saddle/solver.hpp"

namespace fs = std::filesystem;
using namespace saddle::l0;

namespace {

const FrameFormat kTest{"SADLTEST", 3, "test file"};

std::string message(const std::string& bytes) {
  try {
    (void)unframe(kTest, bytes, "f");
  } catch (const saddle::InputError& e) {
    return e.what();
  }
  return "accepted";
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("saddle_framed_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

fs::path corpus(const std::string& target, const std::string& seed) {
  return fs::path(SADDLE_SOURCE_DIR) / "tests" / "fuzz" / "corpus" / target / seed;
}

TEST(FramedFile, HeaderBytesAndRoundTrip) {
  const std::string payload("pay\0load", 8);
  const std::string bytes = frame(kTest, payload);
  ASSERT_EQ(bytes.size(), kFrameHeaderBytes + payload.size());
  EXPECT_EQ(bytes.substr(0, 8), "SADLTEST");
  EXPECT_EQ(bytes.substr(8, 4), std::string("\x03\0\0\0", 4));           // u32 version, LE
  EXPECT_EQ(bytes.substr(12, 8), std::string("\x08\0\0\0\0\0\0\0", 8));  // u64 size, LE
  const std::uint32_t crc = frame_crc32(payload);
  EXPECT_EQ(bytes.substr(20, 4), std::string(reinterpret_cast<const char*>(&crc), 4));
  EXPECT_EQ(bytes.substr(24), payload);
  EXPECT_EQ(unframe(kTest, bytes, "f"), payload);
  EXPECT_EQ(unframe(kTest, frame(kTest, ""), "f"), "");
  // zlib's crc32 of "123456789" is the standard check value of CRC-32.
  EXPECT_EQ(frame_crc32("123456789"), 0xCBF43926u);
}

TEST(FramedFile, EveryDamageIsRejectedWithItsMessage) {
  const std::string good = frame(kTest, "0123456789");
  EXPECT_EQ(message(good), "accepted");
  EXPECT_EQ(message(""), "f: not a saddle test file (bad magic)");
  EXPECT_EQ(message("SADL"), "f: not a saddle test file (bad magic)");
  std::string magic = good;
  magic[3] = 'X';
  EXPECT_EQ(message(magic), "f: not a saddle test file (bad magic)");
  EXPECT_EQ(message(good.substr(0, 8)), "f: truncated header");
  EXPECT_EQ(message(good.substr(0, 23)), "f: truncated header");
  std::string version = good;
  version[8] = 9;
  EXPECT_EQ(message(version), "f: format version 9 is not supported (this build reads version 3)");
  EXPECT_EQ(message(good.substr(0, good.size() - 4)), "f: truncated (6 of 10 payload bytes)");
  EXPECT_EQ(message(good + "xy"), "f: 2 trailing bytes after the payload");
  std::string size = good;
  size[12] = 9;  // claims 9 bytes, 10 follow
  EXPECT_EQ(message(size), "f: 1 trailing bytes after the payload");
  std::string huge = good;
  huge[19] = 0x40;  // claims 2^62 + 10 bytes: a truncation, nothing allocated
  EXPECT_EQ(message(huge).rfind("f: truncated (10 of ", 0), 0u) << message(huge);
  std::string flipped = good;
  flipped[30] = static_cast<char>(flipped[30] ^ 0x01);
  EXPECT_EQ(message(flipped), "f: checksum mismatch (file corrupted)");
  std::string crc = good;
  crc[20] = static_cast<char>(crc[20] ^ 0x80);
  EXPECT_EQ(message(crc), "f: checksum mismatch (file corrupted)");
}

TEST(FramedFile, FilesAreWrittenAtomicallyAndReadBack) {
  const fs::path path = scratch("a.bin");
  write_framed_file(kTest, path.string(), "hello");
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
  EXPECT_EQ(slurp(path), frame(kTest, "hello"));
  EXPECT_EQ(read_framed_file(kTest, path.string()), "hello");
  EXPECT_TRUE(has_frame_magic(kTest, path.string()));
  EXPECT_FALSE(has_frame_magic(FrameFormat{"SADLOTHR", 3, "x"}, path.string()));
  EXPECT_FALSE(has_frame_magic(kTest, (path.parent_path() / "missing").string()));
  try {
    (void)read_framed_file(kTest, (path.parent_path() / "missing").string());
    ADD_FAILURE() << "a missing file was read";
  } catch (const saddle::InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot open test file '" + (path.parent_path() / "missing").string() + "'");
  }
  // A file in a folder that does not exist: one line, nothing left behind.
  const fs::path bad = path.parent_path() / "no" / "such" / "file.bin";
  EXPECT_THROW(write_framed_file(kTest, bad.string(), "x"), saddle::InputError);
  // Damage on disk is reported with the file's name.
  std::ofstream(path, std::ios::binary | std::ios::trunc) << frame(kTest, "hello").substr(0, 26);
  try {
    (void)read_framed_file(kTest, path.string());
    ADD_FAILURE() << "a truncated file was read";
  } catch (const saddle::InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "test file '" + path.string() + "': truncated (2 of 5 payload bytes)");
  }
  fs::remove_all(path.parent_path());
}

// The seeds of tests/fuzz/corpus were written by the separate writers that framed_file
// replaced: they must still load, and re-framing their payload must give the same bytes.
TEST(FramedFile, FuzzSeedFilesStillLoadByteForByte) {
  const std::string ckpt_path = corpus("fuzz_checkpoint", "checkpoint-file").string();
  const std::string ckpt = slurp(ckpt_path);
  ASSERT_GT(ckpt.size(), kFrameHeaderBytes);
  const std::string payload = read_checkpoint_file(ckpt_path);
  std::istringstream in(payload);
  const RunState run = read_run_state(in, ckpt_path);
  EXPECT_FALSE(run.fingerprint.empty());
  const auto params = saddle::Solver<float>::read_parameters(in);
  EXPECT_GT(params.size(), 0u);
  const fs::path copy = scratch("checkpoint.bin");
  write_checkpoint_file(copy.string(), payload);
  // The seed is a format-1 checkpoint (read, converted); this build writes format 2, whose
  // file reads back to the same payload.
  EXPECT_EQ(static_cast<unsigned char>(ckpt[8]), 1u);
  EXPECT_EQ(static_cast<unsigned char>(slurp(copy)[8]), 2u);
  EXPECT_EQ(read_checkpoint_file(copy.string()), payload);
  EXPECT_EQ(slurp(copy).substr(kFrameHeaderBytes), payload);

  for (const char* seed : {"mlp-file", "lenet-file"}) {
    const fs::path p = corpus("fuzz_purged_network", seed);
    const std::string bytes = slurp(p);
    const PurgedNetwork net = PurgedNetwork::load(p.string());
    EXPECT_EQ(net.serialize(), bytes) << seed;
    EXPECT_TRUE(is_exported_network(p.string())) << seed;
    const fs::path out = scratch(std::string(seed) + ".sdln");
    net.save(out.string());
    EXPECT_EQ(slurp(out), bytes) << seed;
  }
  EXPECT_FALSE(is_exported_network(ckpt_path));
  fs::remove_all(copy.parent_path());
}

}  // namespace

// A format that still reads older versions accepts [oldest_version, version] and says which
// one it read; anything else is refused.
TEST(FramedFile, OlderVersionsInTheReadRange) {
  const FrameFormat current{"SADLTEST", 3, "test file", 2};
  const FrameFormat older{"SADLTEST", 2, "test file"};
  std::uint32_t version = 0;
  EXPECT_EQ(unframe(current, frame(older, "abc"), "f", &version), "abc");
  EXPECT_EQ(version, 2u);
  EXPECT_EQ(unframe(current, frame(current, "abc"), "f", &version), "abc");
  EXPECT_EQ(version, 3u);
  const FrameFormat too_old{"SADLTEST", 1, "test file"};
  const FrameFormat too_new{"SADLTEST", 4, "test file"};
  for (const auto& other : {too_old, too_new}) {
    try {
      (void)unframe(current, frame(other, "abc"), "f");
      ADD_FAILURE() << "version " << other.version << " was read";
    } catch (const saddle::InputError& e) {
      EXPECT_EQ(std::string(e.what()), "f: format version " + std::to_string(other.version) +
                                           " is not supported (this build reads version 3)");
    }
  }
}
