/// \file gated_conv2d.cpp
/// GatedConv2d: output-map gates, batched im2col + GEMM over the non-zero gates only.

#include "saddle/problems/l0/gated_conv2d.hpp"

#include "saddle/nn/im2col.hpp"

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
GatedConv2d<T>::GatedConv2d(std::size_t in_channels, std::size_t in_height, std::size_t in_width,
                            std::size_t out_channels, std::size_t kernel,
                            std::uint64_t noise_stream)
    : GatedLayerBase<T>("GatedConv2d", out_channels, in_channels * kernel * kernel, out_channels,
                        out_channels, noise_stream),
      in_c_(in_channels),
      in_h_(in_height),
      in_w_(in_width),
      out_c_(out_channels),
      k_(kernel),
      out_h_(0),
      out_w_(0),
      ksize_(in_channels * kernel * kernel),
      plane_(0) {
  if (in_c_ == 0 || in_h_ == 0 || in_w_ == 0 || out_c_ == 0 || k_ == 0) {
    throw InvalidOption("GatedConv2d: channels, input size and kernel must be >= 1");
  }
  if (k_ > in_h_ || k_ > in_w_) {
    throw InvalidOption("GatedConv2d: kernel " + std::to_string(k_) + " larger than input " +
                        std::to_string(in_h_) + "x" + std::to_string(in_w_));
  }
  out_h_ = in_h_ - k_ + 1;
  out_w_ = in_w_ - k_ + 1;
  plane_ = out_h_ * out_w_;
  open_in_.reserve(in_c_);
  wz_ = xt::xtensor<T, 1>::from_shape({out_c_ * ksize_});
  dwz_ = xt::xtensor<T, 1>::from_shape({out_c_ * ksize_});
  sum_dy_ = xt::xtensor<double, 1>::from_shape({out_c_});
}

namespace {
// Values of the column matrix of one block of images: K x (block images x P) <= this, so that it
// stays in a core's L2 cache (1 MiB here) between im2col and the GEMM that reads it, with room
// for the GEMM's own packed panels.
constexpr std::size_t kBlockValues = 131072;
}  // namespace

template <class T>
void GatedConv2d<T>::reserve(std::size_t max_batch) {
  max_batch_ = max_batch;
  chunk_ = std::max<std::size_t>(1, std::min<std::size_t>(max_batch, kBlockValues / (ksize_ * plane_)));
  const std::size_t block = chunk_ * plane_;
  col_ = xt::xtensor<T, 1>::from_shape({ksize_ * block});
  dcol_ = xt::xtensor<T, 1>::from_shape({ksize_ * block});
  yp_ = xt::xtensor<T, 1>::from_shape({out_c_ * max_batch * plane_});
  x_ = xt::xtensor<T, 1>::from_shape({chunk_ < max_batch ? max_batch * in_features() : std::size_t(0)});
  has_forward_ = false;
}

template <class T>
void GatedConv2d<T>::init_parameters(View<T, 1> params, double droprate_init,
                                     std::mt19937_64& rng) const {
  check_params(params.size(), "init_parameters");
  if (!(droprate_init > 0.0 && droprate_init < 1.0)) {
    throw InvalidOption("droprate_init = " + std::to_string(droprate_init) + ": must be in (0, 1)");
  }
  const double keep = 1.0 - droprate_init;
  // [GP] L0Conv2d: kaiming_normal_(mode="fan_in"), fan_in = C_in*k*k, then / (1 - d).
  std::normal_distribution<double> w_dist(0.0, std::sqrt(2.0 / static_cast<double>(ksize_)) / keep);
  T* p = params.data();
  for (std::size_t j = 0; j < layout_.weight_size; ++j) {
    p[layout_.weight_offset + j] = static_cast<T>(w_dist(rng));
  }
  // Bias N(0, 0.01^2), divided by (1 - d) as well because the conv bias is gated ([GP]
  // init_parameters: `if self.use_bias and len(self.weight.shape) > 2`).
  std::normal_distribution<double> b_dist(0.0, 0.01);
  for (std::size_t j = 0; j < layout_.bias_size; ++j) {
    p[layout_.bias_offset + j] = static_cast<T>(b_dist(rng) / keep);
  }
  init_log_alpha<T>(log_alpha(params), droprate_init, rng);
}

template <class T>
void GatedConv2d<T>::forward_train(ConstView<T, 1> params, ConstView<T, 2> input,
                                   std::uint64_t noise_seed, View<T, 2> output) {
  this->sample_gates(params, noise_seed);  // checks the slice; splits over the runner if any
  forward_core(params, input, output, ChannelHints{});
}

