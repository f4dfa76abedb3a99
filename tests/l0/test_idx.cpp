// Tests of the IDX reader/writer and the MNIST / Fashion-MNIST dataset loader.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "saddle/problems/l0/dataset.hpp"
#include "saddle/problems/l0/idx.hpp"
#include "saddle/types.hpp"

namespace {

namespace fs = std::filesystem;
using namespace saddle::l0;

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "message: " << (text)

/// The message of the InputError thrown by f; a test failure if none is thrown.
std::string input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const saddle::InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected InputError, nothing thrown";
  return "";
}

IdxImages make_images(std::size_t count, std::size_t rows, std::size_t cols, unsigned seed) {
  IdxImages im;
  im.count = count;
  im.rows = rows;
  im.cols = cols;
  im.pixels.resize(count * rows * cols);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(0, 255);
  for (auto& p : im.pixels) p = static_cast<std::uint8_t>(dist(rng));
  return im;
}

IdxLabels make_labels(std::size_t count, unsigned seed) {
  IdxLabels lb;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(0, 9);
  for (std::size_t i = 0; i < count; ++i) lb.labels.push_back(static_cast<std::uint8_t>(dist(rng)));
  return lb;
}

class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    dir_ = fs::temp_directory_path() /
           ("saddle_idx_test_" + std::to_string(stamp) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  /// Writes a small valid MNIST-named dataset (train 12, test 5 images of 3x4) into dir.
  void write_small_dataset(const std::string& dir, bool gzip) {
    fs::create_directories(dir);
    const std::string suffix = gzip ? ".gz" : "";
    write_idx_images(dir + "/train-images-idx3-ubyte" + suffix, make_images(12, 3, 4, 1), gzip);
    write_idx_labels(dir + "/train-labels-idx1-ubyte" + suffix, make_labels(12, 2), gzip);
    write_idx_images(dir + "/t10k-images-idx3-ubyte" + suffix, make_images(5, 3, 4, 3), gzip);
    write_idx_labels(dir + "/t10k-labels-idx1-ubyte" + suffix, make_labels(5, 4), gzip);
  }

  fs::path dir_;
};

// ---------------------------------------------------------------- round trips

TEST_F(IdxTest, RoundTripPlain) {
  const IdxImages im = make_images(7, 5, 3, 11);
  const IdxLabels lb = make_labels(7, 12);
  write_idx_images(path("im"), im);
  write_idx_labels(path("lb"), lb);
  EXPECT_EQ(fs::file_size(path("im")), 16u + 7 * 5 * 3);
  EXPECT_EQ(fs::file_size(path("lb")), 8u + 7);
  const IdxImages im2 = read_idx_images(path("im"));
  EXPECT_EQ(im2.count, 7u);
  EXPECT_EQ(im2.rows, 5u);
  EXPECT_EQ(im2.cols, 3u);
  EXPECT_EQ(im2.pixels, im.pixels);
  EXPECT_EQ(read_idx_labels(path("lb")).labels, lb.labels);
}

TEST_F(IdxTest, HeaderIsBigEndian) {
  IdxImages im = make_images(1, 2, 258, 5);
  const std::vector<std::uint8_t> bytes = encode_idx_images(im);
  const std::vector<std::uint8_t> head(bytes.begin(), bytes.begin() + 16);
  EXPECT_EQ(head, (std::vector<std::uint8_t>{0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 1, 2}));
  const std::vector<std::uint8_t> lb = encode_idx_labels(IdxLabels{{3, 4}});
  EXPECT_EQ(lb, (std::vector<std::uint8_t>{0, 0, 8, 1, 0, 0, 0, 2, 3, 4}));
}

TEST_F(IdxTest, RoundTripGzip) {
  const IdxImages im = make_images(9, 4, 6, 21);
  const IdxLabels lb = make_labels(9, 22);
  write_idx_images(path("im.gz"), im, true);
  write_idx_labels(path("lb"), lb, true);  // gzip detected by magic, not by name
  {
    std::FILE* f = std::fopen(path("im.gz").c_str(), "rb");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(std::fgetc(f), 0x1f);
    EXPECT_EQ(std::fgetc(f), 0x8b);
    std::fclose(f);
  }
  const IdxImages im2 = read_idx_images(path("im.gz"));
  EXPECT_EQ(im2.count, 9u);
  EXPECT_EQ(im2.rows, 4u);
  EXPECT_EQ(im2.cols, 6u);
  EXPECT_EQ(im2.pixels, im.pixels);
  EXPECT_EQ(read_idx_labels(path("lb")).labels, lb.labels);
}

