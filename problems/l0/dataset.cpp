#include "saddle/problems/l0/dataset.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <array>
#include <filesystem>
#include <system_error>

#include "saddle/types.hpp"

namespace saddle::l0 {
namespace {

namespace fs = std::filesystem;

constexpr std::array<const char*, 4> kFileNames = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte"};

void check_name(const std::string& name) {
  if (name != "mnist" && name != "fashion-mnist") {
    throw InvalidOption("unknown dataset '" + name + "' (choices: mnist, fashion-mnist)");
  }
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

const char* to_string(InputScaling scaling) {
  return scaling == InputScaling::unit ? "unit" : "standardize";
}

InputScaling parse_input_scaling(const std::string& name) {
  if (name == "unit") return InputScaling::unit;
  if (name == "standardize") return InputScaling::standardize;
  throw InvalidOption("input scaling '" + name + "': unknown (choices: unit, standardize)");
}

float scale_pixel(std::uint8_t pixel, InputScaling scaling) {
  const float x = static_cast<float>(pixel) / 255.0f;
  if (scaling == InputScaling::unit) return x;
  return (x - kMnistMean) / kMnistStd;
}

std::vector<std::string> dataset_names() { return {"mnist", "fashion-mnist"}; }

std::vector<std::string> dataset_search_dirs(const std::string& name, const std::string& data_dir) {
  check_name(name);
  std::vector<std::string> dirs;
  if (!data_dir.empty()) dirs.push_back(data_dir);
  if (name == "fashion-mnist" && data_dir != kDebianFashionMnistDir) {
    dirs.push_back(kDebianFashionMnistDir);
  }
  return dirs;
}

DatasetFiles locate_dataset(const std::string& name, const std::vector<std::string>& dirs) {
  check_name(name);
  const bool prefer_gz = name == "fashion-mnist";
  // Missing files of the most complete folder, for the error message.
  std::vector<std::string> best_missing;
  std::string best_dir;
  std::size_t best_found = 0;
  for (const std::string& dir : dirs) {
    std::array<std::string, 4> found;
    std::vector<std::string> missing;
    for (std::size_t i = 0; i < kFileNames.size(); ++i) {
      const fs::path plain = fs::path(dir) / kFileNames[i];
      const fs::path gz = fs::path(dir) / (std::string(kFileNames[i]) + ".gz");
      const fs::path& first = prefer_gz ? gz : plain;
      const fs::path& second = prefer_gz ? plain : gz;
      if (is_file(first)) {
        found[i] = first.string();
      } else if (is_file(second)) {
        found[i] = second.string();
      } else {
        missing.push_back(std::string(kFileNames[i]) + "[.gz]");
      }
    }
    if (missing.empty()) return DatasetFiles{dir, found[0], found[1], found[2], found[3]};
    const std::size_t n_found = kFileNames.size() - missing.size();
    if (best_dir.empty() || n_found > best_found) {
      best_dir = dir;
      best_missing = missing;
      best_found = n_found;
    }
  }
  std::string msg = name + ": ";
  if (dirs.empty()) {
    msg += "no data directory given";
  } else {
    msg += "not found in " + join(dirs) + " (" + best_dir + " lacks " + join(best_missing) + ")";
  }
  if (name == "mnist") {
    const std::string target = dirs.empty() ? "data/mnist" : dirs.front();
    msg += "; fetch it with: scripts/fetch_mnist.sh " + target;
  } else {
    msg += "; install it with: apt-get install dataset-fashion-mnist (files go to " +
           std::string(kDebianFashionMnistDir) + ")";
  }
  throw InputError(msg);
}

namespace {
// Minibatches read rows scattered over the whole training set (188 MB for MNIST): with 4 KB
// pages nearly every row costs a TLB miss. Asks Linux for transparent huge pages over the
// buffer (before its first touch); a no-op elsewhere or when the kernel declines.
void advise_huge_pages(void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t kHuge = std::uintptr_t{1} << 21;
  const auto begin = (reinterpret_cast<std::uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}
}  // namespace

DataSplit make_split(const IdxImages& images, const IdxLabels& labels, InputScaling scaling,
                     const std::string& images_path, const std::string& labels_path) {
  const std::size_t n = images.count;
  const std::size_t d = images.rows * images.cols;
  if (labels.labels.size() != n) {
    throw InputError(images_path + " has " + std::to_string(n) + " images but " + labels_path +
                     " has " + std::to_string(labels.labels.size()) + " labels: count mismatch");
  }
  if (images.pixels.size() != n * d) {
    throw InputError(images_path + ": " + std::to_string(images.pixels.size()) +
                     " pixels, expected count*rows*cols = " + std::to_string(n * d));
  }
  DataSplit split;
  split.y = xt::xtensor<std::int32_t, 1>::from_shape({n});
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t label = labels.labels[i];
    if (label >= kNumClasses) {
      throw InputError(labels_path + ": label " + std::to_string(label) + " at index " +
                       std::to_string(i) + " is not in 0.." + std::to_string(kNumClasses - 1));
    }
    split.y(i) = label;
  }
  // Same float32 operations as scale_pixel, written as two plain loops so they vectorize
  // (a 256-entry table lookup would be a gather).
  split.x = xt::xtensor<float, 2>::from_shape({n, d});
  float* dst = split.x.data();
  advise_huge_pages(dst, n * d * sizeof(float));
  const std::uint8_t* src = images.pixels.data();
  const std::size_t total = n * d;
  if (scaling == InputScaling::unit) {
    for (std::size_t k = 0; k < total; ++k) dst[k] = static_cast<float>(src[k]) / 255.0f;
  } else {
    for (std::size_t k = 0; k < total; ++k) {
      dst[k] = (static_cast<float>(src[k]) / 255.0f - kMnistMean) / kMnistStd;
    }
  }
  return split;
}

Dataset load_dataset_files(const std::string& name, const DatasetFiles& files,
                           InputScaling scaling) {
  Dataset ds;
  ds.name = name;
  ds.directory = files.directory;
  ds.scaling = scaling;
  {
    const IdxImages images = read_idx_images(files.train_images);
    const IdxLabels labels = read_idx_labels(files.train_labels);
    ds.rows = images.rows;
    ds.cols = images.cols;
    ds.train = make_split(images, labels, scaling, files.train_images, files.train_labels);
  }
  {
    const IdxImages images = read_idx_images(files.test_images);
    const IdxLabels labels = read_idx_labels(files.test_labels);
    if (images.rows != ds.rows || images.cols != ds.cols) {
      throw InputError(files.test_images + ": images are " + std::to_string(images.rows) + "x" +
                       std::to_string(images.cols) + " but the training images (" +
                       files.train_images + ") are " + std::to_string(ds.rows) + "x" +
                       std::to_string(ds.cols));
    }
    ds.test = make_split(images, labels, scaling, files.test_images, files.test_labels);
  }
  return ds;
}

Dataset load_dataset(const std::string& name, const std::string& data_dir, InputScaling scaling) {
  return load_dataset_files(name, locate_dataset(name, dataset_search_dirs(name, data_dir)),
                            scaling);
}

}  // namespace saddle::l0
