// Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) with saddle's
// own writers: small valid files of every format plus a few edge cases. Built with the fuzz
// targets (target fuzz_make_corpus); run from the repository root as
//   build-fuzz/tests/fuzz/fuzz_make_corpus tests/fuzz/corpus
// Re-running it rewrites the files; only the checkpoint seeds change (the solver state
// records the wall time of the solve).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "checkpoint_problem.hpp"
#include "saddle/callbacks.hpp"
#include "saddle/plugin.hpp"
#include "saddle/problems/l0/checkpoint.hpp"
#include "saddle/problems/l0/idx.hpp"
#include "saddle/problems/l0/purged_network.hpp"
#include "saddle/solver.hpp"
#include "saddle/solvers.hpp"

namespace fs = std::filesystem;
using namespace saddle;

namespace {

fs::path root;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = root / target;
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::cerr << "cannot write " << (dir / name) << '\n';
    std::exit(1);
  }
}

std::string as_string(const std::vector<std::uint8_t>& v) {
  return std::string(v.begin(), v.end());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// --- IDX: the first byte of an input says whether the target gzips the rest ---
void idx_corpus() {
  l0::IdxImages images;
  images.count = 2;
  images.rows = 3;
  images.cols = 3;
  for (int i = 0; i < 18; ++i) images.pixels.push_back(static_cast<std::uint8_t>(i * 14));
  l0::IdxLabels labels;
  labels.labels = {3, 7, 0};
  const std::string img = as_string(l0::encode_idx_images(images));
  const std::string lab = as_string(l0::encode_idx_labels(labels));
  put("fuzz_idx", "images-plain", std::string(1, '\0') + img);
  put("fuzz_idx", "images-gzip", std::string(1, '\1') + img);
  put("fuzz_idx", "labels-plain", std::string(1, '\0') + lab);
  put("fuzz_idx", "labels-gzip", std::string(1, '\1') + lab);
  // A gzip file as write_idx_labels writes it, stored as it is.
  const std::string tmp = (fs::temp_directory_path() / "saddle-make-corpus.idx.gz").string();
  l0::write_idx_labels(tmp, labels, true);
  put("fuzz_idx", "labels-gzip-file", std::string(1, '\0') + read_file(tmp));
  std::remove(tmp.c_str());
  // Edge cases: header only, a zero dimension, a huge dimension, trailing bytes.
  put("fuzz_idx", "edge-header-only", std::string(1, '\0') + img.substr(0, 16));
  std::string zero = img;
  zero[7] = 0;
  put("fuzz_idx", "edge-zero-count", std::string(1, '\0') + zero);
  std::string huge = img;
  huge[4] = '\x7f';
  put("fuzz_idx", "edge-huge-count-gzip", std::string(1, '\1') + huge);
  put("fuzz_idx", "edge-trailing", std::string(1, '\0') + lab + "x");
}

// --- checkpoint: a file, its payload, and a bare solver state ---
class StateSaver : public Callback<float> {
 public:
  explicit StateSaver(const Solver<float>& solver) : solver_(solver) {}
  bool on_step(const StepInfo<float>&) override {
    std::ostringstream s;
    solver_.save_state(s);
    state = s.str();
    return true;
  }
  std::string state;

 private:
  const Solver<float>& solver_;
};

void checkpoint_corpus() {
  auto problem = fuzz::checkpoint_problem();
  SolverOptions options = fuzz::checkpoint_options();
  options.max_iterations = 1;
  Solver<float> solver(make_scheme<float>("extragradient"), options);
  StateSaver saver(solver);
  solver.add_callback(&saver);
  (void)solver.solve(*problem);

  l0::RunState run;
  run.fingerprint = "mlp params=2";
  run.best_test_error = 0.25;
  run.best_epoch = 1;
  l0::EpochMetrics m;
  m.epoch = 1;
  m.layer_densities = {0.5, 0.25, 1.0};
  m.constraint_values = {0.1};
  m.multipliers = {0.01};
  m.pruned_architecture = "2-1-1";
  run.history.push_back(m);
  run.ema_started = true;
  run.ema = Vector<float>::from_shape({2});
  run.ema(0) = 0.5f;
  run.ema(1) = 0.25f;
  std::ostringstream rs;
  l0::write_run_state(rs, run);
  const std::string payload = rs.str() + saver.state;

  const std::string tmp = (fs::temp_directory_path() / "saddle-make-corpus.ckpt").string();
  l0::write_checkpoint_file(tmp, payload);
  put("fuzz_checkpoint", "checkpoint-file", read_file(tmp));
  std::remove(tmp.c_str());
  put("fuzz_checkpoint", "payload", payload);
  put("fuzz_checkpoint", "solver-state", saver.state);
  put("fuzz_checkpoint", "edge-empty", "");
  put("fuzz_checkpoint", "edge-magic-only", "SADLCKPT");
}

// --- exported purged networks: an MLP-like and a LeNet-like one, file and payload ---
void purged_corpus() {
  using l0::PurgedLayer;
  using l0::PurgedLayerKind;
  l0::PurgedNetwork mlp;
  mlp.source_architecture = "mlp";
  mlp.dataset = "mnist";
  mlp.input_scaling = "standardize";
  mlp.test_gate = "median";
  mlp.pruned_architecture = "3-2-2";
  mlp.rows = 2;
  mlp.cols = 2;
  mlp.classes = 2;
  PurgedLayer gather;
  gather.kind = PurgedLayerKind::gather;
  gather.in_features = 4;
  gather.out_features = 3;
  gather.indices = {0, 2, 3};
  PurgedLayer d1;
  d1.kind = PurgedLayerKind::dense;
  d1.in_features = 3;
  d1.out_features = 2;
  d1.weights = {0.5f, -1.0f, 0.25f, 2.0f, -0.5f, 1.0f};
  d1.bias = {0.1f, -0.1f};
  PurgedLayer relu;
  relu.kind = PurgedLayerKind::relu;
  relu.in_features = relu.out_features = 2;
  PurgedLayer d2 = d1;
  d2.in_features = 2;
  d2.weights = {1.0f, 0.0f, 0.0f, 1.0f};
  mlp.layers = {gather, d1, relu, d2};
  mlp.validate();
  const std::string a = mlp.serialize();
  put("fuzz_purged_network", "mlp-file", a);
  put("fuzz_purged_network", "mlp-payload", a.substr(24));

  l0::PurgedNetwork lenet = mlp;
  lenet.source_architecture = "lenet5";
  lenet.pruned_architecture = "2-2";
  lenet.rows = 4;
  lenet.cols = 4;
  PurgedLayer conv;
  conv.kind = PurgedLayerKind::conv2d;
  conv.channels = 1;
  conv.height = conv.width = 4;
  conv.out_channels = 2;
  conv.kernel = 3;
  conv.in_features = 16;
  conv.out_features = 8;
  conv.weights.assign(18, 0.125f);
  conv.bias = {0.0f, 0.5f};
  PurgedLayer r8 = relu;
  r8.in_features = r8.out_features = 8;
  PurgedLayer pool;
  pool.kind = PurgedLayerKind::maxpool2;
  pool.channels = 2;
  pool.height = pool.width = 2;
  pool.in_features = 8;
  pool.out_features = 2;
  PurgedLayer d3 = d2;
  lenet.layers = {conv, r8, pool, d3};
  lenet.validate();
  const std::string b = lenet.serialize();
  put("fuzz_purged_network", "lenet-file", b);
  put("fuzz_purged_network", "lenet-payload", b.substr(24));
  put("fuzz_purged_network", "edge-magic-only", std::string(l0::kExportMagic, 8));
}

// --- JSON of child runs ---
void json_corpus() {
  put("fuzz_json", "summary.json",
      "{\"model\": \"mlp\", \"target_density\": 0.33, \"final\": {\"epoch\": 80, \"test_error\": "
      "0.0175, "
      "\"expected_density\": 0.327, \"layer_densities\": [0.31, 0.42, 0.9], \"multipliers\": "
      "[0.0], "
      "\"test_loss\": null}, \"constraints_met\": true, \"seconds\": 65.2, \"note\": "
      "\"a\\u00e9\\n\\\"b\\\"\"}\n");
  put("fuzz_json", "metrics-line.json",
      "{\"epoch\":1,\"train_loss\":0.31,\"test_error\":1.5e-2,\"pruned_architecture\":\"219-214-"
      "100\","
      "\"purged_params\":47000,\"ok\":false,\"x\":-0.0,\"y\":[]}");
  put("fuzz_json", "edge-nested", "[[[[{\"a\":[{}]}]]]]");
  put("fuzz_json", "edge-numbers", "[0,-1,1e308,1e309,-1E-400,123456789012345678901234567890]");
  put("fuzz_json", "edge-empty", "");
}

// --- INI of saddle train --config (the lines write_config_ini produces) ---
void config_corpus() {
  put("fuzz_config", "config.ini",
      "# saddle train: the configuration of this run. Re-run it with\n"
      "#   saddle train --config config.ini --out DIR\n"
      "model = mlp\ndataset = mnist\ntarget-density = 0.33\npenalty-form = density\n"
      "input-scaling = standardize\ntest-gate = median\ninit = lz\nweight-decay = 0\nema = 0\n"
      "solver = gda\nformulation = lagrangian\nno-dual-restarts = false\nprimal-rule = adam\n"
      "primal-lr = 7e-4\nmomentum = 0.9\ndual-rule = nupi\ndual-lr = 2e-4\nkp = 5\nnu = 0\n"
      "penalty = 1\nbatch = 128\nepochs = 80\nseed = 1\neval-every = 1\nlog-every = 50\n");
  put("fuzz_config", "edge-errors",
      "[section]\n--model = mlp\nepochs\n = 3\nmodel = a\nmodel = b\nconfig = x\n");
  put("fuzz_config", "edge-switch", "no-dual-restarts = maybe\nlayer-densities = 0.5,0.3,0.7\r\n");
  put("fuzz_config", "edge-empty", "");
}

// --- plugin ABI stamps: mode byte, integers, NUL-separated strings ---
void plugin_corpus() {
  const saddle_plugin_abi& host = host_plugin_abi();
  auto strings = [&](const saddle_plugin_abi& s) {
    std::string out;
    for (const char* t :
         {s.saddle_version, s.vector_float_type, s.vector_double_type, s.string_type, s.compiler}) {
      out += t == nullptr ? "" : t;
      out.push_back('\0');
    }
    return out;
  };
  put("fuzz_plugin_abi", "host", std::string(1, '\x80'));
  put("fuzz_plugin_abi", "host-strings", std::string(1, '\0') + strings(host));
  std::string ints(1, '\x7e');
  auto add32 = [&](std::uint32_t v) { ints.append(reinterpret_cast<const char*>(&v), 4); };
  add32(host.abi);
  add32(host.size);
  add32(host.gxx_abi);
  add32(host.cxx11_string_abi);
  add32(host.xsimd);
  ints.append(reinterpret_cast<const char*>(&host.layout), 8);
  put("fuzz_plugin_abi", "host-ints", ints + strings(host));
  put("fuzz_plugin_abi", "edge-zeros", std::string(1, '\x01'));
  put("fuzz_plugin_abi", "edge-version", std::string(1, '\x80') + "0.0.0");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_corpus DIR   (DIR = tests/fuzz/corpus)\n";
    return 2;
  }
  root = argv[1];
  idx_corpus();
  checkpoint_corpus();
  purged_corpus();
  json_corpus();
  config_corpus();
  plugin_corpus();
  std::cout << "seed corpora written under " << root << '\n';
  return 0;
}