TEST_F(IdxTest, WriterRejectsInconsistentSize) {
  IdxImages im = make_images(2, 2, 2, 1);
  im.pixels.pop_back();
  EXPECT_CONTAINS(input_error([&] { encode_idx_images(im); }), "pixels.size() = 7");
}

// ---------------------------------------------------------------- bad files

TEST_F(IdxTest, MissingFileNamesPath) {
  const std::string p = path("no-such-file");
  const std::string msg = input_error([&] { read_idx_images(p); });
  EXPECT_CONTAINS(msg, p);
  EXPECT_CONTAINS(msg, "cannot open");
}

TEST_F(IdxTest, BadMagic) {
  std::vector<std::uint8_t> bytes = encode_idx_images(make_images(2, 2, 2, 1));
  bytes[0] = 0x12;
  write_bytes(path("a"), bytes);
  std::string msg = input_error([&] { read_idx_images(path("a")); });
  EXPECT_CONTAINS(msg, path("a") + ": bad magic 0x12000803 (expected 0x00000803 for images)");

  // 2 dimensions instead of 3.
  bytes[0] = 0;
  bytes[3] = 2;
  write_bytes(path("b"), bytes);
  msg = input_error([&] { read_idx_images(path("b")); });
  EXPECT_CONTAINS(msg, "bad magic 0x00000802 (expected 0x00000803 for images)");

  // A label file read as images, and an image file read as labels.
  write_idx_labels(path("lb"), make_labels(3, 1));
  msg = input_error([&] { read_idx_images(path("lb")); });
  EXPECT_CONTAINS(msg, "bad magic 0x00000801 (expected 0x00000803 for images)");
  write_idx_images(path("im"), make_images(2, 2, 2, 1));
  msg = input_error([&] { read_idx_labels(path("im")); });
  EXPECT_CONTAINS(msg, "bad magic 0x00000803 (expected 0x00000801 for labels)");
}

TEST_F(IdxTest, WrongElementType) {
  std::vector<std::uint8_t> bytes = encode_idx_images(make_images(2, 2, 2, 1));
  bytes[2] = 0x0D;  // float
  write_bytes(path("a"), bytes);
  const std::string msg = input_error([&] { read_idx_images(path("a")); });
  EXPECT_CONTAINS(msg, "element type 0x0D (float)");
  EXPECT_CONTAINS(msg, "expected 0x08 (unsigned byte)");
}

TEST_F(IdxTest, TruncatedPlain) {
  std::vector<std::uint8_t> bytes = encode_idx_images(make_images(10, 3, 3, 1));
  ASSERT_EQ(bytes.size(), 106u);
  bytes.resize(100);
  write_bytes(path("a"), bytes);
  EXPECT_CONTAINS(input_error([&] { read_idx_images(path("a")); }),
                  path("a") + ": truncated: expected 106 bytes, got 100");
  // Cut inside the header.
  bytes.resize(10);
  write_bytes(path("b"), bytes);
  EXPECT_CONTAINS(input_error([&] { read_idx_images(path("b")); }),
                  "truncated: expected at least 16 bytes of header, got 10");
  bytes.resize(2);
  write_bytes(path("c"), bytes);
  EXPECT_CONTAINS(input_error([&] { read_idx_images(path("c")); }), "truncated");
  write_bytes(path("empty"), {});
  EXPECT_CONTAINS(input_error([&] { read_idx_labels(path("empty")); }), "truncated: 0 bytes");
}

