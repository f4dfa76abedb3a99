/// \file gated_layer.cpp
/// GatedLayerBase: the parameter slice, views and gate-parameter operations shared by the
/// gated layers.

#include "saddle/problems/l0/gated_layer.hpp"

#include <string>

namespace saddle::l0 {

template <class T>
GatedLayerBase<T>::GatedLayerBase(const char* kind, std::size_t weight_rows,
                                  std::size_t weight_cols, std::size_t biases, std::size_t gates,
                                  std::uint64_t noise_stream)
    : kind_(kind),
      weight_rows_(weight_rows),
      weight_cols_(weight_cols),
      stream_(noise_stream),
      gates_(gates) {
  layout_.weight_offset = 0;
  layout_.weight_size = weight_rows * weight_cols;
  layout_.bias_offset = layout_.weight_size;
  layout_.bias_size = biases;
  layout_.log_alpha_offset = layout_.bias_offset + biases;
  layout_.log_alpha_size = gates;
  layout_.total = layout_.log_alpha_offset + gates;
}

template <class T>
void GatedLayerBase<T>::check_params(std::size_t size, const char* what) const {
  if (size != layout_.total) {
    throw InputError(std::string(kind_) + " " + what + ": slice of " + std::to_string(size) +
                     " values, expected " + std::to_string(layout_.total));
  }
}

template <class T>
void GatedLayerBase<T>::sample_gates(ConstView<T, 1> params, std::uint64_t noise_seed) {
  check_params(params.size(), "sample_gates");
  gates_.sample(log_alpha(params), noise_seed, stream_, runner_);
}

template <class T>
void GatedLayerBase<T>::set_test_gates(ConstView<T, 1> params, TestGate gate) {
  check_params(params.size(), "set_test_gates");
  gates_.set_test(log_alpha(params), gate);
}

template <class T>
std::size_t GatedLayerBase<T>::count_active_test_gates(ConstView<T, 1> params,
                                                       TestGate gate) const {
  check_params(params.size(), "count_active_test_gates");
  return l0::count_active_test_gates<T>(log_alpha(params), gate);
}

template <class T>
ConstView<T, 2> GatedLayerBase<T>::weights(ConstView<T, 1> params) const {
  check_params(params.size(), "weights");
  return make_cview<T, 2>(params.data() + layout_.weight_offset, {weight_rows_, weight_cols_});
}

template <class T>
ConstView<T, 1> GatedLayerBase<T>::bias(ConstView<T, 1> params) const {
  check_params(params.size(), "bias");
  return make_cview<T, 1>(params.data() + layout_.bias_offset, {layout_.bias_size});
}

template <class T>
ConstView<T, 1> GatedLayerBase<T>::log_alpha(ConstView<T, 1> params) const {
  check_params(params.size(), "log_alpha");
  return make_cview<T, 1>(params.data() + layout_.log_alpha_offset, {layout_.log_alpha_size});
}

template <class T>
View<T, 1> GatedLayerBase<T>::log_alpha(View<T, 1> params) const {
  check_params(params.size(), "log_alpha");
  return make_view<T, 1>(params.data() + layout_.log_alpha_offset, {layout_.log_alpha_size});
}

template <class T>
double GatedLayerBase<T>::expected_density(ConstView<T, 1> params) const {
  return l0::expected_density<T>(log_alpha(params));
}

template <class T>
void GatedLayerBase<T>::add_expected_density_gradient(ConstView<T, 1> params, double weight,
                                                      View<T, 1> grad_params) const {
  check_params(grad_params.size(), "add_expected_density_gradient");
  add_expected_density_grad<T>(log_alpha(params), weight, log_alpha(grad_params));
}

template <class T>
void GatedLayerBase<T>::clamp_log_alpha(View<T, 1> params) const {
  l0::clamp_log_alpha<T>(log_alpha(params));
}

template class GatedLayerBase<float>;
template class GatedLayerBase<double>;

}  // namespace saddle::l0
