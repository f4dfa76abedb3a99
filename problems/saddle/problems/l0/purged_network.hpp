#pragma once
/// \file purged_network.hpp
/// The physically smaller network left after purging a gated model at test time: every unit
/// or feature map whose deterministic test gate is zero is removed, and the remaining gates
/// are folded into the weights (dense: row i of W times z_i; conv: map c's W and b times z_c).
/// It computes the same logits as GatedModel::forward_eval with that test gate (up to float
/// summation order), with the weights and MACs that GatedModel::purged() counts.
///
/// A PurgedNetwork is a plain chain of layers (gather, dense, conv2d, relu, 2x2 max-pool) and
/// is saved in the `.sdln` file format of docs/export-format.md (the framed file of
/// framed_file.hpp: magic "SADLPNET", version 1, CRC32-checked payload).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "saddle/problems/l0/framed_file.hpp"
#include "saddle/problems/l0/hard_concrete.hpp"
#include "saddle/problems/l0/model.hpp"
#include "saddle/problems/l0/tensor_view.hpp"

namespace saddle::l0 {

/// Export file format version written and read by this build.
inline constexpr std::uint32_t kExportVersion = 1;
/// The 8 bytes every exported network starts with.
inline constexpr char kExportMagic[8] = {'S', 'A', 'D', 'L', 'P', 'N', 'E', 'T'};
/// The framed-file format of exports (framed_file.hpp).
inline constexpr FrameFormat kExportFormat{kExportMagic, kExportVersion, "exported network"};

/// Kinds of layer of a purged network (the u32 codes of the file format).
enum class PurgedLayerKind : std::uint32_t {
  gather = 1,   ///< out[:, j] = in[:, indices[j]]
  dense = 2,    ///< out = in @ W + b, W: [in, out] row-major, b: [out]
  conv2d = 3,   ///< valid convolution, stride 1: W: [C_out, C_in*k*k], b: [C_out]
  relu = 4,     ///< out = max(in, 0)
  maxpool2 = 5  ///< 2x2 max-pool, stride 2, floor (maps C x H x W)
};
/// "gather", "dense", "conv2d", "relu", "maxpool2".
const char* to_string(PurgedLayerKind kind);

/// One layer. Rows of activations are flattened NCHW maps (conv) or feature vectors.
struct PurgedLayer {
  PurgedLayerKind kind = PurgedLayerKind::relu;
  std::size_t in_features = 0;   ///< row width of the input
  std::size_t out_features = 0;  ///< row width of the output
  /// conv2d: input maps channels x height x width, out_channels maps, kernel x kernel.
  /// maxpool2: maps channels x height x width.
  std::size_t channels = 0, height = 0, width = 0, out_channels = 0, kernel = 0;
  std::vector<std::uint32_t> indices;  ///< gather: [out_features], each < in_features
  std::vector<float> weights;          ///< dense: [in, out]; conv2d: [C_out, C_in*k*k]
  std::vector<float> bias;             ///< dense: [out]; conv2d: [C_out]
};

/// A 2x2 max-pool layer (stride 2, floor) over `channels` maps of height x width:
/// in_features = channels * height * width, out_features = channels * (height / 2) * (width / 2).
PurgedLayer maxpool2_layer(std::size_t channels, std::size_t height, std::size_t width);

/// A purged network with the metadata of the model it came from.
class PurgedNetwork {
 public:
  std::string source_architecture;  ///< "mlp" or "lenet5"
  std::string dataset;              ///< dataset the model was trained on ("mnist", ...)
  std::string input_scaling;        ///< "standardize" or "unit": how pixels become inputs
  std::string test_gate;            ///< test gate the purge used ("median", "mean_eq13")
  std::string pruned_architecture;  ///< active gates per gated layer, e.g. "219-214-100"
  std::size_t rows = 0, cols = 0;   ///< input image size; the input row is rows*cols pixels
  std::size_t classes = 0;          ///< outputs (logits) per example
  std::vector<PurgedLayer> layers;

  /// Weights + biases of the dense and conv2d layers.
  std::size_t params() const;
  /// Multiply-accumulates per example: dense in*out, conv2d C_out*C_in*k*k*Ho*Wo.
  std::size_t macs() const;

  /// Checks the chain: first layer reads rows*cols features, each layer reads what the
  /// previous one writes, the last writes `classes`, shapes and sizes agree, gather indices
  /// are in range. Throws InputError naming the first problem.
  void validate() const;

  /// logits: [B, classes] <- the network applied to input: [B, rows*cols]. Works in chunks of
  /// at most `chunk` rows; allocates its work buffers (and `logits` if its shape differs).
  void predict(ConstView<float, 2> input, xt::xtensor<float, 2>& logits, std::size_t chunk = 256) const;

  /// Writes the network in the export format (atomically: saddle::write_file_atomically).
  /// Throws saddle::WriteError (an InputError) if the file cannot be written.
  void save(const std::string& path) const;
  /// The file's bytes (header + payload), as save() writes them.
  std::string serialize() const;
  /// Reads a file written by save(). Throws InputError naming the file for: a missing file,
  /// a bad magic, another version, a truncated or corrupted (CRC32) file, trailing bytes,
  /// or a network that fails validate().
  static PurgedNetwork load(const std::string& path);
  /// Same from bytes in memory; `name` is used in messages.
  static PurgedNetwork deserialize(const std::string& bytes, const std::string& name);

 private:
  std::string serialize_payload() const;
  static PurgedNetwork parse_payload(const std::string& payload, const std::string& name);
};

/// True if the file at `path` starts with kExportMagic (false for a missing or short file).
bool is_exported_network(const std::string& path);

/// Builds the purged network of `arch` (rows x cols inputs, `classes` outputs) at
/// params: [GatedModel(arch, rows, cols, classes).num_parameters()] with the test gate `gate`:
///  - MLP: layer l keeps its inputs with z > 0 (layer 1: a gather of the active pixels) and
///    the outputs that the next layer keeps (all classes for the last);
///  - LeNet5: conv1 keeps its active maps c1; conv2 keeps its active maps c2 and the input
///    channels c1; fc1 keeps the inputs active under its own gate AND inside an active conv2
///    map (a gather after the flatten) and outputs the active fc2 inputs; fc2 keeps those.
/// params() and macs() equal GatedModel::purged(params, gate). Metadata fields other than
/// the architecture, sizes, gate and pruned architecture are left empty. Allocates.
/// Throws InvalidOption on a wrong parameter count.
PurgedNetwork purge_network(Architecture arch, std::size_t rows, std::size_t cols, std::size_t classes,
                            ConstView<float, 1> params, TestGate gate);

/// The same for a model and its params: [model.num_parameters()] (float or double; the
/// network holds float32 weights). The one purge: GatedModel::purged counts this network.
/// If active_gates is not null it receives the active test gates of each gated layer: [L].
template <class T>
PurgedNetwork purge_network(const GatedModel<T>& model, ConstView<T, 1> params, TestGate gate,
                            std::vector<std::size_t>* active_gates = nullptr);
extern template PurgedNetwork purge_network<float>(const GatedModel<float>&, ConstView<float, 1>,
                                                   TestGate, std::vector<std::size_t>*);
extern template PurgedNetwork purge_network<double>(const GatedModel<double>&, ConstView<double, 1>,
                                                    TestGate, std::vector<std::size_t>*);

}  // namespace saddle::l0
