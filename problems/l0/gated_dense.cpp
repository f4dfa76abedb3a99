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
  wz_packed_ = xt::xtensor<T, 1>::from_shape({in_ * out_});
  m_ = xt::xtensor<T, 1>::from_shape({in_ * out_});
}

template <class T>
void GatedDense<T>::reserve(std::size_t max_batch) {
  max_batch_ = max_batch;
  x_packed_ = xt::xtensor<T, 1>::from_shape({max_batch * in_});
  h_ = xt::xtensor<T, 1>::from_shape({max_batch * in_});
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
  forward_core(params, input, output);
}

template <class T>
void GatedDense<T>::forward_eval(ConstView<T, 1> params, ConstView<T, 2> input, View<T, 2> output,
                                 TestGate gate) {
  check_params(params.size(), "forward_eval");
  gates_.set_test(log_alpha(params), gate);
  forward_core(params, input, output);
}

template <class T>
void GatedDense<T>::forward_core(ConstView<T, 1> params, ConstView<T, 2> input, View<T, 2> output) {
  const std::size_t rows = input.shape()[0];
  if (input.shape()[1] != in_ || output.shape()[0] != rows || output.shape()[1] != out_) {
    throw InputError("GatedDense " + shape_str(in_, out_) + " forward: input " +
                     shape_str(input.shape()[0], input.shape()[1]) + ", output " +
                     shape_str(output.shape()[0], output.shape()[1]));
  }
  check_batch(rows, "forward");
  batch_ = rows;
  has_forward_ = true;

  const T* w = params.data() + layout_.weight_offset;
  const T* b = params.data() + layout_.bias_offset;
  const T* z = gates_.z().data();
  const auto& act = gates_.active();
  const std::size_t n_act = act.size();

  // out = b (broadcast over rows); the GEMM below adds x_a @ Wz_a with beta = 1.
  T* out = output.data();
  for (std::size_t r = 0; r < rows; ++r) std::copy(b, b + out_, out + r * out_);
  if (n_act == 0 || rows == 0) return;  // every gate is zero: out = b exactly

  // Wz_a[k,:] = z_i * W[i,:] for the k-th active gate i.
  T* wz = wz_packed_.data();
  for (std::size_t k = 0; k < n_act; ++k) {
    const std::size_t i = act[k];
    const T zi = z[i];
    const T* src = w + i * out_;
    T* dst = wz + k * out_;
    for (std::size_t o = 0; o < out_; ++o) dst[o] = zi * src[o];
  }
  // x_a[:, k] = x[:, i]; kept for backward (dW and dz need the unscaled input).
  const T* x = input.data();
  T* xp = x_packed_.data();
  if (n_act == in_) {
    std::copy(x, x + rows * in_, xp);
  } else {
    for (std::size_t r = 0; r < rows; ++r) {
      const T* xr = x + r * in_;
      T* dr = xp + r * n_act;
      for (std::size_t k = 0; k < n_act; ++k) dr[k] = xr[act[k]];
    }
  }
  const auto xa = make_cview<T, 2>(xp, {rows, n_act});
  const auto wa = make_cview<T, 2>(wz, {n_act, out_});
  xt::blas::gemm(xa, wa, output, false, false, T(1), T(1));
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
  const auto& act = gates_.active();
  const std::size_t n_act = act.size();
  const T* dy = grad_output.data();
  T* dw = grad_params.data() + layout_.weight_offset;
  T* db = grad_params.data() + layout_.bias_offset;
  T* dla = grad_params.data() + layout_.log_alpha_offset;

  // db = column sums of dy (the bias is not gated). Accumulated in double.
  for (std::size_t o = 0; o < out_; ++o) {
    double acc = 0.0;
    for (std::size_t r = 0; r < rows; ++r) acc += static_cast<double>(dy[r * out_ + o]);
    db[o] = static_cast<T>(acc);
  }

  // Rows of zero gates: dW = 0, dlog_alpha = 0 (dz/dlog_alpha = 0 where z is clamped at 0).
  std::fill(dla, dla + in_, T(0));
  {
    std::size_t k = 0;
    for (std::size_t i = 0; i < in_; ++i) {
      if (k < n_act && act[k] == i) {
        ++k;
      } else {
        std::fill(dw + i * out_, dw + (i + 1) * out_, T(0));
      }
    }
  }

  if (n_act > 0 && rows > 0) {
    // M = x_a^T dy: [n_act, out]. dW[i,:] = z_i M[k,:]; dz_i = <W[i,:], M[k,:]>.
    const auto xa = make_cview<T, 2>(x_packed_.data(), {rows, n_act});
    auto mv = make_view<T, 2>(m_.data(), {n_act, out_});
    xt::blas::gemm(xa, grad_output, mv, true, false, T(1), T(0));
    const T* m = m_.data();
    for (std::size_t k = 0; k < n_act; ++k) {
      const std::size_t i = act[k];
      const T zi = z[i];
      const T* mr = m + k * out_;
      const T* wr = w + i * out_;
      T* dwr = dw + i * out_;
      T dz = T(0);
      for (std::size_t o = 0; o < out_; ++o) {
        dwr[o] = zi * mr[o];
        dz += wr[o] * mr[o];
      }
      dla[i] = dz * dzdla[i];
    }
  } else {
    for (std::size_t k = 0; k < n_act; ++k) {
      std::fill(dw + act[k] * out_, dw + (act[k] + 1) * out_, T(0));
    }
  }

  if (grad_input == nullptr) return;
  T* dx = grad_input->data();
  if (n_act == 0 || rows == 0) {
    std::fill(dx, dx + rows * in_, T(0));
    return;
  }
  // dx_a = dy Wz_a^T: [rows, n_act]; written in place when every gate is active.
  const auto wa = make_cview<T, 2>(wz_packed_.data(), {n_act, out_});
  if (n_act == in_) {
    xt::blas::gemm(grad_output, wa, *grad_input, false, true, T(1), T(0));
    return;
  }
  auto hv = make_view<T, 2>(h_.data(), {rows, n_act});
  xt::blas::gemm(grad_output, wa, hv, false, true, T(1), T(0));
  std::fill(dx, dx + rows * in_, T(0));
  const T* h = h_.data();
  for (std::size_t r = 0; r < rows; ++r) {
    const T* hr = h + r * n_act;
    T* dxr = dx + r * in_;
    for (std::size_t k = 0; k < n_act; ++k) dxr[act[k]] = hr[k];
  }
}

template class GatedDense<float>;
template class GatedDense<double>;

}  // namespace saddle::l0
