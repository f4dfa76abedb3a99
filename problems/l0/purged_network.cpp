// Purged networks: building them from a gated model, running them, and the export file
// format (docs/export-format.md).
#include "saddle/problems/l0/purged_network.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <sstream>

#include <xtensor-blas/xblas.hpp>

#include "saddle/problems/l0/framed_file.hpp"
#include "saddle/serialize.hpp"
#include "saddle/types.hpp"

namespace saddle::l0 {

const char* to_string(PurgedLayerKind kind) {
  switch (kind) {
    case PurgedLayerKind::gather: return "gather";
    case PurgedLayerKind::dense: return "dense";
    case PurgedLayerKind::conv2d: return "conv2d";
    case PurgedLayerKind::relu: return "relu";
    case PurgedLayerKind::maxpool2: return "maxpool2";
  }
  return "unknown";
}

namespace {

// Upper bound on any size field read from a file: rejects corrupt counts before allocating.
constexpr std::uint64_t kMaxCount = std::uint64_t{1} << 31;

std::size_t conv_out(std::size_t in, std::size_t k) { return in >= k ? in - k + 1 : 0; }

}  // namespace

std::size_t PurgedNetwork::params() const {
  std::size_t total = 0;
  for (const auto& l : layers)
    if (l.kind == PurgedLayerKind::dense || l.kind == PurgedLayerKind::conv2d) total += l.weights.size() + l.bias.size();
  return total;
}

std::size_t PurgedNetwork::macs() const {
  std::size_t total = 0;
  for (const auto& l : layers) {
    if (l.kind == PurgedLayerKind::dense) total += l.in_features * l.out_features;
    if (l.kind == PurgedLayerKind::conv2d)
      total += l.out_channels * l.channels * l.kernel * l.kernel * conv_out(l.height, l.kernel) * conv_out(l.width, l.kernel);
  }
  return total;
}

void PurgedNetwork::validate() const {
  auto fail = [](std::size_t i, const std::string& what) {
    throw InputError("exported network: layer " + std::to_string(i + 1) + ": " + what);
  };
  if (rows == 0 || cols == 0) throw InputError("exported network: input size must be positive");
  if (classes == 0) throw InputError("exported network: no outputs");
  std::size_t width = rows * cols;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    if (l.in_features != width)
      fail(i, std::string(to_string(l.kind)) + " reads " + std::to_string(l.in_features) + " features, the previous layer writes " +
                  std::to_string(width));
    switch (l.kind) {
      case PurgedLayerKind::gather:
        if (l.indices.size() != l.out_features) fail(i, "gather index count differs from its output width");
        for (auto j : l.indices)
          if (j >= l.in_features) fail(i, "gather index " + std::to_string(j) + " out of range");
        break;
      case PurgedLayerKind::dense:
        if (l.weights.size() != l.in_features * l.out_features || l.bias.size() != l.out_features)
          fail(i, "dense weight or bias size does not match its shape");
        break;
      case PurgedLayerKind::conv2d: {
        if (l.kernel == 0 || l.height < l.kernel || l.width < l.kernel) fail(i, "conv2d kernel larger than its input");
        if (l.in_features != l.channels * l.height * l.width) fail(i, "conv2d input shape does not match its width");
        const std::size_t p = conv_out(l.height, l.kernel) * conv_out(l.width, l.kernel);
        if (l.out_features != l.out_channels * p) fail(i, "conv2d output shape does not match its width");
        if (l.weights.size() != l.out_channels * l.channels * l.kernel * l.kernel || l.bias.size() != l.out_channels)
          fail(i, "conv2d weight or bias size does not match its shape");
        break;
      }
      case PurgedLayerKind::relu:
        if (l.out_features != l.in_features) fail(i, "relu output width differs from its input");
        break;
      case PurgedLayerKind::maxpool2:
        if (l.in_features != l.channels * l.height * l.width) fail(i, "maxpool2 input shape does not match its width");
        if (l.out_features != l.channels * (l.height / 2) * (l.width / 2)) fail(i, "maxpool2 output shape does not match");
        break;
      default:
        fail(i, "unknown layer kind " + std::to_string(static_cast<std::uint32_t>(l.kind)));
    }
    width = l.out_features;
  }
  if (width != classes)
    throw InputError("exported network: the last layer writes " + std::to_string(width) + " values, expected " +
                     std::to_string(classes) + " classes");
}

