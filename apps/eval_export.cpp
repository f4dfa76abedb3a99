// `saddle eval` and `saddle export`: test-set metrics of a trained gated network (a run
// folder, its checkpoint, or an exported purged network), and writing the purged network in
// the export format of docs/export-format.md.

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"
#include "json_io.hpp"
#include "saddle/atomic_file.hpp"
#include "saddle/problems/l0/basic_layers.hpp"
#include "saddle/problems/l0/dataset.hpp"
#include "saddle/problems/l0/idx.hpp"
#include "saddle/problems/l0/purged_network.hpp"
#include "saddle/problems/l0/saved_model.hpp"

namespace saddle::cli {
namespace {

namespace fs = std::filesystem;
namespace l0 = saddle::l0;

// Takes the one positional argument (the model path) out of `args`; `switches` are the
// options that take no value. Throws UsageError if there is none or more than one.
std::string take_source(std::vector<std::string>& args, const std::vector<std::string>& switches, const char* command) {
  std::vector<std::string> rest;
  std::vector<std::string> found;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("-", 0) == 0 && a.size() > 1) {
      rest.push_back(a);
      const bool is_switch = std::find(switches.begin(), switches.end(), a) != switches.end();
      if (!is_switch && a.find('=') == std::string::npos && a.rfind("--", 0) == 0 && i + 1 < args.size()) rest.push_back(args[++i]);
    } else {
      found.push_back(a);
    }
  }
  args = rest;
  if (found.size() > 1) throw UsageError(std::string("saddle ") + command + " takes one RUN_OR_CHECKPOINT, got '" + found[0] + "' and '" + found[1] + "'");
  return found.empty() ? std::string() : found.front();
}

std::string percent(double fraction) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << 100.0 * fraction << '%';
  return s.str();
}

std::string ratio(std::size_t part, std::size_t whole) {
  return whole ? percent(static_cast<double>(part) / static_cast<double>(whole)) : std::string("-");
}

// The test split of `dataset`, read from `data_dir` (the train split is not loaded).
l0::DataSplit load_test_split(const std::string& dataset, const std::string& data_dir, l0::InputScaling scaling,
                              std::size_t rows, std::size_t cols, std::string& directory) {
  const auto names = l0::dataset_names();
  if (std::find(names.begin(), names.end(), dataset) == names.end())
    throw UsageError("unknown dataset '" + dataset + "' (choices: " + join(names) + ")");
  const auto files = l0::locate_dataset(dataset, l0::dataset_search_dirs(dataset, data_dir));
  directory = files.directory;
  const auto images = l0::read_idx_images(files.test_images);
  const auto labels = l0::read_idx_labels(files.test_labels);
  if (images.rows != rows || images.cols != cols)
    throw saddle::InputError("'" + files.test_images + "' holds " + std::to_string(images.rows) + "x" +
                             std::to_string(images.cols) + " images, the model reads " + std::to_string(rows) + "x" +
                             std::to_string(cols));
  return l0::make_split(images, labels, scaling, files.test_images, files.test_labels);
}

void write_predictions(const std::string& path, const std::vector<std::size_t>& predictions) {
  std::string text;
  for (std::size_t p : predictions) text += std::to_string(p) + '\n';
  saddle::write_file_atomically(path, text);  // WriteError: exit 4
}

std::size_t argmax_row(const float* row, std::size_t n) {
  std::size_t best = 0;
  for (std::size_t j = 1; j < n; ++j)
    if (row[j] > row[best]) best = j;  // first maximum on ties, as softmax_cross_entropy
  return best;
}

po::options_description eval_options() {
  po::options_description o("saddle eval options", 100, 50);
  o.add_options()
      ("dataset", po::value<std::string>()->value_name("NAME"), "mnist | fashion-mnist [default: the run's]")
      ("data-dir", po::value<std::string>()->value_name("DIR"), "folder with the IDX files [default: the run's "
       "--data-dir, else data/<dataset>]")
      ("batch", po::value<std::string>()->value_name("N")->default_value("500"), "examples per forward pass, > 0")
      ("predictions", po::value<std::string>()->value_name("FILE"), "write the predicted class of every test "
       "example to FILE, one per line")
      ("json", po::bool_switch(), "print one JSON object on stdout instead of the report")
      ("help,h", po::bool_switch(), "print this help and exit");
  return o;
}

