#include "saddle/function_problem.hpp"

#include <cmath>
#include <numeric>
#include <set>
#include <utility>

namespace saddle {

namespace {

// splitmix64 (Steele, Lea, Flood 2014): portable, so shuffles are the same on every platform.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  /// Uniform integer in [0, n) (n > 0), by rejection to avoid modulo bias.
  std::size_t below(std::size_t n) {
    const std::uint64_t bound = static_cast<std::uint64_t>(n);
    const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % bound);
    std::uint64_t r;
    do r = next();
    while (r >= limit);
    return static_cast<std::size_t>(r % bound);
  }

 private:
  std::uint64_t state_;
};

}  // namespace

void FunctionProblemSpec::validate() const {
  const std::string who = name + ": ";
  if (num_parameters == 0) throw InvalidOption(who + "num_parameters = 0: must be > 0");
  if (!initial_point.empty() && initial_point.size() != num_parameters)
    throw InvalidOption(who + "initial_point has " + std::to_string(initial_point.size()) +
                        " values, expected num_parameters = " + std::to_string(num_parameters));
  for (std::size_t j = 0; j < initial_point.size(); ++j)
    if (!std::isfinite(initial_point[j]))
      throw InvalidOption(who + "initial_point[" + std::to_string(j) + "] is not finite");
  std::set<std::string> names;
  for (std::size_t i = 0; i < constraints.size(); ++i) {
    if (constraints[i].name.empty())
      throw InvalidOption(who + "constraint " + std::to_string(i) + " has an empty name");
    if (!names.insert(constraints[i].name).second)
      throw InvalidOption(who + "duplicate constraint name '" + constraints[i].name + "'");
  }
  if (!samples.values.empty() && samples.width == 0)
    throw InvalidOption(who + "samples.width = 0 with " + std::to_string(samples.values.size()) +
                        " values: must be > 0");
  if (samples.width > 0 && samples.values.size() % samples.width != 0)
    throw InvalidOption(
        who + "samples has " + std::to_string(samples.values.size()) +
        " values, not a multiple of samples.width = " + std::to_string(samples.width));
}

ShuffledSamples::ShuffledSamples(const SampleData& data)
    : rows_(data.rows()),
      width_(data.width),
      original_(data.values),
      current_(data.values),
      order_(data.rows()) {
  std::iota(order_.begin(), order_.end(), std::size_t{0});
}

void ShuffledSamples::shuffle(std::uint64_t seed) {
  std::iota(order_.begin(), order_.end(), std::size_t{0});
  SplitMix64 rng(seed);
  for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(i)]);
  for (std::size_t i = 0; i < rows_; ++i) {
    const double* src = original_.data() + order_[i] * width_;
    double* dst = current_.data() + i * width_;
    for (std::size_t k = 0; k < width_; ++k) dst[k] = src[k];
  }
}

const double* ShuffledSamples::batch(const Batch& batch, const std::string& name,
                                     std::size_t& count) const {
  const std::size_t begin = batch.size == 0 ? 0 : batch.begin;
  const std::size_t size = batch.size == 0 ? rows_ : batch.size;
  if (begin > rows_ || size > rows_ - begin)
    throw InputError(name + ": batch [" + std::to_string(begin) + ", " +
                     std::to_string(begin + size) + ") exceeds the " + std::to_string(rows_) +
                     " samples");
  count = size;
  return current_.data() + begin * width_;
}

namespace detail {

void check_parameter_count(const std::string& name, std::size_t size, std::size_t expected) {
  if (size != expected)
    throw InputError(name + ": x has " + std::to_string(size) + " values, expected " +
                     std::to_string(expected));
}

void write_initial_point(const FunctionProblemSpec& spec, Vector<double>& x) {
  check_parameter_count(spec.name, x.size(), spec.num_parameters);
  for (std::size_t j = 0; j < spec.num_parameters; ++j)
    x(j) = spec.initial_point.empty() ? 0.0 : spec.initial_point[j];
}

}  // namespace detail

}  // namespace saddle