void PurgedNetwork::predict(ConstView<float, 2> input, xt::xtensor<float, 2>& logits, std::size_t chunk) const {
  const std::size_t n = input.shape()[0];
  if (input.shape()[1] != rows * cols)
    throw InputError("exported network: input rows have " + std::to_string(input.shape()[1]) + " features, expected " +
                     std::to_string(rows * cols));
  if (chunk == 0) chunk = 1;
  if (logits.shape()[0] != n || logits.shape()[1] != classes) logits = xt::xtensor<float, 2>::from_shape({n, classes});
  if (n == 0) return;
  const std::size_t cb = std::min(chunk, n);
  // Work buffers, allocated once per call (never per chunk or image): two activation buffers
  // of the widest layer output, and the im2col buffer of ONE image (the largest conv's
  // [C_in*k*k, Ho*Wo]: 50 KB to 130 KB for LeNet5, so it stays in L2; a whole chunk's im2col
  // would be tens of MB and stream through memory).
  std::size_t widest = 1, col_size = 1;
  for (const auto& l : layers) {
    widest = std::max(widest, l.out_features);
    if (l.kind == PurgedLayerKind::conv2d)
      col_size = std::max(col_size, l.channels * l.kernel * l.kernel * conv_out(l.height, l.kernel) * conv_out(l.width, l.kernel));
  }
  std::vector<float> a(cb * widest), b(cb * widest), col(col_size);

  for (std::size_t begin = 0; begin < n; begin += cb) {
    const std::size_t r = std::min(cb, n - begin);
    const float* cur = input.data() + begin * rows * cols;  // the first layer reads the input in place
    float* bufs[2] = {a.data(), b.data()};
    std::size_t next = 0;
    for (std::size_t li = 0; li < layers.size(); ++li) {
      const auto& l = layers[li];
      const std::size_t in = l.in_features, out = l.out_features;
      // A relu right after a dense layer is applied to its output in place; a relu right
      // before a 2x2 max-pool is applied after the pool (max and relu commute), on 4x fewer
      // values. Either way the relu layer's own pass is skipped.
      const bool relu_next = li + 1 < layers.size() && layers[li + 1].kind == PurgedLayerKind::relu;
      const bool pool_next = li + 1 < layers.size() && layers[li + 1].kind == PurgedLayerKind::maxpool2;
      float* nxt = bufs[next];
      switch (l.kind) {
        case PurgedLayerKind::gather:
          for (std::size_t i = 0; i < r; ++i)
            for (std::size_t j = 0; j < out; ++j) nxt[i * out + j] = cur[i * in + l.indices[j]];
          break;
        case PurgedLayerKind::dense: {
          // out = b (each row), then += x @ W (beta = 1), as GatedDense::forward_eval.
          for (std::size_t i = 0; i < r; ++i) std::copy(l.bias.begin(), l.bias.end(), nxt + i * out);
          if (in > 0 && out > 0) {
            const auto x = make_cview<float, 2>(cur, {r, in});
            const auto w = make_cview<float, 2>(l.weights.data(), {in, out});
            auto y = make_view<float, 2>(nxt, {r, out});
            xt::blas::gemm(x, w, y, false, false, 1.0f, 1.0f);
          }
          if (relu_next) {
            for (std::size_t i = 0; i < r * out; ++i) nxt[i] = nxt[i] > 0.0f ? nxt[i] : 0.0f;
            ++li;
          }
          break;
        }
        case PurgedLayerKind::conv2d: {
          const std::size_t k = l.kernel, ho = conv_out(l.height, k), wo = conv_out(l.width, k), p = ho * wo;
          const std::size_t ksize = l.channels * k * k, in_plane = l.height * l.width;
          const auto w = make_cview<float, 2>(l.weights.data(), {l.out_channels, ksize});
          const auto cv = make_cview<float, 2>(col.data(), {ksize, p});
          for (std::size_t e = 0; e < r; ++e) {
            // This image's output maps [C_out, P] = bias, then += W [C_out, K] @ col [K, P]
            // straight into the activation row (no scatter). im2col (GatedConv2d's layout):
            // col[(c*k+i)*k+j, oh*Wo + ow] = x[c, oh+i, ow+j].
            float* y_img = nxt + e * out;
            for (std::size_t c = 0; c < l.out_channels; ++c) std::fill(y_img + c * p, y_img + (c + 1) * p, l.bias[c]);
            if (ksize == 0 || l.out_channels == 0) continue;
            const float* x_img = cur + e * in;
            for (std::size_t c = 0; c < l.channels; ++c)
              for (std::size_t i = 0; i < k; ++i)
                for (std::size_t j = 0; j < k; ++j) {
                  const float* s = x_img + c * in_plane + i * l.width + j;
                  float* d = col.data() + ((c * k + i) * k + j) * p;
                  for (std::size_t oh = 0; oh < ho; ++oh) std::copy(s + oh * l.width, s + oh * l.width + wo, d + oh * wo);
                }
            auto y = make_view<float, 2>(y_img, {l.out_channels, p});
            xt::blas::gemm(w, cv, y, false, false, 1.0f, 1.0f);
          }
          break;
        }
        case PurgedLayerKind::relu:
          if (pool_next) break;  // applied by the pool below, which reads `cur`
          for (std::size_t i = 0; i < r * in; ++i) nxt[i] = cur[i] > 0.0f ? cur[i] : 0.0f;
          break;
        case PurgedLayerKind::maxpool2: {
          const bool relu_before = li > 0 && layers[li - 1].kind == PurgedLayerKind::relu;
          const float floor_value = relu_before ? 0.0f : -std::numeric_limits<float>::infinity();
          const std::size_t ho = l.height / 2, wo = l.width / 2;
          for (std::size_t e = 0; e < r; ++e)
            for (std::size_t c = 0; c < l.channels; ++c) {
              const float* s = cur + e * in + c * l.height * l.width;
              float* d = nxt + e * out + c * ho * wo;
              for (std::size_t oh = 0; oh < ho; ++oh)
                for (std::size_t ow = 0; ow < wo; ++ow) {
                  const float* t = s + 2 * oh * l.width + 2 * ow;
                  const float m = std::max(std::max(t[0], t[1]), std::max(t[l.width], t[l.width + 1]));
                  d[oh * wo + ow] = std::max(m, floor_value);
                }
            }
          break;
        }
      }
      if (l.kind == PurgedLayerKind::relu && pool_next) continue;  // nothing written; the pool reads cur
      cur = nxt;
      next ^= 1;
    }
    std::copy(cur, cur + r * classes, logits.data() + begin * classes);
  }
}

