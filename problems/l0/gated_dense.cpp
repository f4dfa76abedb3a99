/// \file gated_dense.cpp
/// GatedDense: input-unit gates, compacted GEMMs over the non-zero gates only.

#include "saddle/problems/l0/gated_dense.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <xtensor-blas/xblas.hpp>

namespace saddle::l0 {

namespace {
std::string shape_str(std::size_t a, std::size_t b) {
  return "[" + std::to_string(a) + ", " + std::to_string(b) + "]";
}

// Column counts of packed GEMM outputs are padded to a multiple of 16. OpenBLAS 0.3.21's
// AVX-512 "small matrix" sgemm (used when M*N*K <= 1e6) mallocs a packing buffer on every call
// whose column count leaves a remainder of 1..8 modulo 16 (sgemm_small_kernel_nn; e.g. the MLP's
// fc2, 100 columns, with <= 78 open inputs): padded with zero columns, no call does.
constexpr std::size_t kColumnBlock = 16;
std::size_t padded(std::size_t n) { return (n + kColumnBlock - 1) / kColumnBlock * kColumnBlock; }
bool needs_padding(std::size_t n) { return n % kColumnBlock != 0 && n % kColumnBlock <= 8; }

// dw[o] = z * m[o] for o < n, and returns sum_o w[o] * m[o], summed in kLanes interleaved
// partial sums (then added pairwise in a fixed order): the compiler vectorises it without
// -ffast-math, and the result depends on n only, never on the thread or the batch split.
constexpr std::size_t kLanes = 16;
template <class T>
T scale_and_dot(T z, const T* __restrict m, const T* __restrict w, T* __restrict dw,
                std::size_t n) {
  T acc[kLanes] = {};
  std::size_t o = 0;
  for (; o + kLanes <= n; o += kLanes) {
    for (std::size_t l = 0; l < kLanes; ++l) {
      dw[o + l] = z * m[o + l];
      acc[l] += w[o + l] * m[o + l];
    }
  }
  for (std::size_t l = 0; o < n; ++o, ++l) {
    dw[o] = z * m[o];
    acc[l] += w[o] * m[o];
  }
  for (std::size_t half = kLanes / 2; half > 0; half /= 2)
    for (std::size_t l = 0; l < half; ++l) acc[l] += acc[l + half];
  return acc[0];
}

// The same over the listed columns: dw[cols[j]] = z * m[j], returns sum_j w[cols[j]] * m[j].
template <class T>
T scale_and_dot_cols(T z, const T* __restrict m, const T* __restrict w, T* __restrict dw,
                     const std::size_t* __restrict cols, std::size_t n) {
  T acc[kLanes] = {};
  std::size_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (std::size_t l = 0; l < kLanes; ++l) {
      const std::size_t c = cols[j + l];
      dw[c] = z * m[j + l];
      acc[l] += w[c] * m[j + l];
    }
  }
  for (std::size_t l = 0; j < n; ++j, ++l) {
    dw[cols[j]] = z * m[j];
    acc[l] += w[cols[j]] * m[j];
  }
  for (std::size_t half = kLanes / 2; half > 0; half /= 2)
    for (std::size_t l = 0; l < half; ++l) acc[l] += acc[l + half];
  return acc[0];
}
}  // namespace

template <class T>
GatedDense<T>::GatedDense(std::size_t in_features, std::size_t out_features,
                          std::uint64_t noise_stream)
    : GatedLayerBase<T>("GatedDense", in_features, out_features, out_features, in_features,
                        noise_stream),
      in_(in_features),
      out_(out_features) {
  if (in_ == 0 || out_ == 0) {
    throw InvalidOption("GatedDense " + shape_str(in_, out_) + ": sizes must be >= 1");
  }
  wz_packed_ = xt::xtensor<T, 1>::from_shape({in_ * padded(out_)});
  m_ = xt::xtensor<T, 1>::from_shape({in_ * padded(out_)});
  act_.reserve(in_);
  cols_.reserve(out_);
}