int eval_body(const std::vector<std::string>& given_args, std::ostream& out) {
  std::vector<std::string> args = given_args;
  const std::string source = take_source(args, {"--json", "--help", "-h"}, "eval");
  const auto options = eval_options();
  const auto vm = parse_arguments(args, options);
  if (vm["help"].as<bool>()) {
    out << "usage: saddle eval RUN_OR_CHECKPOINT_OR_EXPORT [options]\n\nTest-set metrics of a trained gated network "
           "(run folder or checkpoint, test-time gates) or of an exported purged network.\n\n"
        << options << '\n';
    return kExitOk;
  }
  if (source.empty()) throw UsageError("missing RUN_OR_CHECKPOINT: saddle eval <run folder | checkpoint | exported file>");
  const auto batch_value = parse_unsigned("--batch", vm["batch"].as<std::string>());
  if (batch_value == 0) throw UsageError("--batch = 0: must be > 0");
  const auto batch = static_cast<std::size_t>(batch_value);
  const bool json = vm["json"].as<bool>();

  std::error_code ec;
  if (!fs::exists(source, ec)) throw saddle::InputError("'" + source + "': no such file or folder");
  const bool exported = !fs::is_directory(source, ec) && l0::is_exported_network(source);

  std::string kind, model_name, dataset, scaling_name, gate_name, pruned, directory;
  double loss = 0.0, error = 0.0;
  std::size_t count = 0, params = 0, macs = 0, dense_params = 0, dense_macs = 0;
  std::vector<std::size_t> predictions;
  // Saved-model extras.
  std::string checkpoint;
  bool ema = false;
  std::size_t epochs = 0;
  double expected_density = 0.0, test_time_density = 0.0;
  std::vector<std::string> layer_names;
  std::vector<double> layer_densities;

  if (exported) {
    kind = "export";
    const auto net = l0::PurgedNetwork::load(source);
    model_name = net.source_architecture;
    dataset = string_or(vm, "dataset", net.dataset.empty() ? std::string("mnist") : net.dataset);
    scaling_name = net.input_scaling;
    gate_name = net.test_gate;
    pruned = net.pruned_architecture;
    const auto scaling = l0::parse_input_scaling(net.input_scaling);
    const auto split = load_test_split(dataset, string_or(vm, "data-dir", "data/" + dataset), scaling, net.rows, net.cols, directory);
    xt::xtensor<float, 2> logits;
    net.predict(l0::cview(split.x), logits, batch);
    const auto ce = l0::softmax_cross_entropy<float>(l0::cview(logits), l0::cview(split.y));
    count = split.size();
    loss = ce.loss;
    error = count ? 1.0 - static_cast<double>(ce.correct) / static_cast<double>(count) : 0.0;
    for (std::size_t i = 0; i < count; ++i) predictions.push_back(argmax_row(logits.data() + i * net.classes, net.classes));
    params = net.params();
    macs = net.macs();
    try {
      const l0::GatedModel<float> shape(l0::parse_architecture(net.source_architecture), net.rows, net.cols, net.classes);
      dense_params = shape.dense_params();
      dense_macs = shape.dense_macs();
    } catch (const saddle::InvalidOption&) {
      // An unknown source architecture: no dense reference to compare with.
    }
  } else {
    const auto saved = l0::load_saved_model(source);
    kind = fs::is_directory(source, ec) ? "run" : "checkpoint";
    checkpoint = saved.checkpoint_path;
    model_name = l0::to_string(saved.architecture);
    dataset = string_or(vm, "dataset", saved.dataset);
    scaling_name = l0::to_string(saved.scaling);
    gate_name = l0::to_string(saved.test_gate);
    ema = saved.ema;
    epochs = saved.history.size();
    const std::string data_dir =
        given(vm, "data-dir") ? vm["data-dir"].as<std::string>() : (saved.data_dir.empty() ? "data/" + dataset : saved.data_dir);
    const auto split = load_test_split(dataset, data_dir, saved.scaling, saved.rows, saved.cols, directory);
    l0::GatedModel<float> model(saved.architecture, saved.rows, saved.cols, saved.classes);
    const auto p = l0::cview(saved.params);
    model.reserve(batch);
    // Same batching and accumulation as DensityProblem::evaluate (what training reports).
    const std::size_t n = split.size(), f = model.in_features(), c = model.num_classes();
    std::size_t correct = 0;
    for (std::size_t begin = 0; begin < n; begin += batch) {
      const std::size_t b = std::min(batch, n - begin);
      const auto r = model.forward_eval(p, l0::make_cview<float, 2>(split.x.data() + begin * f, {b, f}),
                                        l0::make_cview<std::int32_t, 1>(split.y.data() + begin, {b}), saved.test_gate);
      loss += r.loss * static_cast<double>(b);
      correct += r.correct;
      const auto logits = model.logits();
      for (std::size_t i = 0; i < b; ++i) predictions.push_back(argmax_row(logits.data() + i * c, c));
    }
    count = n;
    loss = n ? loss / static_cast<double>(n) : 0.0;
    error = n ? 1.0 - static_cast<double>(correct) / static_cast<double>(n) : 0.0;
    const auto purged = model.purged(p, saved.test_gate);
    pruned = purged.architecture();
    params = purged.params;
    macs = purged.macs;
    dense_params = model.dense_params();
    dense_macs = model.dense_macs();
    model.layer_densities(p, layer_densities);
    // Model density and test-time density weighted by sparsifiable weights (DensityProblem).
    double num = 0.0, tnum = 0.0, den = 0.0;
    for (std::size_t l = 0; l < layer_densities.size(); ++l) {
      const auto& g = model.gated_layers()[l];
      layer_names.push_back(g.name);
      const double nsp = static_cast<double>(g.sparsifiable);
      num += layer_densities[l] * nsp;
      tnum += static_cast<double>(purged.active_gates[l]) * nsp / static_cast<double>(g.num_gates);
      den += nsp;
    }
    expected_density = num / den;
    test_time_density = tnum / den;
  }
  if (given(vm, "predictions")) write_predictions(vm["predictions"].as<std::string>(), predictions);

  if (json) {
    Json j;
    j["source"] = source;
    j["kind"] = kind;
    if (!exported) j["checkpoint"] = checkpoint;
    j["model"] = model_name;
    j["dataset"] = dataset;
    j["data_dir"] = directory;
    j["input_scaling"] = scaling_name;
    j["test_gate"] = gate_name;
    if (!exported) {
      j["ema"] = ema;
      j["epochs"] = epochs;
    }
    j["count"] = count;
    j["test_error"] = error;
    j["test_loss"] = loss;
    if (!exported) {
      j["expected_density"] = expected_density;
      j["layer_names"] = layer_names;
      j["layer_densities"] = number_array(layer_densities);
      j["test_time_density"] = test_time_density;
    }
    j["pruned_architecture"] = pruned;
    j["purged_params"] = params;
    j["purged_macs"] = macs;
    j["dense_params"] = dense_params;
    j["dense_macs"] = dense_macs;
    out << json_text(j, 2);
  } else {
    out << "saddle eval: " << source << " (" << (exported ? "exported purged network" : kind == "run" ? "run folder" : "checkpoint")
        << ")\n";
    out << "  model               " << model_name;
    if (!exported) out << ", " << epochs << " epochs trained" << (ema ? ", EMA parameters" : "");
    out << "\n  test gate           " << gate_name << "\n  data                " << dataset << " test split, " << count
        << " examples, " << scaling_name << " inputs, from " << directory << '\n';
    out << "  test error          " << percent(error) << "\n  test loss           " << format_number(loss) << '\n';
    if (!exported) {
      out << "  expected density    " << format_number(expected_density) << "  [";
      for (std::size_t l = 0; l < layer_densities.size(); ++l)
        out << (l ? " " : "") << layer_names[l] << ' ' << format_number(layer_densities[l]);
      out << "]\n  test-time density   " << format_number(test_time_density) << '\n';
    }
    out << "  pruned architecture " << pruned << "\n  purged params       " << params << " of " << dense_params << " ("
        << ratio(params, dense_params) << ")\n  purged MACs         " << macs << " of " << dense_macs << " ("
        << ratio(macs, dense_macs) << ")\n";
  }
  return kExitOk;
}