// ---------------------------------------------------------------------------------------
// File format (docs/export-format.md): the framed file of framed_file.hpp (magic "SADLPNET")
// around the payload:
//   payload = 5 strings (u32 length + bytes): source architecture, dataset, input scaling,
//             test gate, pruned architecture; u32 rows, cols, classes; u32 layer count;
//             per layer u32 kind then its fields (see write_layer).

namespace {

void put_u32(std::ostream& out, std::size_t v) {
  if (v > std::numeric_limits<std::uint32_t>::max()) throw InputError("exported network: a size exceeds 32 bits");
  io::write_scalar<std::uint32_t>(out, static_cast<std::uint32_t>(v));
}
void put_string(std::ostream& out, const std::string& s) {
  put_u32(out, s.size());
  out.write(s.data(), static_cast<std::streamsize>(s.size()));
}
void put_floats(std::ostream& out, const std::vector<float>& v) {
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
}

// Bounds-checked reader over the payload.
class Reader {
 public:
  Reader(const std::string& data, const std::string& name) : data_(data), name_(name) {}
  std::uint32_t u32(const char* what) {
    std::uint32_t v = 0;
    take(&v, sizeof(v), what);
    return v;
  }
  std::size_t count(const char* what) {
    const std::uint32_t v = u32(what);
    if (v > kMaxCount) throw InputError(name_ + ": corrupt " + what);
    return v;
  }
  std::string str(const char* what) {
    const std::size_t n = count(what);
    if (n > 4096) throw InputError(name_ + ": corrupt length of " + what);
    std::string s(n, '\0');
    take(s.data(), n, what);
    return s;
  }
  std::vector<float> floats(std::size_t n, const char* what) {
    if (n > (data_.size() - pos_) / sizeof(float)) throw InputError(name_ + ": truncated while reading " + what);
    std::vector<float> v(n);
    take(v.data(), n * sizeof(float), what);
    return v;
  }
  /// Throws "truncated" unless n more u32 values follow (before a buffer of n is allocated).
  void need_u32s(std::size_t n, const char* what) const {
    if (n > (data_.size() - pos_) / sizeof(std::uint32_t)) throw InputError(name_ + ": truncated while reading " + what);
  }
  bool done() const { return pos_ == data_.size(); }

