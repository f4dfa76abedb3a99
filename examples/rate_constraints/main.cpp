// Rate-constrained classification on Fashion-MNIST with proxy constraints:
//   min CE  s.t.  recall_k >= r for every class k,
// trained with saddle's Solver over an MLP built from saddle::nn layers. Prints the
// per-class test recall and the test error, and writes them as JSON (--out).
//
//   rate_constraints --recall 0.9 --seed 1 --out runs/c1.json
//   rate_constraints --unconstrained --seed 1 --out runs/u1.json
//
// Exit codes: 0 success, 1 numerical failure of the solve, 2 bad usage or input.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <saddle/saddle.hpp>
#include <saddle/solvers.hpp>

#include "rate_problem.hpp"

namespace {

const char* kUsage =
    "usage: rate_constraints [options]\n"
    "  --recall R         recall target r in (0, 1] for every class (default 0.8)\n"
    "  --unconstrained    plain cross-entropy training (no constraints)\n"
    "  --epochs N         training epochs (default 20)\n"
    "  --seed N           seed of the initial point, shuffles (default 1)\n"
    "  --solver NAME      gda | alternating-primal-dual | alternating-dual-primal |\n"
    "                     extragradient | extrapolation-from-the-past (default gda)\n"
    "  --primal-lr X      Adam step size (default 3e-4)\n"
    "  --dual-lr X        projected gradient ascent step size (default 0.003)\n"
    "  --batch N          minibatch size (default 128)\n"
    "  --validation N     hold out the last N training samples: the strict (dual) recalls\n"
    "                     are measured on minibatches of them (default 0: on the training\n"
    "                     minibatch)\n"
    "  --hidden A,B,...   hidden layer widths (default 300,100; 'none' for a linear model)\n"
    "  --dataset NAME     fashion-mnist | mnist (default fashion-mnist)\n"
    "  --data-dir DIR     folder of the four IDX files (fashion-mnist falls back to\n"
    "                     /usr/share/datasets/fashion-mnist)\n"
    "  --out FILE         write the results as JSON\n";

const std::vector<std::string> kFashionNames = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                "Bag",         "Ankle boot"};

struct Usage : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Args {
  double recall = 0.8;
  bool constrained = true;
  std::size_t epochs = 20;
  std::uint64_t seed = 1;
  std::string solver = "gda";
  double primal_lr = 3e-4;
  double dual_lr = 0.003;
  std::size_t batch = 128;
  std::size_t validation = 0;
  std::vector<std::size_t> hidden = {300, 100};
  std::string dataset = "fashion-mnist";
  std::string data_dir;
  std::string out;
};

std::uint64_t parse_uint(const std::string& flag, const std::string& v) {
  std::size_t pos = 0;
  unsigned long long n = 0;
  try {
    if (v.empty() || v[0] == '-') throw std::invalid_argument(v);
    n = std::stoull(v, &pos);
  } catch (const std::exception&) {
    pos = std::string::npos;
  }
  if (pos != v.size()) throw Usage(flag + " '" + v + "' is not a non-negative integer");
  return n;
}

double parse_double(const std::string& flag, const std::string& v) {
  std::size_t pos = 0;
  double x = 0.0;
  try {
    x = std::stod(v, &pos);
  } catch (const std::exception&) {
    pos = std::string::npos;
  }
  if (pos != v.size()) throw Usage(flag + " '" + v + "' is not a number");
  return x;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (flag == "--unconstrained") {
      a.constrained = false;
      continue;
    }
    if (i + 1 >= argc) throw Usage(flag == "" ? "empty argument" : flag + " needs a value");
    const std::string v = argv[++i];
    if (flag == "--recall") {
      a.recall = parse_double(flag, v);
    } else if (flag == "--epochs") {
      a.epochs = parse_uint(flag, v);
    } else if (flag == "--seed") {
      a.seed = parse_uint(flag, v);
    } else if (flag == "--solver") {
      a.solver = v;
    } else if (flag == "--primal-lr") {
      a.primal_lr = parse_double(flag, v);
    } else if (flag == "--dual-lr") {
      a.dual_lr = parse_double(flag, v);
    } else if (flag == "--batch") {
      a.batch = parse_uint(flag, v);
    } else if (flag == "--validation") {
      a.validation = parse_uint(flag, v);
    } else if (flag == "--hidden") {
      a.hidden.clear();
      if (v != "none") {
        std::stringstream s(v);
        std::string item;
        while (std::getline(s, item, ',')) a.hidden.push_back(parse_uint(flag, item));
      }
    } else if (flag == "--dataset") {
      a.dataset = v;
    } else if (flag == "--data-dir") {
      a.data_dir = v;
    } else if (flag == "--out") {
      a.out = v;
    } else {
      throw Usage("unknown option '" + flag + "' (see --help)");
    }
  }
  if (a.epochs == 0) throw Usage("--epochs must be >= 1");
  if (a.batch == 0) throw Usage("--batch must be >= 1");
  return a;
}

// Prints the epoch number, the last minibatch's loss, worst strict violation and largest
// multiplier at the end of every epoch.
class EpochPrinter : public saddle::Callback<float> {
 public:
  bool on_epoch_end(const saddle::StepInfo<float>& info) override {
    double max_lambda = 0.0;
    for (double l : *info.multipliers) max_lambda = std::max(max_lambda, l);
    std::printf("epoch %zu: batch loss %.4f, max strict violation %.4f, max multiplier %.4f\n",
                info.epoch + 1, info.evaluation->loss, info.max_violation, max_lambda);
    std::fflush(stdout);
    return true;
  }
};

std::string json_array(const std::vector<double>& v) {
  std::string s = "[";
  char buf[32];
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.6g", i ? ", " : "", v[i]);
    s += buf;
  }
  return s + "]";
}