template <class T>
void GatedConv2d<T>::forward_eval(ConstView<T, 1> params, ConstView<T, 2> input, View<T, 2> output,
                                  TestGate gate) {
  this->set_test_gates(params, gate);
  forward_core(params, input, output, ChannelHints{});
}

template <class T>
void GatedConv2d<T>::forward_gated(ConstView<T, 1> params, ConstView<T, 2> input,
                                   View<T, 2> output, const ChannelHints& hints) {
  check_params(params.size(), "forward_gated");
  forward_core(params, input, output, hints);
}

template <class T>
void GatedConv2d<T>::forward_core(ConstView<T, 1> params, ConstView<T, 2> input,
                                  View<T, 2> output, const ChannelHints& hints) {
  const std::size_t rows = input.shape()[0];
  if (output.shape()[0] != rows || output.shape()[1] != out_features()) {
    throw InputError("GatedConv2d forward: input " + shape_str(input.shape()[0], input.shape()[1]) +
                     ", output " + shape_str(output.shape()[0], output.shape()[1]) + ", expected " +
                     shape_str(rows, in_features()) + " and " + shape_str(rows, out_features()));
  }
  forward_packed(params, input, hints);

  // Scatter the packed maps -> [B, C_out, P], adding the gated bias z_c b_c; zero-gate maps = 0.
  const auto& act = gates_.active();
  const std::size_t n_act = act.size();
  const T* bias = params.data() + layout_.bias_offset;
  const T* z = gates_.z().data();
  const T* y = yp_.data();
  T* out = output.data();
  const std::size_t out_feat = out_features();
  for (std::size_t b = 0; b < rows; ++b) {
    std::size_t a = 0;
    for (std::size_t c = 0; c < out_c_; ++c) {
      T* dst = out + b * out_feat + c * plane_;
      if (a < n_act && act[a] == c) {
        const T bz = z[c] * bias[c];
        const T* src = y + packed_offset(a, b);
        for (std::size_t p = 0; p < plane_; ++p) dst[p] = src[p] + bz;
        ++a;
      } else {
        std::fill(dst, dst + plane_, T(0));
      }
    }
  }
}

template <class T>
void GatedConv2d<T>::forward_packed(ConstView<T, 1> params, ConstView<T, 2> input,
                                    const ChannelHints& hints) {
  check_params(params.size(), "forward_packed");
  const std::size_t rows = input.shape()[0];
  if (input.shape()[1] != in_features()) {
    throw InputError("GatedConv2d forward: input " + shape_str(input.shape()[0], input.shape()[1]) +
                     ", expected " + shape_str(rows, in_features()));
  }
  if (rows > max_batch_) {
    throw InputError("GatedConv2d forward: batch of " + std::to_string(rows) +
                     " rows exceeds reserve(" + std::to_string(max_batch_) + ")");
  }
  // The open input maps of this pair (kept: backward needs them after the caller moved on).
  open_in_.clear();  // capacity C_in reserved in the constructor: no allocation
  if (hints.open_inputs != nullptr) {
    for (const std::size_t c : *hints.open_inputs) {
      if (c >= in_c_ || (!open_in_.empty() && c <= open_in_.back())) {
        throw InputError("GatedConv2d forward: open input maps must be ascending and < " +
                         std::to_string(in_c_));
      }
      open_in_.push_back(c);
    }
  } else {
    for (std::size_t c = 0; c < in_c_; ++c) open_in_.push_back(c);
  }
  batch_ = rows;
  has_forward_ = true;

  const auto& act = gates_.active();
  const std::size_t n_act = act.size();
  const std::size_t n = rows * plane_;
  if (n_act == 0 || rows == 0) return;
  const std::size_t kk = k_ * k_;
  const std::size_t kin = open_in_.size() * kk;  // K' = open input maps * k*k
  if (kin == 0) {  // every input map is zero: so is every conv output (before the bias)
    std::fill(yp_.data(), yp_.data() + n_act * n, T(0));
    return;
  }
  const T* w = params.data() + layout_.weight_offset;
  const T* z = gates_.z().data();

  // Wz_a[a, r*k*k + q] = z_c W[c, open_in[r]*k*k + q] for c = act[a]: [n_act, K'].
  T* wz = wz_.data();
  for (std::size_t a = 0; a < n_act; ++a) {
    const std::size_t c = act[a];
    const T zc = z[c];
    T* dst = wz + a * kin;
    for (std::size_t r = 0; r < open_in_.size(); ++r) {
      const T* src = w + c * ksize_ + open_in_[r] * kk;
      for (std::size_t q = 0; q < kk; ++q) dst[r * kk + q] = zc * src[q];
    }
  }
  // Backward recomputes the im2col of every block but the last from a copy of the input.
  const T* x = input.data();
  const std::size_t in_feat = in_features();
  if (rows > chunk_) std::copy(x, x + rows * in_feat, x_.data());
  const auto wa = make_cview<T, 2>(wz, {n_act, kin});
  for (std::size_t b0 = 0; b0 < rows; b0 += chunk_) {
    const std::size_t cb = std::min(chunk_, rows - b0);
    nn::im2col<T>(geometry(), x + b0 * in_feat, cb, open_in_.data(), open_in_.size(), col_.data());
    const auto colv = make_cview<T, 2>(col_.data(), {kin, cb * plane_});
    auto yv = make_view<T, 2>(yp_.data() + n_act * b0 * plane_, {n_act, cb * plane_});
    xt::blas::gemm(wa, colv, yv, false, false, T(1), T(0));
    col_block_ = b0 / chunk_;
  }
}