 private:
  void take(void* dst, std::size_t n, const char* what) {
    if (n > data_.size() - pos_) throw InputError(name_ + ": truncated while reading " + what);
    if (n == 0) return;  // dst may be the null data() of an empty vector
    std::memcpy(dst, data_.data() + pos_, n);
    pos_ += n;
  }
  const std::string& data_;
  const std::string& name_;
  std::size_t pos_ = 0;
};

std::size_t checked_mul(std::size_t a, std::size_t b, const std::string& name) {
  if (a != 0 && b > kMaxCount / a) throw InputError(name + ": corrupt layer shape (too large)");
  return a * b;
}

}  // namespace

std::string PurgedNetwork::serialize() const {
  validate();
  return frame(kExportFormat, serialize_payload());
}

std::string PurgedNetwork::serialize_payload() const {
  std::ostringstream p;
  put_string(p, source_architecture);
  put_string(p, dataset);
  put_string(p, input_scaling);
  put_string(p, test_gate);
  put_string(p, pruned_architecture);
  put_u32(p, rows);
  put_u32(p, cols);
  put_u32(p, classes);
  put_u32(p, layers.size());
  for (const auto& l : layers) {
    put_u32(p, static_cast<std::uint32_t>(l.kind));
    switch (l.kind) {
      case PurgedLayerKind::gather:
        put_u32(p, l.in_features);
        put_u32(p, l.indices.size());
        p.write(reinterpret_cast<const char*>(l.indices.data()),
                static_cast<std::streamsize>(l.indices.size() * sizeof(std::uint32_t)));
        break;
      case PurgedLayerKind::dense:
        put_u32(p, l.in_features);
        put_u32(p, l.out_features);
        put_floats(p, l.weights);
        put_floats(p, l.bias);
        break;
      case PurgedLayerKind::conv2d:
        put_u32(p, l.channels);
        put_u32(p, l.height);
        put_u32(p, l.width);
        put_u32(p, l.out_channels);
        put_u32(p, l.kernel);
        put_floats(p, l.weights);
        put_floats(p, l.bias);
        break;
      case PurgedLayerKind::relu:
        put_u32(p, l.in_features);
        break;
      case PurgedLayerKind::maxpool2:
        put_u32(p, l.channels);
        put_u32(p, l.height);
        put_u32(p, l.width);
        break;
    }
  }
  return p.str();
}

void PurgedNetwork::save(const std::string& path) const {
  validate();
  write_framed_file(kExportFormat, path, serialize_payload());  // atomic; WriteError on failure
}

PurgedNetwork PurgedNetwork::deserialize(const std::string& bytes, const std::string& name) {
  return parse_payload(unframe(kExportFormat, bytes, name), name);
}