std::string json_metrics(const rate_constraints::ClassMetrics& m) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "{\"error\": %.6g, \"loss\": %.6g, \"recall\": ", m.error, m.loss);
  std::vector<double> counts(m.count.begin(), m.count.end());
  return buf + json_array(m.recall) + ", \"count\": " + json_array(counts) + "}";
}

int run(const Args& a) {
  const saddle::nn::Dataset data =
      saddle::nn::load_dataset(a.dataset, a.data_dir, saddle::nn::InputScaling::unit);
  rate_constraints::RateProblemOptions po;
  po.hidden = a.hidden;
  po.recall = a.recall;
  po.constrained = a.constrained;
  po.batch = a.batch;
  po.validation = a.validation;
  rate_constraints::RateConstrainedClassifier problem(data, po);

  saddle::SolverOptions opt;
  opt.primal.kind = saddle::PrimalRuleKind::adam;
  opt.primal.lr = a.primal_lr;
  opt.dual.lr = a.dual_lr;
  opt.batch_size = a.batch;
  opt.max_epochs = a.epochs;
  opt.max_iterations = 0;
  opt.seed = a.seed;
  saddle::Solver<float> solver(saddle::make_scheme<float>(a.solver), opt);
  EpochPrinter printer;
  solver.add_callback(&printer);

  std::printf("%s: %zu train, %zu held out, %zu test; MLP %zu", data.name.c_str(),
              problem.num_fit(), data.train.size() - problem.num_fit(), data.test.size(),
              data.features());
  for (std::size_t h : a.hidden) std::printf("-%zu", h);
  std::printf("-%zu (%zu parameters); %s, solver %s\n", data.num_classes, problem.num_parameters(),
              a.constrained ? ("recall >= " + std::to_string(a.recall) + " per class").c_str()
                            : "unconstrained",
              a.solver.c_str());
  const saddle::Summary<float> s = solver.solve(problem);
  std::printf("termination: %s after %zu steps, %.1f s\n", saddle::to_string(s.termination),
              s.iterations, s.seconds);

  const rate_constraints::ClassMetrics test = problem.evaluate(s.x, data.test);
  const rate_constraints::ClassMetrics train =
      problem.evaluate(s.x, data.train, 0, problem.num_fit());
  rate_constraints::ClassMetrics held;
  if (problem.num_fit() < data.train.size()) {
    held = problem.evaluate(s.x, data.train, problem.num_fit(), data.train.size());
  }
  std::vector<std::string> names;
  for (std::size_t k = 0; k < data.num_classes; ++k) {
    names.push_back(data.name == "fashion-mnist" && k < kFashionNames.size() ? kFashionNames[k]
                                                                             : std::to_string(k));
  }
  std::vector<double> lambda(problem.num_classes(), 0.0);
  for (std::size_t k = 0; k < s.multipliers.size(); ++k) lambda[k] = s.multipliers(k);
  const bool has_held = !held.recall.empty();
  std::printf("%-12s %8s %8s %8s %10s\n", "class", "test", "train", has_held ? "held-out" : "",
              "lambda");
  for (std::size_t k = 0; k < data.num_classes; ++k) {
    char held_cell[16] = "";
    if (has_held) std::snprintf(held_cell, sizeof held_cell, "%8.4f", held.recall[k]);
    std::printf("%-12s %8.4f %8.4f %8s %10.4f%s\n", names[k].c_str(), test.recall[k],
                train.recall[k], held_cell, lambda[k],
                a.constrained && test.recall[k] < a.recall ? "  < r" : "");
  }
  std::printf("test error %.4f (loss %.4f), train error %.4f\n", test.error, test.loss,
              train.error);

  if (!a.out.empty()) {
    std::ofstream f(a.out);
    if (!f) throw saddle::InputError("cannot write " + a.out);
    std::string names_json = "[";
    for (std::size_t k = 0; k < names.size(); ++k)
      names_json += (k ? ", \"" : "\"") + names[k] + "\"";
    names_json += "]";
    std::vector<double> hidden(a.hidden.begin(), a.hidden.end());
    f << "{\"dataset\": \"" << data.name << "\", \"seed\": " << a.seed
      << ", \"epochs\": " << a.epochs << ", \"constrained\": " << (a.constrained ? "true" : "false")
      << ", \"recall_target\": " << a.recall << ", \"solver\": \"" << a.solver
      << "\", \"primal_lr\": " << a.primal_lr << ", \"dual_lr\": " << a.dual_lr
      << ", \"batch\": " << a.batch << ", \"hidden\": " << json_array(hidden)
      << ", \"classes\": " << names_json << ", \"termination\": \""
      << saddle::to_string(s.termination) << "\", \"iterations\": " << s.iterations
      << ", \"seconds\": " << s.seconds << ", \"multipliers\": " << json_array(lambda)
      << ", \"test\": " << json_metrics(test) << ", \"train\": " << json_metrics(train);
    if (a.validation > 0) {
      f << ", \"validation\": " << a.validation << ", \"held_out\": " << json_metrics(held);
    }
    f << "}\n";
    if (!f) throw saddle::InputError("cannot write " + a.out);
  }
  if (s.termination == saddle::Termination::numerical_failure) {
    std::fprintf(stderr, "rate_constraints: numerical failure: %s\n", s.message.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const Usage& e) {
    std::fprintf(stderr, "rate_constraints: %s\n", e.what());
    return 2;
  } catch (const saddle::InvalidOption& e) {
    std::fprintf(stderr, "rate_constraints: %s\n", e.what());
    return 2;
  } catch (const saddle::InputError& e) {
    std::fprintf(stderr, "rate_constraints: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rate_constraints: error: %s\n", e.what());
    return 1;
  }
}