template <class T>
ConstView<T, 1> GatedConv2d<T>::packed_output() const {
  return make_cview<T, 1>(yp_.data(), {has_forward_ ? gates_.active().size() * batch_ * plane_ : 0});
}

template <class T>
View<T, 1> GatedConv2d<T>::packed_grad_output() {
  return make_view<T, 1>(yp_.data(), {has_forward_ ? gates_.active().size() * batch_ * plane_ : 0});
}

template <class T>
void GatedConv2d<T>::backward(ConstView<T, 1> params, ConstView<T, 2> grad_output,
                              View<T, 1> grad_params, View<T, 2> grad_input) {
  backward_core(params, grad_output, grad_params, &grad_input);
}

template <class T>
void GatedConv2d<T>::backward(ConstView<T, 1> params, ConstView<T, 2> grad_output,
                              View<T, 1> grad_params) {
  backward_core(params, grad_output, grad_params, nullptr);
}

template <class T>
void GatedConv2d<T>::backward_core(ConstView<T, 1> params, ConstView<T, 2> grad_output,
                                   View<T, 1> grad_params, View<T, 2>* grad_input) {
  if (!has_forward_) throw InputError("GatedConv2d backward: no forward pass since reserve()");
  const std::size_t rows = batch_;
  if (grad_output.shape()[0] != rows || grad_output.shape()[1] != out_features()) {
    throw InputError("GatedConv2d backward: grad_output " +
                     shape_str(grad_output.shape()[0], grad_output.shape()[1]) + ", expected " +
                     shape_str(rows, out_features()));
  }
  // Gather dY of the active maps into the packed workspace.
  const auto& act = gates_.active();
  const T* dy = grad_output.data();
  T* dyp = yp_.data();
  const std::size_t out_feat = out_features();
  for (std::size_t a = 0; a < act.size(); ++a) {
    const std::size_t c = act[a];
    for (std::size_t b = 0; b < rows; ++b) {
      const T* src = dy + b * out_feat + c * plane_;
      std::copy(src, src + plane_, dyp + packed_offset(a, b));
    }
  }
  backward_packed(params, grad_params, grad_input);
}