PurgedNetwork PurgedNetwork::parse_payload(const std::string& payload, const std::string& name) {
  Reader in(payload, name);
  PurgedNetwork net;
  net.source_architecture = in.str("source architecture");
  net.dataset = in.str("dataset");
  net.input_scaling = in.str("input scaling");
  net.test_gate = in.str("test gate");
  net.pruned_architecture = in.str("pruned architecture");
  net.rows = in.count("rows");
  net.cols = in.count("cols");
  net.classes = in.count("classes");
  const std::size_t n_layers = in.count("layer count");
  if (n_layers > 1024) throw InputError(name + ": corrupt layer count");
  for (std::size_t i = 0; i < n_layers; ++i) {
    PurgedLayer l;
    const std::uint32_t kind = in.u32("layer kind");
    l.kind = static_cast<PurgedLayerKind>(kind);
    switch (l.kind) {
      case PurgedLayerKind::gather: {
        l.in_features = in.count("gather input width");
        l.out_features = in.count("gather index count");
        in.need_u32s(l.out_features, "gather indices");
        l.indices.resize(l.out_features);
        for (auto& j : l.indices) j = in.u32("gather indices");
        break;
      }
      case PurgedLayerKind::dense:
        l.in_features = in.count("dense input width");
        l.out_features = in.count("dense output width");
        l.weights = in.floats(checked_mul(l.in_features, l.out_features, name), "dense weights");
        l.bias = in.floats(l.out_features, "dense bias");
        break;
      case PurgedLayerKind::conv2d: {
        l.channels = in.count("conv2d channels");
        l.height = in.count("conv2d height");
        l.width = in.count("conv2d width");
        l.out_channels = in.count("conv2d output channels");
        l.kernel = in.count("conv2d kernel");
        const std::size_t plane = checked_mul(l.height, l.width, name);
        l.in_features = checked_mul(l.channels, plane, name);
        l.out_features = checked_mul(l.out_channels, conv_out(l.height, l.kernel) * conv_out(l.width, l.kernel), name);
        const std::size_t ksize = checked_mul(l.channels, checked_mul(l.kernel, l.kernel, name), name);
        l.weights = in.floats(checked_mul(l.out_channels, ksize, name), "conv2d weights");
        l.bias = in.floats(l.out_channels, "conv2d bias");
        break;
      }
      case PurgedLayerKind::relu:
        l.in_features = l.out_features = in.count("relu width");
        break;
      case PurgedLayerKind::maxpool2:
        l.channels = in.count("maxpool2 channels");
        l.height = in.count("maxpool2 height");
        l.width = in.count("maxpool2 width");
        l.in_features = checked_mul(l.channels, checked_mul(l.height, l.width, name), name);
        l.out_features = l.channels * (l.height / 2) * (l.width / 2);
        break;
      default:
        throw InputError(name + ": layer " + std::to_string(i + 1) + " has unknown kind " + std::to_string(kind));
    }
    net.layers.push_back(std::move(l));
  }
  if (!in.done()) throw InputError(name + ": payload has bytes after the last layer");
  try {
    net.validate();
  } catch (const InputError& e) {
    throw InputError(name + ": " + e.what());
  }
  return net;
}

PurgedNetwork PurgedNetwork::load(const std::string& path) {
  return parse_payload(read_framed_file(kExportFormat, path), "exported network '" + path + "'");
}

bool is_exported_network(const std::string& path) { return has_frame_magic(kExportFormat, path); }

// ---------------------------------------------------------------------------------------
// Purging: masks propagated between layers (the group sparsity of Louizos et al. 2018, Sec. 3,
// made physical at test time); GatedModel::purged counts the network built here.

