/// \file im2col.cpp
/// im2col and its adjoint col2im for batched valid convolutions, over all input channels or a
/// listed subset of them (GatedConv2d skips input maps that are known to be zero).

#include "saddle/nn/im2col.hpp"

#include <algorithm>

namespace saddle::nn {

namespace {

/// Channel of block r: channels[r], or r when every channel is used (channels == nullptr).
inline std::size_t channel_of(const std::size_t* channels, std::size_t r) {
  return channels != nullptr ? channels[r] : r;
}

// The innermost loops move one output row of Wo values. Runtime-length copies of 8 or 24
// floats (LeNet5's conv2 and conv1) cost more in call and loop overhead than in data, so the
// common widths get compile-time loops the compiler unrolls and vectorises.
template <std::size_t kWidth, class T>
void im2col_rows(const ConvGeometry& g, const T* x, std::size_t rows, const std::size_t* channels,
                 std::size_t n_ch, T* col) {
  const std::size_t k = g.kernel, out_h = g.out_height();
  const std::size_t out_w = kWidth != 0 ? kWidth : g.out_width();
  const std::size_t plane = g.plane();
  const std::size_t n = rows * plane;
  const std::size_t in_plane = g.height * g.width;
  const std::size_t in_feat = g.channels * in_plane;
  for (std::size_t r = 0; r < n_ch; ++r) {
    const std::size_t c = channel_of(channels, r);
    for (std::size_t i = 0; i < k; ++i) {
      for (std::size_t j = 0; j < k; ++j) {
        T* dst_row = col + ((r * k + i) * k + j) * n;
        for (std::size_t b = 0; b < rows; ++b) {
          const T* src = x + b * in_feat + c * in_plane + i * g.width + j;
          T* dst = dst_row + b * plane;
          for (std::size_t oh = 0; oh < out_h; ++oh) {
            const T* s = src + oh * g.width;
            T* d = dst + oh * out_w;
            for (std::size_t ow = 0; ow < out_w; ++ow) d[ow] = s[ow];
          }
        }
      }
    }
  }
}

template <std::size_t kWidth, class T>
void col2im_rows(const ConvGeometry& g, const T* dcol, std::size_t rows,
                 const std::size_t* channels, std::size_t n_ch, T* dx) {
  const std::size_t k = g.kernel, out_h = g.out_height();
  const std::size_t out_w = kWidth != 0 ? kWidth : g.out_width();
  const std::size_t plane = g.plane();
  const std::size_t n = rows * plane;
  const std::size_t in_plane = g.height * g.width;
  const std::size_t in_feat = g.channels * in_plane;
  std::fill(dx, dx + rows * in_feat, T(0));
  // Rows of dcol outermost: dcol (K x B*P, the large array) is read once, sequentially.
  for (std::size_t r = 0; r < n_ch; ++r) {
    const std::size_t c = channel_of(channels, r);
    for (std::size_t i = 0; i < k; ++i) {
      for (std::size_t j = 0; j < k; ++j) {
        const T* src_row = dcol + ((r * k + i) * k + j) * n;
        for (std::size_t b = 0; b < rows; ++b) {
          const T* src = src_row + b * plane;
          T* dst = dx + b * in_feat + c * in_plane + i * g.width + j;
          for (std::size_t oh = 0; oh < out_h; ++oh) {
            const T* s = src + oh * out_w;
            T* d = dst + oh * g.width;
            for (std::size_t ow = 0; ow < out_w; ++ow) d[ow] += s[ow];
          }
        }
      }
    }
  }
}

template <class T>
void im2col_impl(const ConvGeometry& g, const T* x, std::size_t rows, const std::size_t* channels,
                 std::size_t n_ch, T* col) {
  // col[(r*k+i)*k+j, b*P + oh*Wo + ow] = x[b, c_r, oh+i, ow+j].
  switch (g.out_width()) {
    case 8: return im2col_rows<8, T>(g, x, rows, channels, n_ch, col);
    case 24: return im2col_rows<24, T>(g, x, rows, channels, n_ch, col);
    default: return im2col_rows<0, T>(g, x, rows, channels, n_ch, col);
  }
}

template <class T>
void col2im_impl(const ConvGeometry& g, const T* dcol, std::size_t rows,
                 const std::size_t* channels, std::size_t n_ch, T* dx) {
  // dx[b, c, oh+i, ow+j] += dcol[(r*k+i)*k+j, b*P + oh*Wo + ow], c = channel of block r.
  switch (g.out_width()) {
    case 8: return col2im_rows<8, T>(g, dcol, rows, channels, n_ch, dx);
    case 24: return col2im_rows<24, T>(g, dcol, rows, channels, n_ch, dx);
    default: return col2im_rows<0, T>(g, dcol, rows, channels, n_ch, dx);
  }
}

}  // namespace

template <class T>
void im2col(const ConvGeometry& g, const T* x, std::size_t rows, T* col) {
  im2col_impl<T>(g, x, rows, nullptr, g.channels, col);
}

template <class T>
void col2im(const ConvGeometry& g, const T* dcol, std::size_t rows, T* dx) {
  col2im_impl<T>(g, dcol, rows, nullptr, g.channels, dx);
}

template <class T>
void im2col(const ConvGeometry& g, const T* x, std::size_t rows, const std::size_t* channels,
            std::size_t n, T* col) {
  im2col_impl<T>(g, x, rows, channels, n, col);
}

template <class T>
void col2im(const ConvGeometry& g, const T* dcol, std::size_t rows, const std::size_t* channels,
            std::size_t n, T* dx) {
  col2im_impl<T>(g, dcol, rows, channels, n, dx);
}

template void im2col<float>(const ConvGeometry&, const float*, std::size_t, float*);
template void im2col<double>(const ConvGeometry&, const double*, std::size_t, double*);
template void col2im<float>(const ConvGeometry&, const float*, std::size_t, float*);
template void col2im<double>(const ConvGeometry&, const double*, std::size_t, double*);
template void im2col<float>(const ConvGeometry&, const float*, std::size_t, const std::size_t*,
                            std::size_t, float*);
template void im2col<double>(const ConvGeometry&, const double*, std::size_t, const std::size_t*,
                             std::size_t, double*);
template void col2im<float>(const ConvGeometry&, const float*, std::size_t, const std::size_t*,
                            std::size_t, float*);
template void col2im<double>(const ConvGeometry&, const double*, std::size_t, const std::size_t*,
                             std::size_t, double*);

}  // namespace saddle::nn