TEST_F(IdxTest, TruncatedGzip) {
  // A complete gzip stream whose content is short.
  std::vector<std::uint8_t> bytes = encode_idx_labels(make_labels(50, 1));
  ASSERT_EQ(bytes.size(), 58u);
  bytes.resize(40);
  write_bytes(path("a.gz"), bytes, true);
  EXPECT_CONTAINS(input_error([&] { read_idx_labels(path("a.gz")); }),
                  path("a.gz") + ": truncated: expected 58 decompressed bytes, got 40");

  // A gzip file cut in the middle of its compressed data.
  const IdxImages im = make_images(200, 10, 10, 2);  // random pixels: barely compressible
  write_idx_images(path("b.gz"), im, true);
  fs::resize_file(path("b.gz"), fs::file_size(path("b.gz")) / 2);
  const std::string msg = input_error([&] { read_idx_images(path("b.gz")); });
  EXPECT_CONTAINS(msg, "truncated: expected 20016 decompressed bytes");
  EXPECT_CONTAINS(msg, "gzip stream cut off");

  // Cut only in the 8-byte gzip trailer: the data is complete but unverified.
  write_idx_images(path("c.gz"), im, true);
  fs::resize_file(path("c.gz"), fs::file_size(path("c.gz")) - 4);
  EXPECT_CONTAINS(input_error([&] { read_idx_images(path("c.gz")); }), "truncated");
}

TEST_F(IdxTest, CorruptGzip) {
  write_idx_images(path("a.gz"), make_images(20, 10, 10, 2), true);
  // Overwrite compressed bytes in the middle with garbage.
  std::FILE* f = std::fopen(path("a.gz").c_str(), "r+b");
  ASSERT_NE(f, nullptr);
  std::fseek(f, 40, SEEK_SET);
  for (int i = 0; i < 64; ++i) std::fputc(0xFF, f);
  std::fclose(f);
  const std::string msg = input_error([&] { read_idx_images(path("a.gz")); });
  EXPECT_EQ(msg.find(path("a.gz") + ": corrupt gzip stream: "), 0u) << msg;
  EXPECT_EQ(msg.find(path("a.gz"), 1), std::string::npos) << "path named twice: " << msg;
}

TEST_F(IdxTest, TrailingBytes) {
  std::vector<std::uint8_t> bytes = encode_idx_labels(make_labels(5, 1));
  bytes.push_back(0);
  bytes.push_back(7);
  write_bytes(path("a"), bytes);
  EXPECT_CONTAINS(input_error([&] { read_idx_labels(path("a")); }),
                  path("a") + ": trailing bytes: expected 13 bytes, got 15 (2 extra)");
  write_bytes(path("b.gz"), bytes, true);
  EXPECT_CONTAINS(input_error([&] { read_idx_labels(path("b.gz")); }),
                  "trailing bytes: expected 13 decompressed bytes, got 15 (2 extra)");
}

TEST_F(IdxTest, ZeroAndHugeDimensions) {
  std::vector<std::uint8_t> bytes = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3};
  write_bytes(path("a"), bytes);
  EXPECT_CONTAINS(input_error([&] { read_idx_images(path("a")); }),
                  path("a") + ": dimension 1 (rows) is 0");
  write_bytes(path("b"), {0, 0, 8, 1, 0, 0, 0, 0});
  EXPECT_CONTAINS(input_error([&] { read_idx_labels(path("b")); }), "dimension 0 (count) is 0");
  // A corrupt header claiming 2^32-1 images must fail before allocating anything.
  write_bytes(path("c"), {0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 28, 0, 0, 0, 28});
  EXPECT_CONTAINS(input_error([&] { read_idx_images(path("c")); }),
                  "dimension 0 (count) = 4294967295 is too large");
  write_bytes(path("d"), {0, 0, 8, 3, 0, 0x10, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 28});
  EXPECT_CONTAINS(input_error([&] { read_idx_images(path("d")); }), "too many elements");
}

// ---------------------------------------------------------------- scaling

TEST(InputScaling, ExactValues) {
  EXPECT_EQ(scale_pixel(0, InputScaling::unit), 0.0f);
  EXPECT_EQ(scale_pixel(255, InputScaling::unit), 1.0f);
  EXPECT_EQ(scale_pixel(51, InputScaling::unit), 0.2f);  // 51/255 = 0.2, correctly rounded
  EXPECT_EQ(scale_pixel(128, InputScaling::unit), 128.0f / 255.0f);
  for (int p : {0, 1, 77, 128, 254, 255}) {
    const float x = static_cast<float>(p) / 255.0f;
    const float expected = (x - 0.1307f) / 0.3081f;  // torchvision Normalize in float32
    EXPECT_EQ(scale_pixel(static_cast<std::uint8_t>(p), InputScaling::standardize), expected);
    // ...which is within float rounding of the exact value.
    const double exact = (p / 255.0 - 0.1307) / 0.3081;
    EXPECT_NEAR(scale_pixel(static_cast<std::uint8_t>(p), InputScaling::standardize), exact, 1e-6);
  }
  EXPECT_NEAR(scale_pixel(0, InputScaling::standardize), -0.424212917884, 1e-6);
  EXPECT_NEAR(scale_pixel(255, InputScaling::standardize), 2.821486530347, 1e-6);
}

