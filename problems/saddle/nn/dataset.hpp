#pragma once
/// \file dataset.hpp
/// Image classification data sets for networks built with saddle::nn: the IDX reader and
/// writer (MNIST, Fashion-MNIST; plain or gzip) and the loader that turns the four files of
/// a data set into float32 matrices, made available in saddle::nn.
///
///   Dataset d = nn::load_dataset("fashion-mnist", "", nn::InputScaling::unit);
///   d.train.x: [60000, 784] float, d.train.y: [60000] int32 in 0..9; d.test likewise (10000).
///
/// "mnist" is looked up in the given folder (fetch it with scripts/fetch_mnist.sh DIR);
/// "fashion-mnist" in the given folder, then in /usr/share/datasets/fashion-mnist (Debian
/// package dataset-fashion-mnist). Missing or corrupt files throw InputError with one line
/// naming the file and what is wrong. The full contract is in saddle/problems/l0/dataset.hpp
/// and saddle/problems/l0/idx.hpp.

#include "saddle/problems/l0/dataset.hpp"
#include "saddle/problems/l0/idx.hpp"

namespace saddle::nn {

using l0::Dataset;
using l0::dataset_names;
using l0::dataset_search_dirs;
using l0::DatasetFiles;
using l0::DataSplit;
using l0::IdxImages;
using l0::IdxLabels;
using l0::InputScaling;
using l0::kDebianFashionMnistDir;
using l0::kNumClasses;
using l0::load_dataset;
using l0::load_dataset_files;
using l0::locate_dataset;
using l0::read_idx_images;
using l0::read_idx_labels;
using l0::write_idx_images;
using l0::write_idx_labels;

}  // namespace saddle::nn