template <class T>
void GatedDense<T>::reserve(std::size_t max_batch) {
  max_batch_ = max_batch;
  x_packed_ = xt::xtensor<T, 1>::from_shape({max_batch * in_});
  h_ = xt::xtensor<T, 1>::from_shape({max_batch * in_});
  yp_ = xt::xtensor<T, 1>::from_shape({max_batch * padded(out_)});
  has_forward_ = false;
}

template <class T>
void GatedDense<T>::check_batch(std::size_t rows, const char* what) const {
  if (rows > max_batch_) {
    throw InputError(std::string("GatedDense ") + what + ": batch of " + std::to_string(rows) +
                     " rows exceeds reserve(" + std::to_string(max_batch_) + ")");
  }
}

template <class T>
void GatedDense<T>::init_parameters(View<T, 1> params, double droprate_init,
                                    std::mt19937_64& rng) const {
  check_params(params.size(), "init_parameters");
  if (!(droprate_init > 0.0 && droprate_init < 1.0)) {
    throw InvalidOption("droprate_init = " + std::to_string(droprate_init) + ": must be in (0, 1)");
  }
  // [GP] L0Linear: nn.Linear weight [out, in], kaiming_normal_(mode="fan_out") ->
  // std = sqrt(2/out); then divided by (1 - droprate_init). Our [in, out] layout holds the
  // transpose, which has the same i.i.d. distribution.
  const double w_std = std::sqrt(2.0 / static_cast<double>(out_)) / (1.0 - droprate_init);
  std::normal_distribution<double> w_dist(0.0, w_std);
  T* p = params.data();
  for (std::size_t j = 0; j < layout_.weight_size; ++j) {
    p[layout_.weight_offset + j] = static_cast<T>(w_dist(rng));
  }
  // Linear bias: N(0, 0.01^2), not rescaled (it is not gated).
  std::normal_distribution<double> b_dist(0.0, 0.01);
  for (std::size_t j = 0; j < layout_.bias_size; ++j) {
    p[layout_.bias_offset + j] = static_cast<T>(b_dist(rng));
  }
  init_log_alpha<T>(log_alpha(params), droprate_init, rng);
}

template <class T>
void GatedDense<T>::forward_train(ConstView<T, 1> params, ConstView<T, 2> input,
                                  std::uint64_t noise_seed, View<T, 2> output) {
  check_params(params.size(), "forward_train");
  gates_.sample(log_alpha(params), noise_seed, stream_);
  forward_core(params, input, output, ChannelHints{});
}

template <class T>
void GatedDense<T>::forward_eval(ConstView<T, 1> params, ConstView<T, 2> input, View<T, 2> output,
                                 TestGate gate) {
  check_params(params.size(), "forward_eval");
  gates_.set_test(log_alpha(params), gate);
  forward_core(params, input, output, ChannelHints{});
}

template <class T>
void GatedDense<T>::forward_gated(ConstView<T, 1> params, ConstView<T, 2> input,
                                  View<T, 2> output, const ChannelHints& hints) {
  check_params(params.size(), "forward_gated");
  forward_core(params, input, output, hints);
}

namespace {
// Checks that a hint list is ascending and below `limit`.
void check_hint(const std::vector<std::size_t>& list, std::size_t limit, const char* what) {
  for (std::size_t k = 0; k < list.size(); ++k) {
    if (list[k] >= limit || (k > 0 && list[k] <= list[k - 1])) {
      throw InputError(std::string("GatedDense forward: ") + what + " must be ascending and < " +
                       std::to_string(limit));
    }
  }
}
}  // namespace

