#pragma once
/// \file tensor_view.hpp
/// Non-owning row-major views used by the L0 kernels: every layer reads its parameters from a
/// slice of one flat parameter vector, writes its gradient into the same slice of one flat
/// gradient vector, and reads/writes activations as [B, features] views over buffers sized
/// once for the largest batch. Making a view never allocates (pointer + shape on the stack).

#include <array>
#include <cstddef>
#include <string>

#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>

#include "saddle/types.hpp"

namespace saddle::l0 {

/// Mutable row-major view of N dimensions over a contiguous buffer it does not own.
template <class T, std::size_t N>
using View =
    xt::xtensor_adaptor<xt::xbuffer_adaptor<T*, xt::no_ownership>, N, xt::layout_type::row_major>;

/// Read-only row-major view of N dimensions over a contiguous buffer it does not own.
template <class T, std::size_t N>
using ConstView =
    xt::xtensor_adaptor<xt::xbuffer_adaptor<const T*, xt::no_ownership, std::allocator<T>>, N,
                        xt::layout_type::row_major>;

/// Shape type of a view.
template <std::size_t N>
using Shape = std::array<std::size_t, N>;

namespace detail {
template <std::size_t N>
constexpr std::size_t shape_size(const Shape<N>& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}
}  // namespace detail

/// View of `shape` over `data` (which must hold at least prod(shape) elements). No allocation.
template <class T, std::size_t N>
View<T, N> make_view(T* data, const Shape<N>& shape) {
  return View<T, N>(xt::xbuffer_adaptor<T*, xt::no_ownership>(data, detail::shape_size(shape)),
                    shape);
}

/// Read-only view of `shape` over `data`. No allocation.
template <class T, std::size_t N>
ConstView<T, N> make_cview(const T* data, const Shape<N>& shape) {
  return ConstView<T, N>(xt::xbuffer_adaptor<const T*, xt::no_ownership, std::allocator<T>>(
                             data, detail::shape_size(shape)),
                         shape);
}

/// Whole-tensor views of an owning tensor (row-major, contiguous). No allocation.
template <class T, std::size_t N>
View<T, N> view(xt::xtensor<T, N>& t) {
  Shape<N> shape;
  for (std::size_t d = 0; d < N; ++d) shape[d] = t.shape()[d];
  return make_view<T, N>(t.data(), shape);
}
template <class T, std::size_t N>
ConstView<T, N> cview(const xt::xtensor<T, N>& t) {
  Shape<N> shape;
  for (std::size_t d = 0; d < N; ++d) shape[d] = t.shape()[d];
  return make_cview<T, N>(t.data(), shape);
}
/// Read-only copy of a mutable view (same memory). No allocation.
template <class T, std::size_t N>
ConstView<T, N> cview(const View<T, N>& v) {
  Shape<N> shape;
  for (std::size_t d = 0; d < N; ++d) shape[d] = v.shape()[d];
  return make_cview<T, N>(v.data(), shape);
}

/// The first `n_rows` rows of a [max_rows, F] buffer as a [n_rows, F] view: how a batch of
/// B <= max_rows examples uses a buffer sized for the largest batch. Throws InputError if
/// n_rows > max_rows. No allocation.
template <class T>
View<T, 2> rows(xt::xtensor<T, 2>& m, std::size_t n_rows) {
  if (n_rows > m.shape()[0]) {
    throw InputError("rows(): " + std::to_string(n_rows) + " rows requested from a buffer of " +
                     std::to_string(m.shape()[0]));
  }
  return make_view<T, 2>(m.data(), {n_rows, m.shape()[1]});
}
template <class T>
ConstView<T, 2> crows(const xt::xtensor<T, 2>& m, std::size_t n_rows) {
  if (n_rows > m.shape()[0]) {
    throw InputError("crows(): " + std::to_string(n_rows) + " rows requested from a buffer of " +
                     std::to_string(m.shape()[0]));
  }
  return make_cview<T, 2>(m.data(), {n_rows, m.shape()[1]});
}

/// Elements [offset, offset + n) of a flat vector (a layer's parameter or gradient slice).
/// Throws InputError if the range is out of bounds. No allocation.
template <class T>
View<T, 1> slice(xt::xtensor<T, 1>& v, std::size_t offset, std::size_t n) {
  if (offset + n > v.size()) {
    throw InputError("slice(): [" + std::to_string(offset) + ", " + std::to_string(offset + n) +
                     ") out of a vector of " + std::to_string(v.size()));
  }
  return make_view<T, 1>(v.data() + offset, {n});
}
template <class T>
ConstView<T, 1> cslice(const xt::xtensor<T, 1>& v, std::size_t offset, std::size_t n) {
  if (offset + n > v.size()) {
    throw InputError("cslice(): [" + std::to_string(offset) + ", " + std::to_string(offset + n) +
                     ") out of a vector of " + std::to_string(v.size()));
  }
  return make_cview<T, 1>(v.data() + offset, {n});
}

}  // namespace saddle::l0
