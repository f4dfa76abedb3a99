#pragma once
/// \file plugin.hpp
/// Problems in a shared library, loaded at run time: `saddle solve --plugin libmine.so
/// --problem NAME` and `saddle compare --plugin libmine.so --problem NAME`.
///
/// A plugin is a shared library (CMake: `add_library(mine MODULE mine.cpp)` linked to
/// `saddle::core`) with one registration block:
///
/// ```cpp
/// #include <saddle/plugin.hpp>
///
/// class Quadratic : public saddle::Problem { ... };     // or saddle::ProblemF (float)
///
/// SADDLE_PLUGIN(registry) {
///   registry.add(saddle::plugin_problem<Quadratic>("my-qp", "min 6x0^2 + 4x0x1 + 3x1^2 ...")
///                    .with_answer({{1.0, 4.0}, {-28.0}, 70.0, "by hand"}));
/// }
/// ```
///
/// The host checks the library's ABI stamp (written by SADDLE_PLUGIN) before calling
/// anything else in it: the plugin ABI number, the saddle version, the compiler's C++ ABI,
/// the libstdc++ string ABI and the exact C++ types of `Vector<float>`, `Vector<double>`
/// and `std::string` (the vector type changes with XTENSOR_USE_XSIMD and with the
/// alignment that -march gives xsimd). Objects only cross the boundary when all agree.
/// docs/plugins.md explains how to write, build and load a plugin.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "saddle/options.hpp"
#include "saddle/problem.hpp"
#include "saddle/version.hpp"

/// Version of the plugin interface: the layout of saddle_plugin_abi, the two entry points
/// SADDLE_PLUGIN defines, PluginRegistry and PluginProblem. Bumped on any change to them.
#define SADDLE_PLUGIN_ABI_VERSION 1

extern "C" {
/// The ABI stamp of a plugin (or of the host), a plain C struct so that it can be read
/// before anything else is trusted. `abi` comes first and never moves.
struct saddle_plugin_abi {
  std::uint32_t abi;               ///< SADDLE_PLUGIN_ABI_VERSION
  std::uint32_t size;              ///< sizeof(saddle_plugin_abi)
  const char* saddle_version;      ///< saddle::kVersion the plugin was compiled against
  std::uint32_t gxx_abi;           ///< __GXX_ABI_VERSION (C++ name mangling, vtables)
  std::uint32_t cxx11_string_abi;  ///< _GLIBCXX_USE_CXX11_ABI (std::string, std::list layout)
  std::uint32_t xsimd;             ///< 1 when compiled with XTENSOR_USE_XSIMD
  const char* vector_float_type;   ///< typeid(saddle::Vector<float>).name()
  const char* vector_double_type;  ///< typeid(saddle::Vector<double>).name()
  const char* string_type;         ///< typeid(std::string).name()
  const char* compiler;            ///< __VERSION__ (for messages only)
  std::uint64_t layout;  ///< saddle::plugin_layout_fingerprint(): sizes of the shared types
};
}

#if defined(XTENSOR_USE_XSIMD)
#define SADDLE_PLUGIN_XSIMD_ 1u
#else
#define SADDLE_PLUGIN_XSIMD_ 0u
#endif
#if defined(_GLIBCXX_USE_CXX11_ABI)
#define SADDLE_PLUGIN_CXX11_ABI_ static_cast<std::uint32_t>(_GLIBCXX_USE_CXX11_ABI)
#else
#define SADDLE_PLUGIN_CXX11_ABI_ 0u
#endif
#if defined(__GXX_ABI_VERSION)
#define SADDLE_PLUGIN_GXX_ABI_ static_cast<std::uint32_t>(__GXX_ABI_VERSION)
#else
#define SADDLE_PLUGIN_GXX_ABI_ 0u
#endif

