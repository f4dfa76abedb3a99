#pragma once
/// \file im2col.hpp
/// The im2col / col2im pair shared by the convolution layers (`nn::Conv2d`, and the gated
/// `l0::GatedConv2d`): a valid convolution (stride 1, no padding, square k x k kernel) over
/// a batch becomes one GEMM.
///
/// Layout: input rows are flattened NCHW maps, x: [B, C*H*W]. With K = C*k*k,
/// P = Ho*Wo (Ho = H-k+1, Wo = W-k+1) and n = B*P, the column matrix col: [K, n] holds
///   col[(c*k+i)*k+j, b*P + oh*Wo + ow] = x[b, c, oh+i, ow+j].
/// No function here allocates; the caller owns col (K*n values) and dx (B*C*H*W values).

#include <algorithm>
#include <cstddef>

namespace saddle::nn {

/// Sizes of one valid convolution: C x H x W input maps, k x k kernel.
struct ConvGeometry {
  std::size_t channels = 0;                                              ///< C
  std::size_t height = 0;                                                ///< H
  std::size_t width = 0;                                                 ///< W
  std::size_t kernel = 0;                                                ///< k
  std::size_t out_height() const { return height - kernel + 1; }         ///< Ho
  std::size_t out_width() const { return width - kernel + 1; }           ///< Wo
  std::size_t plane() const { return out_height() * out_width(); }       ///< P = Ho*Wo
  std::size_t patch() const { return channels * kernel * kernel; }       ///< K = C*k*k
  std::size_t in_features() const { return channels * height * width; }  ///< C*H*W
};

/// The packed map layout of the gated convolutions (GatedConv2d::packed_output): `n_maps` maps
/// of `rows` images, processed in blocks of `chunk` images (the last block may be shorter);
/// block q (images b0 = q*chunk .. b0+cb-1) holds a row-major [n_maps, cb*P] matrix, so the P
/// values of map a of image b start at n_maps*b0*P + (a*cb + b - b0)*P. With chunk >= rows this
/// is the plain [n_maps, rows*P] layout.
inline std::size_t packed_offset(std::size_t a, std::size_t b, std::size_t n_maps, std::size_t rows,
                                 std::size_t chunk, std::size_t plane) {
  const std::size_t b0 = b / chunk * chunk;
  const std::size_t cb = std::min(chunk, rows - b0);
  return n_maps * b0 * plane + (a * cb + b - b0) * plane;
}

/// col: [K, rows*P] <- the patches of x: [rows, C*H*W] (see the file comment). No allocation.
template <class T>
void im2col(const ConvGeometry& g, const T* x, std::size_t rows, T* col);

/// The adjoint of im2col: dx: [rows, C*H*W] <- sum of dcol: [K, rows*P] over the patches
/// each input pixel appears in (dx is overwritten). No allocation.
template <class T>
void col2im(const ConvGeometry& g, const T* dcol, std::size_t rows, T* dx);

/// im2col over a subset of the input channels: col: [n*k*k, rows*P], block r of k*k rows from
/// channel channels[r] (channels: [n], ascending). The other channels are not read. No allocation.
template <class T>
void im2col(const ConvGeometry& g, const T* x, std::size_t rows, const std::size_t* channels,
            std::size_t n, T* col);

/// The adjoint of that im2col: dx: [rows, C*H*W] is overwritten, with zeros in the channels
/// that are not listed. No allocation.
template <class T>
void col2im(const ConvGeometry& g, const T* dcol, std::size_t rows, const std::size_t* channels,
            std::size_t n, T* dx);

extern template void im2col<float>(const ConvGeometry&, const float*, std::size_t, float*);
extern template void im2col<double>(const ConvGeometry&, const double*, std::size_t, double*);
extern template void col2im<float>(const ConvGeometry&, const float*, std::size_t, float*);
extern template void col2im<double>(const ConvGeometry&, const double*, std::size_t, double*);
extern template void im2col<float>(const ConvGeometry&, const float*, std::size_t,
                                   const std::size_t*, std::size_t, float*);
extern template void im2col<double>(const ConvGeometry&, const double*, std::size_t,
                                    const std::size_t*, std::size_t, double*);
extern template void col2im<float>(const ConvGeometry&, const float*, std::size_t,
                                   const std::size_t*, std::size_t, float*);
extern template void col2im<double>(const ConvGeometry&, const double*, std::size_t,
                                    const std::size_t*, std::size_t, double*);

}  // namespace saddle::nn
