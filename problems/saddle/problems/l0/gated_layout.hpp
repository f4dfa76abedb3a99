#pragma once
/// \file gated_layout.hpp
/// Where a gated layer keeps its three parameter groups inside its slice of the flat
/// parameter vector (the same offsets index the flat gradient vector).

#include <cstddef>

namespace saddle::l0 {

/// Offsets (relative to the start of the layer's slice) and sizes of the parameter groups
/// of a gated layer. Order inside the slice: [ weight | bias | log_alpha ].
struct GatedLayout {
  std::size_t weight_offset = 0;     ///< first weight
  std::size_t weight_size = 0;       ///< number of weights
  std::size_t bias_offset = 0;       ///< first bias
  std::size_t bias_size = 0;         ///< number of biases
  std::size_t log_alpha_offset = 0;  ///< first gate parameter
  std::size_t log_alpha_size = 0;    ///< number of gates
  std::size_t total = 0;             ///< size of the whole slice (num_parameters())
};

}  // namespace saddle::l0