/// The ABI stamp of the translation unit that expands it (an initializer for
/// saddle_plugin_abi). Expanded inside the plugin by SADDLE_PLUGIN and inside the host by
/// saddle::host_plugin_abi(), so each side describes how it was itself compiled.
#define SADDLE_PLUGIN_ABI_HERE                                                              \
  {                                                                                         \
    SADDLE_PLUGIN_ABI_VERSION, static_cast<std::uint32_t>(sizeof(saddle_plugin_abi)),       \
        ::saddle::kVersion, SADDLE_PLUGIN_GXX_ABI_, SADDLE_PLUGIN_CXX11_ABI_,               \
        SADDLE_PLUGIN_XSIMD_, typeid(::saddle::Vector<float>).name(),                       \
        typeid(::saddle::Vector<double>).name(), typeid(::std::string).name(), __VERSION__, \
        std::integral_constant<std::uint64_t, ::saddle::plugin_layout_fingerprint()>::value \
  }

namespace saddle {

/// The known solution of a problem, for tests, `saddle solve` reports and `saddle compare`
/// tables. Every part is optional: empty vectors and no loss mean "not known".
struct KnownAnswer {
  std::vector<double> x;            ///< [n] solution point (empty: not known)
  std::vector<double> multipliers;  ///< [m] optimal multipliers (empty: not known)
  std::optional<double> loss;       ///< optimal objective value
  std::string note;                 ///< how the answer was derived
};

/// Settings for a problem's factory, given on the command line as
/// `--problem-args key=value,key=value` (e.g. a data folder). A factory reads the keys it
/// knows and throws InputError naming any other key.
using ProblemArgs = std::map<std::string, std::string>;

/// One problem offered by a plugin (the command line also wraps the built-in problems in
/// this type). Exactly one of `make_double`, `make_float` is set.
struct PluginProblem {
  std::string name;         ///< command-line name: letters, digits, '-', '_', '.'; unique
  std::string description;  ///< one line, e.g. the formula and the answer
  /// Factory of a double-precision problem (saddle::Problem).
  std::function<std::unique_ptr<BasicProblem<double>>(const ProblemArgs& args)> make_double;
  /// Factory of a single-precision problem (saddle::ProblemF).
  std::function<std::unique_ptr<BasicProblem<float>>(const ProblemArgs& args)> make_float;
  /// Default options for a scheme name and formulation (step sizes, limits, tolerance);
  /// empty = SolverOptions{} for every scheme. Command-line flags override single fields.
  std::function<SolverOptions(const std::string& scheme, FormulationKind formulation)> defaults;
  KnownAnswer answer;                           ///< empty = unknown
  std::vector<std::string> converging_schemes;  ///< schemes expected to reach the answer