TEST(InputScaling, Names) {
  EXPECT_EQ(parse_input_scaling("unit"), InputScaling::unit);
  EXPECT_EQ(parse_input_scaling("standardize"), InputScaling::standardize);
  EXPECT_STREQ(to_string(InputScaling::standardize), "standardize");
  EXPECT_THROW(parse_input_scaling("minmax"), saddle::InvalidOption);
}

// ---------------------------------------------------------------- dataset

TEST_F(IdxTest, LoadDatasetPlainValuesAndShapes) {
  const std::string d = path("mnist");
  write_small_dataset(d, false);
  const Dataset ds = load_dataset("mnist", d, InputScaling::standardize);
  EXPECT_EQ(ds.name, "mnist");
  EXPECT_EQ(ds.directory, d);
  EXPECT_EQ(ds.rows, 3u);
  EXPECT_EQ(ds.cols, 4u);
  EXPECT_EQ(ds.features(), 12u);
  ASSERT_EQ(ds.train.x.shape(0), 12u);
  ASSERT_EQ(ds.train.x.shape(1), 12u);
  ASSERT_EQ(ds.test.x.shape(0), 5u);
  EXPECT_EQ(ds.train.size(), 12u);
  EXPECT_EQ(ds.test.size(), 5u);
  const IdxImages im = make_images(12, 3, 4, 1);
  const IdxLabels lb = make_labels(12, 2);
  for (std::size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(ds.train.y(i), lb.labels[i]);
    for (std::size_t j = 0; j < 12; ++j) {
      ASSERT_EQ(ds.train.x(i, j), scale_pixel(im.pixels[i * 12 + j], InputScaling::standardize));
    }
  }
  const IdxImages im_test = make_images(5, 3, 4, 3);
  EXPECT_EQ(ds.test.x(4, 11), scale_pixel(im_test.pixels[59], InputScaling::standardize));
}

TEST_F(IdxTest, LoadDatasetGzipVariant) {
  const std::string d = path("mnist-gz");
  write_small_dataset(d, true);
  const Dataset ds = load_dataset("mnist", d, InputScaling::unit);
  EXPECT_EQ(ds.train.size(), 12u);
  const IdxImages im = make_images(12, 3, 4, 1);
  EXPECT_EQ(ds.train.x(2, 5), static_cast<float>(im.pixels[2 * 12 + 5]) / 255.0f);
  // The same files are found for fashion-mnist (which prefers .gz names).
  const DatasetFiles files = locate_dataset("fashion-mnist", {d});
  EXPECT_EQ(files.train_images, d + "/train-images-idx3-ubyte.gz");
}

TEST_F(IdxTest, LoadDatasetCountMismatch) {
  const std::string d = path("mnist");
  write_small_dataset(d, false);
  write_idx_labels(d + "/train-labels-idx1-ubyte", make_labels(11, 2));
  const std::string msg = input_error([&] { load_dataset("mnist", d, InputScaling::unit); });
  EXPECT_CONTAINS(msg, "12 images");
  EXPECT_CONTAINS(msg, "11 labels");
  EXPECT_CONTAINS(msg, "count mismatch");
  EXPECT_CONTAINS(msg, "train-labels-idx1-ubyte");
}

TEST_F(IdxTest, LoadDatasetLabelOutOfRange) {
  const std::string d = path("mnist");
  write_small_dataset(d, false);
  IdxLabels lb = make_labels(5, 4);
  lb.labels[3] = 10;
  write_idx_labels(d + "/t10k-labels-idx1-ubyte", lb);
  const std::string msg = input_error([&] { load_dataset("mnist", d, InputScaling::unit); });
  EXPECT_CONTAINS(msg, d + "/t10k-labels-idx1-ubyte: label 10 at index 3 is not in 0..9");
}