template <class T>
void GatedDense<T>::forward_core(ConstView<T, 1> params, ConstView<T, 2> input,
                                 View<T, 2> output, const ChannelHints& hints) {
  const std::size_t rows = input.shape()[0];
  if (input.shape()[1] != in_ || output.shape()[0] != rows || output.shape()[1] != out_) {
    throw InputError("GatedDense " + shape_str(in_, out_) + " forward: input " +
                     shape_str(input.shape()[0], input.shape()[1]) + ", output " +
                     shape_str(output.shape()[0], output.shape()[1]));
  }
  check_batch(rows, "forward");

  // The computed inputs: non-zero gates, intersected with the open inputs (capacities
  // reserved in the constructor: no allocation).
  const auto& gact = gates_.active();
  act_.clear();
  if (hints.open_inputs != nullptr) {
    const auto& open = *hints.open_inputs;
    check_hint(open, in_, "open inputs");
    std::size_t j = 0;
    for (const std::size_t i : gact) {
      while (j < open.size() && open[j] < i) ++j;
      if (j < open.size() && open[j] == i) act_.push_back(i);
    }
  } else {
    act_.assign(gact.begin(), gact.end());
  }
  // Every column straight into the output, or the listed columns (all of them when the
  // output width needs padding) through the packed buffer.
  cols_.clear();
  const bool all = hints.needed_outputs == nullptr || hints.needed_outputs->size() == out_;
  all_cols_ = all && !needs_padding(out_);
  if (!all) {
    check_hint(*hints.needed_outputs, out_, "needed outputs");
    cols_.assign(hints.needed_outputs->begin(), hints.needed_outputs->end());
  } else if (!all_cols_) {
    for (std::size_t o = 0; o < out_; ++o) cols_.push_back(o);
  }
  batch_ = rows;
  has_forward_ = true;

  const T* w = params.data() + layout_.weight_offset;
  const T* b = params.data() + layout_.bias_offset;
  const T* z = gates_.z().data();
  const std::size_t n_act = act_.size();
  const std::size_t n_out = all_cols_ ? out_ : cols_.size();
  T* out = output.data();

  // x_a[:, k] = x[:, i]; kept for backward (dW and dz need the unscaled input).
  const T* x = input.data();
  T* xp = x_packed_.data();
  if (n_act == in_) {
    std::copy(x, x + rows * in_, xp);
  } else {
    for (std::size_t r = 0; r < rows; ++r) {
      const T* xr = x + r * in_;
      T* dr = xp + r * n_act;
      for (std::size_t k = 0; k < n_act; ++k) dr[k] = xr[act_[k]];
    }
  }

  if (all_cols_) {
    // out = b (broadcast over rows); the GEMM below adds x_a @ Wz_a with beta = 1.
    for (std::size_t r = 0; r < rows; ++r) std::copy(b, b + out_, out + r * out_);
    if (n_act == 0 || rows == 0) return;  // every gate is zero: out = b exactly
    // Wz_a[k,:] = z_i * W[i,:] for the k-th active gate i.
    T* wz = wz_packed_.data();
    for (std::size_t k = 0; k < n_act; ++k) {
      const std::size_t i = act_[k];
      const T zi = z[i];
      const T* src = w + i * out_;
      T* dst = wz + k * out_;
      for (std::size_t o = 0; o < out_; ++o) dst[o] = zi * src[o];
    }
    const auto xa = make_cview<T, 2>(xp, {rows, n_act});
    const auto wa = make_cview<T, 2>(wz, {n_act, out_});
    xt::blas::gemm(xa, wa, output, false, false, T(1), T(1));
    return;
  }

  // Only the needed columns, padded with zero columns to np (see kColumnBlock):
  // y_p = b[cols] + x_a Wz_a[:, cols], scattered; the other output columns are 0.
  // identity: every column, in order (only the width is padded): plain contiguous copies.
  const std::size_t np = padded(n_out);
  const bool identity = n_out == out_;
  T* yp = yp_.data();
  for (std::size_t r = 0; r < rows; ++r) {
    T* yr = yp + r * np;
    if (identity) {
      std::copy(b, b + out_, yr);
    } else {
      for (std::size_t j = 0; j < n_out; ++j) yr[j] = b[cols_[j]];
    }
    std::fill(yr + n_out, yr + np, T(0));
  }
  if (n_act > 0 && n_out > 0 && rows > 0) {
    T* wz = wz_packed_.data();
    for (std::size_t k = 0; k < n_act; ++k) {
      const std::size_t i = act_[k];
      const T zi = z[i];
      const T* src = w + i * out_;
      T* dst = wz + k * np;
      if (identity) {
        for (std::size_t j = 0; j < n_out; ++j) dst[j] = zi * src[j];
      } else {
        for (std::size_t j = 0; j < n_out; ++j) dst[j] = zi * src[cols_[j]];
      }
      std::fill(dst + n_out, dst + np, T(0));
    }
    const auto xa = make_cview<T, 2>(xp, {rows, n_act});
    const auto wa = make_cview<T, 2>(wz, {n_act, np});
    auto yv = make_view<T, 2>(yp, {rows, np});
    xt::blas::gemm(xa, wa, yv, false, false, T(1), T(1));
  }
  if (n_out < out_) std::fill(out, out + rows * out_, T(0));
  for (std::size_t r = 0; r < rows; ++r) {
    const T* yr = yp + r * np;
    T* orow = out + r * out_;
    if (identity) {
      std::copy(yr, yr + out_, orow);
    } else {
      for (std::size_t j = 0; j < n_out; ++j) orow[cols_[j]] = yr[j];
    }
  }
}

