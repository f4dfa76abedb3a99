// The bad plugins of tests/cli/test_plugin.cpp: this file is compiled once per kind of
// failure, selected by one BAD_* definition (tests/CMakeLists.txt).
#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include <saddle/plugin.hpp>

#if !defined(BAD_NO_SYMBOL)
namespace {

// A valid problem whose pieces fail on demand.
class Faulty : public saddle::Problem {
 public:
  enum class Fault { none, forward_throws, forward_nan };
  explicit Faulty(Fault fault) : fault_(fault) {}
  std::size_t num_parameters() const override { return 1; }
  std::vector<saddle::ConstraintSpec> constraints() const override {
    return {{"x<=1", saddle::ConstraintKind::inequality}};
  }
  void initial_point(saddle::Vector<double>& x, std::uint64_t) const override { x(0) = 0.0; }
  void forward(const saddle::Vector<double>& x, const saddle::Batch&,
               saddle::Evaluation& eval) override {
    ++calls_;
    if (fault_ == Fault::forward_throws && calls_ == 3)
      throw std::runtime_error("simulated failure in forward");
    x_ = x(0);
    eval.loss =
        fault_ == Fault::forward_nan && calls_ >= 5 ? std::nan("") : (x_ - 2.0) * (x_ - 2.0);
    eval.constraints(0) = x_ - 1.0;
  }
  void backward(const saddle::Vector<double>& w, saddle::Vector<double>& grad) override {
    grad(0) = 2.0 * (x_ - 2.0) + w(0);
  }

 private:
  Fault fault_;
  int calls_ = 0;
  double x_ = 0.0;
};

[[maybe_unused]] saddle::PluginProblem faulty(const char* name, Faulty::Fault fault) {
  return saddle::plugin_problem<Faulty>(name, "min (x-2)^2 s.t. x <= 1, failing on purpose", fault);
}

}  // namespace
#endif

#if defined(BAD_NO_SYMBOL)
// A shared library without SADDLE_PLUGIN.
extern "C" int not_a_saddle_plugin() { return 42; }

#elif defined(BAD_ABI) || defined(BAD_VERSION)
// A hand-written stamp from another plugin ABI or saddle version.
extern "C" __attribute__((visibility("default"))) const saddle_plugin_abi* saddle_plugin_abi_v1() {
  static saddle_plugin_abi stamp = SADDLE_PLUGIN_ABI_HERE;
#if defined(BAD_ABI)
  stamp.abi = 999;
#else
  stamp.saddle_version = "0.0.1";
#endif
  return &stamp;
}
extern "C" __attribute__((visibility("default"))) void saddle_plugin_register_v1(
    saddle::PluginRegistry& registry) {
  registry.add(faulty("never-registered", Faulty::Fault::none));
}

#elif defined(BAD_XSIMD)
// Compiled with XTENSOR_USE_XSIMD flipped (tests/CMakeLists.txt): saddle::Vector<T> is
// another C++ type than the host's.
SADDLE_PLUGIN(registry) { registry.add(faulty("never-registered", Faulty::Fault::none)); }

#elif defined(BAD_DUPLICATE)
SADDLE_PLUGIN(registry) {
  registry.add(faulty("twice", Faulty::Fault::none));
  registry.add(faulty("twice", Faulty::Fault::none));
}

#elif defined(BAD_BUILTIN_NAME)
SADDLE_PLUGIN(registry) { registry.add(faulty("hs21", Faulty::Fault::none)); }

#elif defined(BAD_REGISTER_THROWS)
SADDLE_PLUGIN(registry) {
  (void)registry;
  throw std::runtime_error("cannot find my data file");
}

#elif defined(BAD_EMPTY)
SADDLE_PLUGIN(registry) { (void)registry; }

#elif defined(BAD_PROBLEMS)
// A loadable plugin whose problems fail when used.
SADDLE_PLUGIN(registry) {
  saddle::PluginProblem factory_throws = faulty("factory-throws", Faulty::Fault::none);
  factory_throws.make_double = [](const saddle::ProblemArgs&) -> std::unique_ptr<saddle::Problem> {
    throw std::runtime_error("simulated failure in the factory");
  };
  registry.add(std::move(factory_throws));
  saddle::PluginProblem factory_null = faulty("factory-null", Faulty::Fault::none);
  factory_null.make_double = [](const saddle::ProblemArgs&) -> std::unique_ptr<saddle::Problem> {
    return nullptr;
  };
  registry.add(std::move(factory_null));
  registry.add(faulty("forward-throws", Faulty::Fault::forward_throws));
  registry.add(faulty("forward-nan", Faulty::Fault::forward_nan));
}

#else
#error "define one BAD_* kind"
#endif
