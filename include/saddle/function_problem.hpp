#pragma once
/// \file function_problem.hpp
/// What a problem written as one function needs besides that function: its size, its
/// constraints, its initial point and, for a stochastic problem, its samples. Shared by the
/// numeric-difference adapter (`saddle/numeric_diff.hpp`) and the ADOL-C adapter
/// (`saddle/autodiff.hpp`), which both take the same user functor:
///
///   deterministic:  template <class S> void operator()(const S* x, S& loss, S* c) const;
///   stochastic:     template <class S> void operator()(const S* x, const SampleBatch<S>& batch,
///                                                      S& loss, S* c) const;
///
/// x: [n], c: [m] (one value per constraint, in the order of the spec, sign conventions of
/// types.hpp: inequality c <= 0, equality c = 0). S is `double` for values and numeric
/// differences and ADOL-C's `adouble` for automatic differentiation; a generic lambda
/// `[](const auto* x, auto& loss, auto* c) { ... }` is such a functor.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "saddle/problem.hpp"
#include "saddle/types.hpp"

namespace saddle {

/// The samples of a stochastic function problem: `rows()` samples of `width` values each,
/// row-major (e.g. d features then the label of a regression sample).
struct SampleData {
  std::size_t width = 0;       ///< values per sample (> 0 when `values` is not empty)
  std::vector<double> values;  ///< [rows * width]
  std::size_t rows() const { return width == 0 ? 0 : values.size() / width; }
  bool empty() const { return values.empty(); }
};

/// A batch of samples as the functor sees it, in the scalar S of the evaluation (`double`,
/// or `adouble` when ADOL-C records the function: then the values are tape parameters).
template <class S>
struct SampleBatch {
  const S* values = nullptr;  ///< [rows * width], row-major
  std::size_t rows = 0;       ///< samples in this batch (> 0)
  std::size_t width = 0;      ///< values per sample
  /// Sample r of the batch: [width].
  const S* row(std::size_t r) const { return values + r * width; }
  /// Value k of sample r.
  const S& operator()(std::size_t r, std::size_t k) const { return values[r * width + k]; }
};

/// Size, constraints, initial point and samples of a function problem.
struct FunctionProblemSpec {
  std::string name = "function problem";    ///< appears in error messages
  std::size_t num_parameters = 0;           ///< n > 0
  std::vector<ConstraintSpec> constraints;  ///< m >= 0, distinct non-empty names
  std::vector<double> initial_point;        ///< x0: [n]; empty = all zeros
  SampleData samples;                       ///< empty = deterministic problem
  /// Throws InvalidOption with one line naming the field: n = 0, an initial point of the
  /// wrong size or not finite, an empty or duplicate constraint name, samples with width 0 or
  /// a length that is not a multiple of the width.
  void validate() const;
};

/// The samples of a function problem in their current (shuffled) order, and the rows of a
/// `Batch`. Allocates in the constructor only.
class ShuffledSamples {
 public:
  ShuffledSamples() = default;
  /// Copies the samples (validated by FunctionProblemSpec::validate).
  explicit ShuffledSamples(const SampleData& data);
  std::size_t rows() const { return rows_; }
  std::size_t width() const { return width_; }
  /// Resets to the original order, then applies the Fisher-Yates permutation drawn from
  /// splitmix64(seed) (Steele, Lea, Flood 2014), so the order depends only on `seed` (the
  /// same permutation as the built-in norm-constrained-regression). No allocation.
  void shuffle(std::uint64_t seed);
  /// First value of rows [begin, begin + size) of the current order ([0, rows) for size 0);
  /// `count` receives the number of rows. Throws InputError "<name>: batch [a, b) exceeds
  /// the N samples" when the batch does not fit.
  const double* batch(const Batch& batch, const std::string& name, std::size_t& count) const;

 private:
  std::size_t rows_ = 0;
  std::size_t width_ = 0;
  std::vector<double> original_;  // [rows * width]
  std::vector<double> current_;   // [rows * width] current order
  std::vector<std::size_t> order_;
};

namespace detail {
/// Throws InputError "<name>: x has k values, expected n" when the sizes differ.
void check_parameter_count(const std::string& name, std::size_t size, std::size_t expected);
/// Writes spec.initial_point (zeros when empty) into x: [n].
void write_initial_point(const FunctionProblemSpec& spec, Vector<double>& x);
}  // namespace detail

}  // namespace saddle