template <class T>
void GatedDense<T>::backward(ConstView<T, 1> params, ConstView<T, 2> grad_output,
                             View<T, 1> grad_params, View<T, 2> grad_input) {
  backward_core(params, grad_output, grad_params, &grad_input);
}

template <class T>
void GatedDense<T>::backward(ConstView<T, 1> params, ConstView<T, 2> grad_output,
                             View<T, 1> grad_params) {
  backward_core(params, grad_output, grad_params, nullptr);
}

template <class T>
void GatedDense<T>::backward_core(ConstView<T, 1> params, ConstView<T, 2> grad_output,
                                  View<T, 1> grad_params, View<T, 2>* grad_input) {
  if (!has_forward_) throw InputError("GatedDense backward: no forward pass since reserve()");
  check_params(params.size(), "backward params");
  check_params(grad_params.size(), "backward grad_params");
  const std::size_t rows = batch_;
  if (grad_output.shape()[0] != rows || grad_output.shape()[1] != out_) {
    throw InputError("GatedDense backward: grad_output " +
                     shape_str(grad_output.shape()[0], grad_output.shape()[1]) + ", expected " +
                     shape_str(rows, out_));
  }
  if (grad_input != nullptr && (grad_input->shape()[0] != rows || grad_input->shape()[1] != in_)) {
    throw InputError("GatedDense backward: grad_input " +
                     shape_str(grad_input->shape()[0], grad_input->shape()[1]) + ", expected " +
                     shape_str(rows, in_));
  }

  const T* w = params.data() + layout_.weight_offset;
  const T* z = gates_.z().data();
  const T* dzdla = gates_.dz().data();
  const std::size_t n_act = act_.size();
  const std::size_t n_out = all_cols_ ? out_ : cols_.size();
  const std::size_t np = all_cols_ ? out_ : padded(n_out);  // packed width (zero padding)
  T* dw = grad_params.data() + layout_.weight_offset;
  T* db = grad_params.data() + layout_.bias_offset;
  T* dla = grad_params.data() + layout_.log_alpha_offset;

  // dy of the computed columns: grad_output itself, or its needed columns packed.
  const T* dy = grad_output.data();
  const bool identity = n_out == out_;  // every column in order (all_cols_ or just padded)
  if (!all_cols_) {
    T* yp = yp_.data();
    for (std::size_t r = 0; r < rows; ++r) {
      const T* src = dy + r * out_;
      T* dst = yp + r * np;
      if (identity) {
        std::copy(src, src + out_, dst);
      } else {
        for (std::size_t j = 0; j < n_out; ++j) dst[j] = src[cols_[j]];
      }
      std::fill(dst + n_out, dst + np, T(0));
    }
    dy = yp;
  }
  const auto dyv = make_cview<T, 2>(dy, {rows, np});

  // db = column sums of dy (the bias is not gated). Accumulated in double. Columns that are
  // not needed have a zero grad_output, hence db = 0.
  if (!all_cols_) std::fill(db, db + out_, T(0));
  for (std::size_t j = 0; j < n_out; ++j) {
    double acc = 0.0;
    for (std::size_t r = 0; r < rows; ++r) acc += static_cast<double>(dy[r * np + j]);
    db[all_cols_ ? j : cols_[j]] = static_cast<T>(acc);
  }

  // Rows of zero gates (and of zero inputs): dW = 0, dlog_alpha = 0 (dz/dlog_alpha = 0 where
  // z is clamped at 0; a zero input column gives M = 0). Rows of computed inputs are zeroed
  // too when only some columns are computed.
  std::fill(dla, dla + in_, T(0));
  {
    std::size_t k = 0;
    for (std::size_t i = 0; i < in_; ++i) {
      if (k < n_act && act_[k] == i) {
        ++k;
        if (identity && rows > 0) continue;  // every column written below
      }
      std::fill(dw + i * out_, dw + (i + 1) * out_, T(0));
    }
  }

  if (n_act > 0 && rows > 0 && n_out > 0) {
    // M = x_a^T dy: [n_act, n_out]. dW[i, cols] = z_i M[k,:]; dz_i = <W[i, cols], M[k,:]>.
    const auto xa = make_cview<T, 2>(x_packed_.data(), {rows, n_act});
    auto mv = make_view<T, 2>(m_.data(), {n_act, np});
    xt::blas::gemm(xa, dyv, mv, true, false, T(1), T(0));
    const T* m = m_.data();
    for (std::size_t k = 0; k < n_act; ++k) {
      const std::size_t i = act_[k];
      const T zi = z[i];
      const T* mr = m + k * np;
      const T* wr = w + i * out_;
      T* dwr = dw + i * out_;
      T dz = T(0);
      if (identity) {
        dz = scale_and_dot(zi, mr, wr, dwr, out_);
      } else {
        dz = scale_and_dot_cols(zi, mr, wr, dwr, cols_.data(), n_out);
      }
      dla[i] = dz * dzdla[i];
    }
  } else if (all_cols_) {
    for (std::size_t k = 0; k < n_act; ++k) {
      std::fill(dw + act_[k] * out_, dw + (act_[k] + 1) * out_, T(0));
    }
  }

  if (grad_input == nullptr) return;
  T* dx = grad_input->data();
  if (n_act == 0 || rows == 0 || n_out == 0) {
    std::fill(dx, dx + rows * in_, T(0));
    return;
  }
  // dx_a = dy Wz_a^T: [rows, n_act]; written in place when every input is computed.
  const auto wa = make_cview<T, 2>(wz_packed_.data(), {n_act, np});
  if (n_act == in_) {
    xt::blas::gemm(dyv, wa, *grad_input, false, true, T(1), T(0));
    return;
  }
  auto hv = make_view<T, 2>(h_.data(), {rows, n_act});
  xt::blas::gemm(dyv, wa, hv, false, true, T(1), T(0));
  std::fill(dx, dx + rows * in_, T(0));
  const T* h = h_.data();
  for (std::size_t r = 0; r < rows; ++r) {
    const T* hr = h + r * n_act;
    T* dxr = dx + r * in_;
    for (std::size_t k = 0; k < n_act; ++k) dxr[act_[k]] = hr[k];
  }
}

template class GatedDense<float>;
template class GatedDense<double>;

}  // namespace saddle::l0