  /// Sets `defaults` to the same options for every scheme and formulation (the
  /// formulation kind is set to the one asked for).
  PluginProblem&& with_defaults(SolverOptions options) && {
    defaults = [options](const std::string&, FormulationKind kind) {
      SolverOptions o = options;
      o.formulation.kind = kind;
      return o;
    };
    return std::move(*this);
  }
  /// Sets `defaults` to a function of the scheme and the formulation.
  PluginProblem&& with_defaults(
      std::function<SolverOptions(const std::string& scheme, FormulationKind formulation)> f) && {
    defaults = std::move(f);
    return std::move(*this);
  }
  PluginProblem&& with_answer(KnownAnswer a) && {
    answer = std::move(a);
    return std::move(*this);
  }
  PluginProblem&& with_converging_schemes(std::vector<std::string> schemes) && {
    converging_schemes = std::move(schemes);
    return std::move(*this);
  }
  /// True for a float problem (make_float set).
  bool is_float() const { return static_cast<bool>(make_float); }
};

/// A PluginProblem whose factory constructs `P(problem_args, args...)` when P has such a
/// constructor (it then reads --problem-args), else `P(args...)` (and refuses any
/// --problem-args with an InputError). P derives from saddle::Problem (double) or
/// saddle::ProblemF (float), which selects the factory.
template <class P, class... Args>
PluginProblem plugin_problem(std::string name, std::string description, Args... args) {
  using T = std::conditional_t<std::is_base_of_v<BasicProblem<float>, P>, float, double>;
  static_assert(std::is_base_of_v<BasicProblem<T>, P>,
                "plugin_problem<P>: P must derive from saddle::Problem or saddle::ProblemF");
  auto make = [name, args...](const ProblemArgs& problem_args) -> std::unique_ptr<BasicProblem<T>> {
    if constexpr (std::is_constructible_v<P, const ProblemArgs&, Args...>) {
      return std::make_unique<P>(problem_args, args...);
    } else {
      if (!problem_args.empty())
        throw InputError("problem '" + name + "' takes no --problem-args (got '" +
                         problem_args.begin()->first + "')");
      return std::make_unique<P>(args...);
    }
  };
  PluginProblem p;
  p.name = std::move(name);
  p.description = std::move(description);
  if constexpr (std::is_same_v<T, float>)
    p.make_float = std::move(make);
  else
    p.make_double = std::move(make);
  return p;
}

/// What SADDLE_PLUGIN's block receives: the host's registry. A small virtual interface so
/// that `add` runs the host's code.
class PluginRegistry {
 public:
  virtual ~PluginRegistry() = default;
  /// Adds a problem. Throws InvalidOption for an empty or malformed name, a name given
  /// twice, or an entry with no factory (or both).
  virtual void add(PluginProblem problem) = 0;
};

/// A loaded plugin. The library stays loaded until the process ends (the problems' code
/// lives in it).
struct LoadedPlugin {
  std::string path;                     ///< as given
  std::vector<PluginProblem> problems;  ///< in registration order
};

/// A fingerprint of the sizes and alignments of the types that cross the plugin boundary
/// (SolverOptions, PluginProblem, KnownAnswer, Evaluation, Batch, ConstraintSpec, the
/// vectors). SADDLE_PLUGIN_ABI_HERE evaluates it at compile time in the translation unit
/// that expands it: it catches two builds of the same saddle version whose structs differ
/// (a field added between releases).
constexpr std::uint64_t plugin_layout_fingerprint() {
  const std::uint64_t sizes[] = {
      sizeof(SolverOptions),  alignof(SolverOptions), sizeof(PluginProblem),  sizeof(KnownAnswer),
      sizeof(Evaluation),     sizeof(Batch),          sizeof(ConstraintSpec), sizeof(Vector<float>),
      sizeof(Vector<double>), alignof(Vector<float>), alignof(Vector<double>)};
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a over the values
  for (const std::uint64_t v : sizes) {
    h ^= v;
    h *= 1099511628211ULL;
  }
  return h;
}

/// The host's own ABI stamp.
const saddle_plugin_abi& host_plugin_abi();

/// "" when a library with stamp `plugin` can be used by this host; otherwise a one-line
/// reason naming the first mismatch ("plugin ABI 2, this saddle has 1", ...).
std::string plugin_abi_mismatch(const saddle_plugin_abi& plugin);

/// Loads the shared library at `path` and runs its registration. Throws InputError with
/// one line starting with "plugin <path>: " when the file is missing, is not a loadable
/// shared library, has no SADDLE_PLUGIN registration, was built for another saddle
/// version or ABI, its registration throws, registers nothing, or registers a bad or
/// duplicate name.
LoadedPlugin load_plugin(const std::string& path);

}  // namespace saddle

/// Name of the function that returns a plugin's ABI stamp, and of its registration function.
#define SADDLE_PLUGIN_ABI_SYMBOL "saddle_plugin_abi_v1"
#define SADDLE_PLUGIN_REGISTER_SYMBOL "saddle_plugin_register_v1"

/// Defines a plugin's registration block, once per library:
///   SADDLE_PLUGIN(registry) { registry.add(saddle::plugin_problem<MyProblem>("name", "text")); }
/// It exports two C functions: saddle_plugin_abi_v1 (the ABI stamp, read first) and
/// saddle_plugin_register_v1 (runs the block with the host's registry).
#define SADDLE_PLUGIN(registry)                                                     \
  static void saddle_plugin_register_body_(::saddle::PluginRegistry& registry);     \
  extern "C" __attribute__((visibility("default"))) const saddle_plugin_abi*        \
  saddle_plugin_abi_v1() {                                                          \
    static const saddle_plugin_abi stamp = SADDLE_PLUGIN_ABI_HERE;                  \
    return &stamp;                                                                  \
  }                                                                                 \
  extern "C" __attribute__((visibility("default"))) void saddle_plugin_register_v1( \
      ::saddle::PluginRegistry& registry) {                                         \
    saddle_plugin_register_body_(registry);                                         \
  }                                                                                 \
  static void saddle_plugin_register_body_(::saddle::PluginRegistry& registry)
