/// \file gated_dense.cpp
/// GatedDense: input-unit gates, compacted GEMMs over the non-zero gates only.

#include "saddle/problems/l0/gated_dense.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <xtensor-blas/xblas.hpp>

#include "saddle/range_runner.hpp"

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

// Granularity of a split of a GEMM's columns over `parts` workers: kColumnBlock while a part
// could fall under OpenBLAS's small-matrix path (M*N*K <= 1e6, see above), finer above it
// (4 columns), where the column count is free and an even split balances the workers
// (the MLP's first layer: 300 columns as 152 + 148 rather than 160 + 140).
std::size_t split_block(std::size_t rows, std::size_t columns, std::size_t inner,
                        std::size_t parts) {
  constexpr double kSmallGemm = 2e6;  // twice OpenBLAS's threshold: a safe margin
  const double per_part = static_cast<double>(rows) * static_cast<double>(inner) *
                          static_cast<double>(columns) / static_cast<double>(parts);
  return per_part > kSmallGemm ? 4 : kColumnBlock;
}

// C = alpha op(A) op(B) + beta C on row-major blocks given by pointer and leading dimension
// (the call xt::blas::gemm makes for whole tensors; here also for column or row blocks of
// one). m, n > 0 and k > 0.
template <class T>
void gemm_rm(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha,
             const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c,
             std::size_t ldc) {
  using I = xt::blas_index_t;
  cxxblas::gemm<I>(cxxblas::StorageOrder::RowMajor,
                   trans_a ? cxxblas::Transpose::Trans : cxxblas::Transpose::NoTrans,
                   trans_b ? cxxblas::Transpose::Trans : cxxblas::Transpose::NoTrans,
                   static_cast<I>(m), static_cast<I>(n), static_cast<I>(k), alpha, a,
                   static_cast<I>(lda), b, static_cast<I>(ldb), beta, c, static_cast<I>(ldc));
}

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
  this->sample_gates(params, noise_seed);  // checks the slice; splits over the runner if any
  forward_core(params, input, output, ChannelHints{});
}

