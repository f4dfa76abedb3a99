#include "saddle/plugin.hpp"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cctype>
#include <cstring>
#include <exception>
#include <fstream>
#include <set>

namespace saddle {

const saddle_plugin_abi& host_plugin_abi() {
  static const saddle_plugin_abi stamp = SADDLE_PLUGIN_ABI_HERE;
  return stamp;
}

namespace {

std::string text_or_null(const char* s) {
  return s == nullptr ? std::string("(null)") : std::string(s);
}

bool same_text(const char* a, const char* b) {
  return a != nullptr && b != nullptr && std::strcmp(a, b) == 0;
}

// Entries of the plugin, checked as they are added.
class CollectingRegistry : public PluginRegistry {
 public:
  void add(PluginProblem problem) override {
    const std::string& name = problem.name;
    if (name.empty()) throw InvalidOption("a problem has an empty name");
    for (const char c : name)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
        throw InvalidOption("problem name '" + name +
                            "': use letters, digits, '-', '_' and '.' only");
    if (!names_.insert(name).second)
      throw InvalidOption("problem '" + name + "' is registered twice");
    const bool has_double = static_cast<bool>(problem.make_double),
               has_float = static_cast<bool>(problem.make_float);
    if (has_double == has_float)
      throw InvalidOption("problem '" + name +
                          "' must set exactly one of make_double, make_float (it sets " +
                          (has_double ? "both" : "neither") + ")");
    problems.push_back(std::move(problem));
  }
  std::vector<PluginProblem> problems;

 private:
  std::set<std::string> names_;
};

}  // namespace

std::string plugin_abi_mismatch(const saddle_plugin_abi& plugin) {
  const saddle_plugin_abi& host = host_plugin_abi();
  if (plugin.abi != host.abi)
    return "plugin ABI " + std::to_string(plugin.abi) + ", this saddle has " +
           std::to_string(host.abi) + " (rebuild the plugin against this saddle)";
  if (plugin.size != host.size)
    return "ABI stamp of " + std::to_string(plugin.size) + " bytes, expected " +
           std::to_string(host.size);
  if (!same_text(plugin.saddle_version, host.saddle_version))
    return "built for saddle " + text_or_null(plugin.saddle_version) + ", this is saddle " +
           text_or_null(host.saddle_version) + " (rebuild the plugin against this saddle)";
  if (plugin.gxx_abi != host.gxx_abi)
    return "C++ ABI " + std::to_string(plugin.gxx_abi) + " (compiler " +
           text_or_null(plugin.compiler) + "), this saddle has " + std::to_string(host.gxx_abi) +
           " (compiler " + text_or_null(host.compiler) + ")";
  if (plugin.cxx11_string_abi != host.cxx11_string_abi)
    return "_GLIBCXX_USE_CXX11_ABI=" + std::to_string(plugin.cxx11_string_abi) +
           ", this saddle has " + std::to_string(host.cxx11_string_abi);
  if (plugin.xsimd != host.xsimd)
    return std::string("compiled ") + (plugin.xsimd ? "with" : "without") +
           " XTENSOR_USE_XSIMD, this saddle " + (host.xsimd ? "with" : "without") +
           " (saddle::Vector<T> is another type; link saddle::core to get "
           "its compile settings)";
  if (!same_text(plugin.vector_float_type, host.vector_float_type) ||
      !same_text(plugin.vector_double_type, host.vector_double_type))
    return "saddle::Vector<T> is another C++ type in the plugin (" +
           text_or_null(plugin.vector_double_type) + ") than in this saddle (" +
           text_or_null(host.vector_double_type) +
           "): compile it with saddle::core's settings (-march, XTENSOR_USE_XSIMD)";
  if (plugin.layout != host.layout)
    return "the layouts of saddle's types (SolverOptions, PluginProblem, ...) differ from this "
           "saddle's "
           "although both say version " +
           text_or_null(host.saddle_version) + " (rebuild the plugin against the installed saddle)";
  if (!same_text(plugin.string_type, host.string_type))
    return "std::string is another C++ type in the plugin (" + text_or_null(plugin.string_type) +
           ", this saddle: " + text_or_null(host.string_type) + ")";
  return "";
}

LoadedPlugin load_plugin(const std::string& path) {
  const std::string where = "plugin " + path + ": ";
  if (path.empty()) throw InputError("--plugin: expected the path of a shared library");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw InputError(where + "no such file");
  if (S_ISDIR(st.st_mode)) throw InputError(where + "is a folder, not a shared library");
  {
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {0, 0, 0, 0};
    in.read(magic, 4);
    if (!in) throw InputError(where + "not a shared library (cannot read an ELF header)");
    if (!(magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F'))
      throw InputError(where + "not a shared library (no ELF header)");
  }
  // dlopen searches the library path for a name without '/': make the file's path explicit.
  const std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  ::dlerror();
  void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* e = ::dlerror();
    throw InputError(where + "cannot be loaded: " + text_or_null(e));
  }
  // From here on the library stays loaded for the life of the process: the registered
  // factories (std::function objects) point into its code.
  using AbiFn = const saddle_plugin_abi* (*)();
  using RegisterFn = void (*)(PluginRegistry&);
  auto abi_fn = reinterpret_cast<AbiFn>(::dlsym(handle, SADDLE_PLUGIN_ABI_SYMBOL));
  auto register_fn = reinterpret_cast<RegisterFn>(::dlsym(handle, SADDLE_PLUGIN_REGISTER_SYMBOL));
  if (abi_fn == nullptr || register_fn == nullptr)
    throw InputError(
        where + "not a saddle plugin (no " +
        std::string(abi_fn == nullptr ? SADDLE_PLUGIN_ABI_SYMBOL : SADDLE_PLUGIN_REGISTER_SYMBOL) +
        " symbol; register the problems with SADDLE_PLUGIN from <saddle/plugin.hpp>)");
  const saddle_plugin_abi* stamp = abi_fn();
  if (stamp == nullptr) throw InputError(where + "its ABI stamp is null");
  if (const std::string why = plugin_abi_mismatch(*stamp); !why.empty())
    throw InputError(where + "incompatible: " + why);

  CollectingRegistry registry;
  try {
    register_fn(registry);
  } catch (const std::exception& e) {
    throw InputError(where + "registration failed: " + e.what());
  } catch (...) {
    throw InputError(where + "registration failed: non-standard exception");
  }
  if (registry.problems.empty()) throw InputError(where + "registers no problem");
  LoadedPlugin loaded;
  loaded.path = path;
  loaded.problems = std::move(registry.problems);
  return loaded;
}

}  // namespace saddle
