#pragma once
/// \file tensor_view.hpp
/// Non-owning row-major views of the layers API: a layer reads its parameters from a slice
/// of one flat parameter vector (`ConstView<T, 1>`), writes its gradient into the same slice
/// of one flat gradient vector (`View<T, 1>`), and reads/writes activations as [B, features]
/// views (`View<T, 2>`) over buffers sized once for the largest batch. Making a view never
/// allocates.
///
/// These are the views of the L0 layers (saddle/problems/l0/tensor_view.hpp), made available
/// in saddle::nn:
///   View<T, N>, ConstView<T, N>, Shape<N>;
///   make_view(data, shape), make_cview(data, shape): a view over a raw buffer;
///   view(tensor), cview(tensor or view): a whole owning tensor (or a mutable view) as a view;
///   rows(m, b), crows(m, b): the first b rows of a [max_rows, F] buffer (InputError if b >
///   max_rows); slice(v, offset, n), cslice(v, offset, n): elements [offset, offset+n) of a flat
///   vector.

#include "saddle/problems/l0/tensor_view.hpp"

namespace saddle::nn {

using l0::ConstView;
using l0::crows;
using l0::cslice;
using l0::cview;
using l0::make_cview;
using l0::make_view;
using l0::rows;
using l0::Shape;
using l0::slice;
using l0::View;
using l0::view;

}  // namespace saddle::nn