template <class T>
void GatedConv2d<T>::backward_packed(ConstView<T, 1> params, View<T, 1> grad_params,
                                     View<T, 2>* grad_input) {
  if (!has_forward_) throw InputError("GatedConv2d backward: no forward pass since reserve()");
  check_params(params.size(), "backward params");
  check_params(grad_params.size(), "backward grad_params");
  const std::size_t rows = batch_;
  if (grad_input != nullptr &&
      (grad_input->shape()[0] != rows || grad_input->shape()[1] != in_features())) {
    throw InputError("GatedConv2d backward: grad_input " +
                     shape_str(grad_input->shape()[0], grad_input->shape()[1]) + ", expected " +
                     shape_str(rows, in_features()));
  }

  const T* w = params.data() + layout_.weight_offset;
  const T* bias = params.data() + layout_.bias_offset;
  const T* z = gates_.z().data();
  const T* dzdla = gates_.dz().data();
  const auto& act = gates_.active();
  const std::size_t n_act = act.size();
  const std::size_t kk = k_ * k_;
  const std::size_t n_open = open_in_.size();
  const std::size_t kin = n_open * kk;
  const std::size_t in_feat = in_features();
  T* dw = grad_params.data() + layout_.weight_offset;
  T* db = grad_params.data() + layout_.bias_offset;
  T* dla = grad_params.data() + layout_.log_alpha_offset;

  // Groups of zero gates get exact zeros (their maps were never computed); so do the weights
  // of closed input maps (a zero input map gives them a zero gradient).
  std::fill(db, db + out_c_, T(0));
  std::fill(dla, dla + out_c_, T(0));
  {
    std::size_t a = 0;
    for (std::size_t c = 0; c < out_c_; ++c) {
      if (a < n_act && act[a] == c) {
        ++a;
        if (n_open == in_c_ && rows > 0) continue;  // every weight of the row is written below
      }
      std::fill(dw + c * ksize_, dw + (c + 1) * ksize_, T(0));
    }
  }
  if (n_act == 0 || rows == 0) {
    if (grad_input != nullptr) {
      std::fill(grad_input->data(), grad_input->data() + rows * in_feat, T(0));
    }
    return;
  }

  // Per-map sums of dY (in double), for the bias and the gate. Eight interleaved partial sums:
  // one running sum is a chain of dependent additions (4 cycles each), which cost 2 ms per
  // step for conv1's 20 x 73,728 values; eight independent ones vectorise.
  const T* dyp = yp_.data();
  constexpr std::size_t kLanes = 8;
  for (std::size_t a = 0; a < n_act; ++a) {
    double part[kLanes] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (std::size_t b0 = 0; b0 < rows; b0 += chunk_) {
      const std::size_t m = std::min(chunk_, rows - b0) * plane_;  // one block's row of map a
      const T* src = dyp + packed_offset(a, b0);
      std::size_t q = 0;
      for (; q + kLanes <= m; q += kLanes) {
        for (std::size_t l = 0; l < kLanes; ++l) part[l] += static_cast<double>(src[q + l]);
      }
      for (; q < m; ++q) part[q % kLanes] += static_cast<double>(src[q]);
    }
    double acc = 0.0;
    for (std::size_t l = 0; l < kLanes; ++l) acc += part[l];
    sum_dy_(a) = acc;
  }

  // Per block of images, last block first (after a forward its im2col is still in col_):
  // dWz_a += dY_a col^T: [n_act, K'] (gradient w.r.t. the gated weights z_c W_c), and
  // dcol = Wz_a^T dY_a: [K', block], then the adjoint of im2col over the open input maps.
  const auto wa = make_cview<T, 2>(wz_.data(), {n_act, kin});
  auto dwzv = make_view<T, 2>(dwz_.data(), {n_act, kin});
  const std::size_t n_blocks = (rows + chunk_ - 1) / chunk_;
  for (std::size_t q = n_blocks; q-- > 0;) {
    const std::size_t b0 = q * chunk_;
    const std::size_t cb = std::min(chunk_, rows - b0);
    const auto dyv = make_cview<T, 2>(dyp + n_act * b0 * plane_, {n_act, cb * plane_});
    if (kin == 0) break;
    if (col_block_ != q) {
      nn::im2col<T>(geometry(), x_.data() + b0 * in_feat, cb, open_in_.data(), n_open, col_.data());
      col_block_ = q;
    }
    const auto colv = make_cview<T, 2>(col_.data(), {kin, cb * plane_});
    xt::blas::gemm(dyv, colv, dwzv, false, true, T(1), q + 1 == n_blocks ? T(0) : T(1));
    if (grad_input != nullptr) {
      auto dcolv = make_view<T, 2>(dcol_.data(), {kin, cb * plane_});
      xt::blas::gemm(wa, dyv, dcolv, true, false, T(1), T(0));
      nn::col2im<T>(geometry(), dcol_.data(), cb, open_in_.data(), n_open,
                    grad_input->data() + b0 * in_feat);
    }
  }
  const T* dwz = dwz_.data();
  for (std::size_t a = 0; a < n_act; ++a) {
    const std::size_t c = act[a];
    const T zc = z[c];
    T dz = T(0);
    for (std::size_t r = 0; r < n_open; ++r) {
      const T* g = dwz + a * kin + r * kk;
      const T* wr = w + c * ksize_ + open_in_[r] * kk;
      T* dwr = dw + c * ksize_ + open_in_[r] * kk;
      for (std::size_t q = 0; q < kk; ++q) {
        dwr[q] = zc * g[q];
        dz += wr[q] * g[q];
      }
    }
    // y = conv(x, zW) + z b  =>  dL/dz = <W, dL/d(zW)> + b * sum(dY).
    const double sdy = sum_dy_(a);
    dz += static_cast<T>(static_cast<double>(bias[c]) * sdy);
    db[c] = static_cast<T>(static_cast<double>(zc) * sdy);
    dla[c] = dz * dzdla[c];
  }
  if (grad_input != nullptr && kin == 0) {
    std::fill(grad_input->data(), grad_input->data() + rows * in_feat, T(0));
  }
}

template class GatedConv2d<float>;
template class GatedConv2d<double>;

}  // namespace saddle::l0