TEST_F(IdxTest, LoadDatasetImageSizeMismatch) {
  const std::string d = path("mnist");
  write_small_dataset(d, false);
  write_idx_images(d + "/t10k-images-idx3-ubyte", make_images(5, 4, 3, 3));
  EXPECT_CONTAINS(input_error([&] { load_dataset("mnist", d, InputScaling::unit); }),
                  "images are 4x3 but the training images");
}

TEST_F(IdxTest, MissingDatasetGivesFetchCommand) {
  const std::string d = path("empty");
  std::string msg = input_error([&] { load_dataset("mnist", d, InputScaling::unit); });
  EXPECT_CONTAINS(msg, "scripts/fetch_mnist.sh " + d);
  EXPECT_CONTAINS(msg, "train-images-idx3-ubyte[.gz]");

  // A partial folder names exactly the missing file.
  const std::string p = path("partial");
  write_small_dataset(p, false);
  fs::remove(p + "/t10k-labels-idx1-ubyte");
  msg = input_error([&] { load_dataset("mnist", p, InputScaling::unit); });
  EXPECT_CONTAINS(msg, p + " lacks t10k-labels-idx1-ubyte[.gz])");
  EXPECT_CONTAINS(msg, "scripts/fetch_mnist.sh " + p);

  msg = input_error([&] { locate_dataset("fashion-mnist", {d}); });
  EXPECT_CONTAINS(msg, "apt-get install dataset-fashion-mnist");
  msg = input_error([&] { locate_dataset("mnist", {}); });
  EXPECT_CONTAINS(msg, "scripts/fetch_mnist.sh data/mnist");
}

TEST(Dataset, SearchDirsAndNames) {
  EXPECT_EQ(dataset_search_dirs("mnist", "x"), std::vector<std::string>{"x"});
  EXPECT_EQ(dataset_search_dirs("fashion-mnist", "x"),
            (std::vector<std::string>{"x", kDebianFashionMnistDir}));
  EXPECT_EQ(dataset_search_dirs("fashion-mnist", ""),
            std::vector<std::string>{kDebianFashionMnistDir});
  EXPECT_THROW(dataset_search_dirs("cifar10", "x"), saddle::InvalidOption);
  EXPECT_THROW(load_dataset("MNIST", "x", InputScaling::unit), saddle::InvalidOption);
  EXPECT_EQ(dataset_names(), (std::vector<std::string>{"mnist", "fashion-mnist"}));
}

// ---------------------------------------------------------------- real data (optional)

TEST(RealData, Mnist) {
  std::string dir;
  if (const char* env = std::getenv("SADDLE_MNIST_DIR"); env != nullptr && *env != '\0') {
    dir = env;
  } else if (fs::is_directory(fs::path(SADDLE_SOURCE_DIR) / "data" / "mnist")) {
    dir = (fs::path(SADDLE_SOURCE_DIR) / "data" / "mnist").string();
  } else {
    GTEST_SKIP() << "no MNIST: set SADDLE_MNIST_DIR or run scripts/fetch_mnist.sh data/mnist";
  }
  const Dataset ds = load_dataset("mnist", dir, InputScaling::unit);
  EXPECT_EQ(ds.train.size(), 60000u);
  EXPECT_EQ(ds.test.size(), 10000u);
  EXPECT_EQ(ds.features(), 784u);
  EXPECT_EQ(ds.train.y(0), 5);
  EXPECT_EQ(ds.test.y(0), 7);
  // Training-set pixel mean after /255 is the 0.1307 of the Normalize constants.
  double sum = 0.0;
  const float* x = ds.train.x.data();
  for (std::size_t k = 0; k < ds.train.x.size(); ++k) sum += x[k];
  EXPECT_NEAR(sum / static_cast<double>(ds.train.x.size()), 0.1307, 5e-5);
}

TEST(RealData, FashionMnistFromDebianPackage) {
  if (!fs::is_directory(kDebianFashionMnistDir)) {
    GTEST_SKIP() << "no Fashion-MNIST: apt-get install dataset-fashion-mnist";
  }
  const Dataset ds = load_dataset("fashion-mnist", "", InputScaling::unit);
  EXPECT_EQ(ds.directory, kDebianFashionMnistDir);
  EXPECT_EQ(ds.train.size(), 60000u);
  EXPECT_EQ(ds.test.size(), 10000u);
  EXPECT_EQ(ds.features(), 784u);
  EXPECT_EQ(ds.train.y(0), 9);  // first training item is an ankle boot
}

}  // namespace