template <class T>
void GatedDense<T>::forward_eval(ConstView<T, 1> params, ConstView<T, 2> input, View<T, 2> output,
                                 TestGate gate) {
  this->set_test_gates(params, gate);
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
  const T* x = input.data();
  T* xp = x_packed_.data();
  // x_a = x[:, act]: kept for backward (dW and dz need the unscaled input). With every input
  // computed the GEMM reads the input itself and the copy is made beside it; otherwise (or
  // when the output overlaps the input) the gathered x_a must be complete before any part
  // writes an output or a GEMM reads x_a (a phase of its own).
  const T* out_end = out + rows * out_;
  const bool overlap = rows > 0 && x < out_end && out < x + rows * in_;
  const bool direct = n_act == in_ && !overlap;
  if (!direct && n_act > 0 && rows > 0) {
    auto gather = [&](std::size_t part, std::size_t parts) {
      const IndexRange rr = block_range(rows, part, parts, 1);
      for (std::size_t r = rr.begin; r < rr.end; ++r) {
        const T* xr = x + r * in_;
        T* dr = xp + r * n_act;
        for (std::size_t k = 0; k < n_act; ++k) dr[k] = xr[act_[k]];
      }
    };
    for_parts(runner_, gather);
  }
  const T* xa = direct ? x : xp;  // [rows, n_act], leading dimension n_act (= in_ if direct)
  auto copy_rows = [&](std::size_t part, std::size_t parts) {
    if (!direct) return;
    const IndexRange rr = block_range(rows, part, parts, 1);
    std::copy(x + rr.begin * in_, x + rr.end * in_, xp + rr.begin * in_);
  };

  if (all_cols_) {
    // out = b (broadcast over rows); the GEMM adds x_a @ Wz_a with beta = 1, where
    // Wz_a[k,:] = z_i * W[i,:] for the k-th active gate i. Part p: the columns [j0, j1).
    auto columns = [&](std::size_t part, std::size_t parts) {
      copy_rows(part, parts);
      const IndexRange jr = block_range(out_, part, parts, split_block(rows, out_, n_act, parts));
      const std::size_t j0 = jr.begin, nj = jr.end - jr.begin;
      for (std::size_t r = 0; r < rows; ++r) std::copy(b + j0, b + j0 + nj, out + r * out_ + j0);
      if (n_act == 0 || rows == 0 || nj == 0) return;  // every gate is zero: out = b exactly
      T* wz = wz_packed_.data();
      for (std::size_t k = 0; k < n_act; ++k) {
        const T zi = z[act_[k]];
        const T* src = w + act_[k] * out_ + j0;
        T* dst = wz + k * out_ + j0;
        for (std::size_t o = 0; o < nj; ++o) dst[o] = zi * src[o];
      }
      gemm_rm(false, false, rows, nj, n_act, T(1), xa, n_act, wz + j0, out_, T(1), out + j0, out_);
    };
    for_parts(runner_, columns);
    return;
  }

  // Only the needed columns, padded with zero columns to np (see kColumnBlock):
  // y_p = b[cols] + x_a Wz_a[:, cols], scattered; the other output columns are 0.
  // identity: every column, in order (only the width is padded): plain contiguous copies.
  // Part p computes the packed columns [j0, j1) and writes the output columns
  // [col(j0), col(j1)) (the first part from 0, the last up to out_): disjoint spans.
  const std::size_t np = padded(n_out);
  const bool identity = n_out == out_;
  auto col = [&](std::size_t j) { return j >= n_out ? out_ : (identity ? j : cols_[j]); };
  auto columns = [&](std::size_t part, std::size_t parts) {
    copy_rows(part, parts);
    const IndexRange jr = block_range(np, part, parts, split_block(rows, np, n_act, parts));
    const std::size_t j0 = jr.begin, j1 = jr.end, nj = j1 - j0;
    const std::size_t jn = std::min(j1, n_out);  // end of the real (unpadded) columns
    T* yp = yp_.data();
    for (std::size_t r = 0; r < rows; ++r) {
      T* yr = yp + r * np;
      for (std::size_t j = j0; j < jn; ++j) yr[j] = b[col(j)];
      for (std::size_t j = std::max(j0, jn); j < j1; ++j) yr[j] = T(0);
    }
    if (n_act > 0 && n_out > 0 && rows > 0 && nj > 0) {
      T* wz = wz_packed_.data();
      for (std::size_t k = 0; k < n_act; ++k) {
        const T zi = z[act_[k]];
        const T* src = w + act_[k] * out_;
        T* dst = wz + k * np;
        if (identity) {
          for (std::size_t j = j0; j < jn; ++j) dst[j] = zi * src[j];
        } else {
          for (std::size_t j = j0; j < jn; ++j) dst[j] = zi * src[cols_[j]];
        }
        for (std::size_t j = std::max(j0, jn); j < j1; ++j) dst[j] = T(0);
      }
      gemm_rm(false, false, rows, nj, n_act, T(1), xa, n_act, wz + j0, np, T(1), yp + j0, np);
    }
    const std::size_t o0 = part == 0 ? 0 : col(j0);
    const std::size_t o1 = part + 1 == parts ? out_ : col(j1);
    for (std::size_t r = 0; r < rows; ++r) {
      const T* yr = yp + r * np;
      T* orow = out + r * out_;
      if (n_out < out_) std::fill(orow + o0, orow + o1, T(0));
      if (identity) {
        std::copy(yr + j0, yr + jn, orow + j0);
      } else {
        for (std::size_t j = j0; j < jn; ++j) orow[cols_[j]] = yr[j];
      }
    }
  };
  for_parts(runner_, columns);
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
  const bool identity = n_out == out_;  // every column in order (all_cols_ or just padded)
  auto col = [&](std::size_t j) { return j >= n_out ? out_ : (identity ? j : cols_[j]); };

  // db[col(j)] = column sums of dy (the bias is not gated), accumulated in double, for the
  // packed columns [j0, j1); part p also writes db's zeros of the columns that are not
  // computed in its output span [col(j0), col(j1)) (their grad_output is zero).
  auto bias = [&](const T* dyp, std::size_t j0, std::size_t j1, std::size_t part,
                  std::size_t parts) {
    if (!all_cols_) {
      const std::size_t o0 = part == 0 ? 0 : col(j0);
      const std::size_t o1 = part + 1 == parts ? out_ : col(j1);
      std::fill(db + o0, db + o1, T(0));
    }
    for (std::size_t j = j0; j < std::min(j1, n_out); ++j) {
      double acc = 0.0;
      for (std::size_t r = 0; r < rows; ++r) acc += static_cast<double>(dyp[r * np + j]);
      db[col(j)] = static_cast<T>(acc);
    }
  };

  // dy of the computed columns: grad_output itself, or its needed columns packed (a phase of
  // its own: the GEMMs below read every column).
  const T* dy = grad_output.data();
  if (!all_cols_) {
    T* yp = yp_.data();
    auto pack = [&](std::size_t part, std::size_t parts) {
      const IndexRange jr = block_range(np, part, parts, kColumnBlock);
      const std::size_t j0 = jr.begin, j1 = jr.end, jn = std::min(j1, n_out);
      for (std::size_t r = 0; r < rows; ++r) {
        const T* src = dy + r * out_;
        T* dst = yp + r * np;
        for (std::size_t j = j0; j < jn; ++j) dst[j] = src[col(j)];
        for (std::size_t j = std::max(j0, jn); j < j1; ++j) dst[j] = T(0);
      }
      bias(yp, j0, j1, part, parts);
    };
    for_parts(runner_, pack);
    dy = yp;
  }

  // Part p: the active inputs k in [k0, k1), i.e. the input rows [i0, i1) (from act[k0] to
  // act[k1]; the first part from 0, the last up to in_): disjoint rows of dW, dlog_alpha and
  // columns of dx.
  //   M[k0:k1] = x_a[:, k0:k1]^T dy: [k1 - k0, np];  dW[i, cols] = z_i M[k,:];
  //   dz_i = <W[i, cols], M[k,:]>;  dx_a[:, k0:k1] = dy Wz_a[k0:k1]^T.
  // Rows of zero gates (and of zero inputs): dW = 0, dlog_alpha = 0 (dz/dlog_alpha = 0 where
  // z is clamped at 0; a zero input column gives M = 0). Rows of computed inputs are zeroed
  // too when only some columns are computed.
  const T* xa = x_packed_.data();
  const T* wz = wz_packed_.data();
  T* dx = grad_input != nullptr ? grad_input->data() : nullptr;
  const bool compute = n_act > 0 && rows > 0 && n_out > 0;
  auto inputs = [&](std::size_t part, std::size_t parts) {
    if (all_cols_) {
      const IndexRange jr = block_range(out_, part, parts, kColumnBlock);
      bias(dy, jr.begin, jr.end, part, parts);
    }
    // The k blocks are the columns of dx's GEMM (M's GEMM has np columns whatever the split).
    const IndexRange kr = block_range(n_act, part, parts, split_block(rows, n_act, np, parts));
    const std::size_t k0 = kr.begin, k1 = kr.end;
    const std::size_t i0 = part == 0 ? 0 : (k0 < n_act ? act_[k0] : in_);
    const std::size_t i1 = part + 1 == parts ? in_ : (k1 < n_act ? act_[k1] : in_);
    std::fill(dla + i0, dla + i1, T(0));
    for (std::size_t i = i0, k = k0; i < i1; ++i) {
      if (k < k1 && act_[k] == i) {
        ++k;
        if (identity && rows > 0) continue;  // every column written below
      }
      std::fill(dw + i * out_, dw + (i + 1) * out_, T(0));
    }
    if (compute && k1 > k0) {
      T* m = m_.data();
      gemm_rm(true, false, k1 - k0, np, rows, T(1), xa + k0, n_act, dy, np, T(0), m + k0 * np, np);
      for (std::size_t k = k0; k < k1; ++k) {
        const std::size_t i = act_[k];
        const T* mr = m + k * np;
        T* dwr = dw + i * out_;
        const T dz = identity
                         ? scale_and_dot(z[i], mr, w + i * out_, dwr, out_)
                         : scale_and_dot_cols(z[i], mr, w + i * out_, dwr, cols_.data(), n_out);
        dla[i] = dz * dzdla[i];
      }
    } else if (all_cols_) {
      for (std::size_t k = k0; k < k1; ++k)
        std::fill(dw + act_[k] * out_, dw + (act_[k] + 1) * out_, T(0));
    }

    if (dx == nullptr) return;
    if (!compute) {
      for (std::size_t r = 0; r < rows; ++r) std::fill(dx + r * in_ + i0, dx + r * in_ + i1, T(0));
      return;
    }
    if (n_act == in_) {  // written in place
      if (k1 > k0)
        gemm_rm(false, true, rows, k1 - k0, np, T(1), dy, np, wz + k0 * np, np, T(0), dx + k0, in_);
      return;
    }
    T* h = h_.data();
    if (k1 > k0)
      gemm_rm(false, true, rows, k1 - k0, np, T(1), dy, np, wz + k0 * np, np, T(0), h + k0, n_act);
    for (std::size_t r = 0; r < rows; ++r) {
      const T* hr = h + r * n_act;
      T* dxr = dx + r * in_;
      std::fill(dxr + i0, dxr + i1, T(0));
      for (std::size_t k = k0; k < k1; ++k) dxr[act_[k]] = hr[k];
    }
  };
  for_parts(runner_, inputs);
}

template class GatedDense<float>;
template class GatedDense<double>;

}  // namespace saddle::l0