namespace {

template <class T>
std::vector<T> gates_of(const GatedLayerInfo& g, ConstView<T, 1> params, TestGate gate) {
  std::vector<T> z(g.num_gates);
  test_gates<T>(make_cview<T, 1>(params.data() + g.log_alpha_offset, {g.num_gates}), gate,
                make_view<T, 1>(z.data(), {z.size()}));
  return z;
}

template <class T>
std::vector<std::size_t> active_of(const std::vector<T>& z) {
  std::vector<std::size_t> a;
  for (std::size_t i = 0; i < z.size(); ++i)
    if (z[i] > T(0)) a.push_back(i);
  return a;
}

// Dense layer keeping inputs `ins` (gate-scaled rows) and outputs `outs` of W: [in, out].
template <class T>
PurgedLayer dense_layer(const GatedLayerInfo& g, ConstView<T, 1> params, const std::vector<T>& z,
                        const std::vector<std::size_t>& ins, const std::vector<std::size_t>& outs) {
  const std::size_t out_all = g.group_size;  // dense: weights per gate = out features
  PurgedLayer l;
  l.kind = PurgedLayerKind::dense;
  l.in_features = ins.size();
  l.out_features = outs.size();
  l.weights.resize(ins.size() * outs.size());
  const T* w = params.data() + g.weight_offset;
  const T* b = params.data() + g.bias_offset;
  for (std::size_t k = 0; k < ins.size(); ++k) {
    const T zi = z[ins[k]];
    for (std::size_t o = 0; o < outs.size(); ++o)
      l.weights[k * outs.size() + o] = static_cast<float>(zi * w[ins[k] * out_all + outs[o]]);
  }
  for (std::size_t o : outs) l.bias.push_back(static_cast<float>(b[o]));
  return l;
}

PurgedLayer relu_layer(std::size_t n) {
  PurgedLayer l;
  l.kind = PurgedLayerKind::relu;
  l.in_features = l.out_features = n;
  return l;
}

std::vector<std::size_t> iota(std::size_t n) {
  std::vector<std::size_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

}  // namespace

PurgedLayer maxpool2_layer(std::size_t channels, std::size_t height, std::size_t width) {
  PurgedLayer l;
  l.kind = PurgedLayerKind::maxpool2;
  l.channels = channels;
  l.height = height;
  l.width = width;
  l.in_features = channels * height * width;
  l.out_features = channels * (height / 2) * (width / 2);
  return l;
}

PurgedNetwork purge_network(Architecture arch, std::size_t rows, std::size_t cols, std::size_t classes,
                            ConstView<float, 1> params, TestGate gate) {
  const GatedModel<float> model(arch, rows, cols, classes);
  return purge_network<float>(model, params, gate);
}

template <class T>
PurgedNetwork purge_network(const GatedModel<T>& model, ConstView<T, 1> params, TestGate gate,
                            std::vector<std::size_t>* active_gates) {
  const Architecture arch = model.architecture();
  const std::size_t rows = model.image_rows(), cols = model.image_cols(),
                    classes = model.num_classes();
  if (params.size() != model.num_parameters())
    throw InvalidOption("purge: parameter vector has " + std::to_string(params.size()) + " values, the " +
                        to_string(arch) + " model has " + std::to_string(model.num_parameters()));
  const auto& g = model.gated_layers();
  std::vector<std::vector<T>> z;
  std::vector<std::vector<std::size_t>> act;
  for (const auto& info : g) {
    z.push_back(gates_of<T>(info, params, gate));
    act.push_back(active_of(z.back()));
  }
  if (active_gates != nullptr) {
    active_gates->clear();
    for (const auto& a : act) active_gates->push_back(a.size());
  }
  PurgedNetwork net;
  net.source_architecture = to_string(arch);
  net.test_gate = to_string(gate);
  net.rows = rows;
  net.cols = cols;
  net.classes = classes;
  for (std::size_t l = 0; l < act.size(); ++l) net.pruned_architecture += (l ? "-" : "") + std::to_string(act[l].size());

  if (arch == Architecture::mlp) {
    PurgedLayer gather;
    gather.kind = PurgedLayerKind::gather;
    gather.in_features = rows * cols;
    gather.out_features = act[0].size();
    for (std::size_t i : act[0]) gather.indices.push_back(static_cast<std::uint32_t>(i));
    net.layers.push_back(std::move(gather));
    for (std::size_t l = 0; l < g.size(); ++l) {
      const auto outs = l + 1 < g.size() ? act[l + 1] : iota(classes);
      net.layers.push_back(dense_layer(g[l], params, z[l], act[l], outs));
      if (l + 1 < g.size()) net.layers.push_back(relu_layer(outs.size()));
    }
    return net;
  }

  // LeNet5-Caffe: conv1 (k 5) -> relu -> pool -> conv2 (k 5) -> relu -> pool -> fc1 -> relu -> fc2.
  constexpr std::size_t k = 5;
  const std::size_t h1 = rows - k + 1, w1 = cols - k + 1, h2 = h1 / 2, w2 = w1 / 2;
  const std::size_t h3 = h2 - k + 1, w3 = w2 - k + 1, per_map = (h3 / 2) * (w3 / 2);
  const std::size_t c1_all = g[0].num_gates;
  if (g[0].group_size != k * k || g[1].group_size != c1_all * k * k || g[2].num_gates != g[1].num_gates * per_map)
    throw InvalidOption("purge: unexpected LeNet5 geometry");
  const auto& c1 = act[0];
  const auto& c2 = act[1];
  auto conv = [&](const GatedLayerInfo& info, const std::vector<T>& zc,
                  const std::vector<std::size_t>& outs, const std::vector<std::size_t>& ins,
                  std::size_t in_all, std::size_t h, std::size_t w) {
    PurgedLayer l;
    l.kind = PurgedLayerKind::conv2d;
    l.channels = ins.size();
    l.height = h;
    l.width = w;
    l.out_channels = outs.size();
    l.kernel = k;
    l.in_features = ins.size() * h * w;
    l.out_features = outs.size() * (h - k + 1) * (w - k + 1);
    const T* wt = params.data() + info.weight_offset;  // [C_out, C_in_all*k*k]
    const T* b = params.data() + info.bias_offset;
    for (std::size_t c : outs) {
      for (std::size_t ci : ins)
        for (std::size_t q = 0; q < k * k; ++q)
          l.weights.push_back(static_cast<float>(zc[c] * wt[c * in_all * k * k + ci * k * k + q]));
      l.bias.push_back(static_cast<float>(zc[c] * b[c]));
    }
    return l;
  };
  net.layers.push_back(conv(g[0], z[0], c1, std::vector<std::size_t>{0}, 1, rows, cols));
  net.layers.push_back(relu_layer(c1.size() * h1 * w1));
  net.layers.push_back(maxpool2_layer(c1.size(), h1, w1));
  net.layers.push_back(conv(g[1], z[1], c2, c1, c1_all, h2, w2));
  net.layers.push_back(relu_layer(c2.size() * h3 * w3));
  net.layers.push_back(maxpool2_layer(c2.size(), h3, w3));
  // fc1 inputs: flat index j = map * per_map + position, kept if its own gate is open and its
  // conv2 map is active; in the purged flatten, map c2[a] sits at a * per_map.
  PurgedLayer gather;
  gather.kind = PurgedLayerKind::gather;
  gather.in_features = c2.size() * per_map;
  std::vector<std::size_t> f1;
  for (std::size_t a = 0; a < c2.size(); ++a)
    for (std::size_t p = 0; p < per_map; ++p) {
      const std::size_t j = c2[a] * per_map + p;
      if (z[2][j] > T(0)) {
        f1.push_back(j);
        gather.indices.push_back(static_cast<std::uint32_t>(a * per_map + p));
      }
    }
  gather.out_features = gather.indices.size();
  net.layers.push_back(std::move(gather));
  net.layers.push_back(dense_layer(g[2], params, z[2], f1, act[3]));
  net.layers.push_back(relu_layer(act[3].size()));
  net.layers.push_back(dense_layer(g[3], params, z[3], act[3], iota(classes)));
  return net;
}

template PurgedNetwork purge_network<float>(const GatedModel<float>&, ConstView<float, 1>, TestGate,
                                            std::vector<std::size_t>*);
template PurgedNetwork purge_network<double>(const GatedModel<double>&, ConstView<double, 1>,
                                             TestGate, std::vector<std::size_t>*);

}  // namespace saddle::l0