po::options_description export_options() {
  po::options_description o("saddle export options", 100, 50);
  o.add_options()
      ("out", po::value<std::string>()->value_name("FILE"), "file to write [default: purged.sdln next to the "
       "checkpoint]")
      ("overwrite", po::bool_switch(), "replace FILE if it exists")
      ("json", po::bool_switch(), "print one JSON object on stdout instead of the report")
      ("help,h", po::bool_switch(), "print this help and exit");
  return o;
}

int export_body(const std::vector<std::string>& given_args, std::ostream& out) {
  std::vector<std::string> args = given_args;
  const std::string source = take_source(args, {"--json", "--help", "-h", "--overwrite"}, "export");
  const auto options = export_options();
  const auto vm = parse_arguments(args, options);
  if (vm["help"].as<bool>()) {
    out << "usage: saddle export RUN_OR_CHECKPOINT [options]\n\nWrite the purged network of a trained gated model "
           "(zero-gated units removed, test-time gates folded into the weights) in the format of "
           "docs/export-format.md.\n\n"
        << options << '\n';
    return kExitOk;
  }
  if (source.empty()) throw UsageError("missing RUN_OR_CHECKPOINT: saddle export <run folder | checkpoint> [--out FILE]");
  std::error_code ec;
  if (fs::exists(source, ec) && !fs::is_directory(source, ec) && l0::is_exported_network(source))
    throw UsageError("'" + source + "' is already an exported network");
  const auto saved = l0::load_saved_model(source);
  const fs::path checkpoint(saved.checkpoint_path);
  const std::string path = given(vm, "out") ? vm["out"].as<std::string>()
                                            : ((checkpoint.has_parent_path() ? checkpoint.parent_path() : fs::path(".")) /
                                               "purged.sdln").string();
  if (fs::exists(path, ec) && !vm["overwrite"].as<bool>())
    throw UsageError("--out " + path + ": file exists (use --overwrite to replace it)");
  if (fs::is_directory(path, ec)) throw UsageError("--out " + path + ": is a folder");

  auto net = l0::purge_network(saved.architecture, saved.rows, saved.cols, saved.classes, l0::cview(saved.params),
                               saved.test_gate);
  net.dataset = saved.dataset;
  net.input_scaling = l0::to_string(saved.scaling);
  const l0::GatedModel<float> model(saved.architecture, saved.rows, saved.cols, saved.classes);
  const auto counts = model.purged(l0::cview(saved.params), saved.test_gate);
  if (net.params() != counts.params || net.macs() != counts.macs)
    throw std::logic_error("purged network has " + std::to_string(net.params()) + " params / " +
                           std::to_string(net.macs()) + " MACs, GatedModel::purged counts " +
                           std::to_string(counts.params) + " / " + std::to_string(counts.macs));
  net.save(path);  // atomic; saddle::WriteError "cannot write PATH: REASON", exit 4
  const auto bytes = fs::file_size(path, ec);
  if (vm["json"].as<bool>()) {
    Json j;
    j["source"] = source;
    j["checkpoint"] = saved.checkpoint_path;
    j["out"] = path;
    j["bytes"] = static_cast<std::size_t>(ec ? 0 : bytes);
    j["model"] = net.source_architecture;
    j["dataset"] = net.dataset;
    j["input_scaling"] = net.input_scaling;
    j["test_gate"] = net.test_gate;
    j["ema"] = saved.ema;
    j["epochs"] = saved.history.size();
    j["pruned_architecture"] = net.pruned_architecture;
    j["layers"] = net.layers.size();
    j["purged_params"] = net.params();
    j["purged_macs"] = net.macs();
    j["dense_params"] = model.dense_params();
    j["dense_macs"] = model.dense_macs();
    out << json_text(j, 2);
  } else {
    out << "saddle export: wrote " << path << " (" << (ec ? 0 : bytes) << " bytes)\n"
        << "  model               " << net.source_architecture << " from " << saved.checkpoint_path << " ("
        << saved.history.size() << " epochs" << (saved.ema ? ", EMA parameters" : "") << "), test gate " << net.test_gate
        << '\n'
        << "  pruned architecture " << net.pruned_architecture << "\n  layers              ";
    for (std::size_t i = 0; i < net.layers.size(); ++i) {
      const auto& l = net.layers[i];
      out << (i ? " " : "") << l0::to_string(l.kind) << '(' << l.in_features << "->" << l.out_features << ')';
    }
    out << "\n  purged params       " << net.params() << " of " << model.dense_params() << " ("
        << ratio(net.params(), model.dense_params()) << ")\n  purged MACs         " << net.macs() << " of "
        << model.dense_macs() << " (" << ratio(net.macs(), model.dense_macs()) << ")\n";
  }
  return kExitOk;
}

}  // namespace

int run_eval(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return guarded(err, "eval", [&] { return eval_body(args, out); });
}

int run_export(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return guarded(err, "export", [&] { return export_body(args, out); });
}

}  // namespace saddle::cli
