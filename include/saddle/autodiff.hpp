#pragma once
/// \file autodiff.hpp
/// Automatic differentiation with ADOL-C (Griewank, Juedes, Utke 1996; Walther, Griewank
/// 2012): write f and the constraint values c once, as a functor templated on the scalar
/// (see function_problem.hpp for the two forms), and `AutoDiffProblem` supplies `forward`
/// and `backward(w)` = grad [f + sum_i w_i c_i] in ONE reverse sweep:
///
///   - the functor is recorded once on an ADOL-C tape (x: n independents, the dependents
///     [f, c_1..c_m]; the samples of a stochastic batch are tape parameters);
///   - forward  = `zos_forward` on the tape (keeps the values for the reverse sweep);
///   - backward = `fos_reverse` with the weights (1, w_1..w_m): the weighted gradient.
///
/// The tape is reused while the control flow does not change. A comparison of adoubles
/// (`if (x[0] > 0)`) is recorded on the tape; when `zos_forward` reports that a comparison
/// switches its branch (a negative return code), the functor is recorded again at the
/// current point (a retape) and evaluated on the new tape. A stochastic problem keeps one
/// tape per batch size (its batch size B, the last partial batch N mod B and the full N),
/// and loads each batch's rows as the tape's parameters (`set_param_vec`): no retape per
/// batch.
///
/// Allocation: saddle's part of forward/backward allocates nothing in steady state (no new
/// batch size, no branch switch). ADOL-C 2.7 itself allocates one buffer per `zos_forward`
/// and one per `fos_reverse` (its value stack), which tests/autodiff measures; a retape
/// allocates (the tape, the adoubles).
///
/// Threads: ADOL-C's tapes and its location store are process-wide state. Every call into
/// ADOL-C made by this file holds one process-wide mutex, so several AutoDiffProblems may be
/// used from several threads (their ADOL-C work is serialised). Each problem owns its own
/// tape tags (drawn from [20000, 32767], released on destruction); do not use these tags
/// for your own ADOL-C tapes.
///
/// Precision: double only (ADOL-C's scalar is double); `AutoDiffProblem` is a `Problem`.

#include <adolc/adouble.h>
#include <adolc/param.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "saddle/function_problem.hpp"
#include "saddle/numeric_diff.hpp"
#include "saddle/problem.hpp"
#include "saddle/types.hpp"

namespace saddle::autodiff {

/// The scalar type the functor is recorded in.
using ADouble = adouble;

/// Records the user's function on the active tape (implemented by AutoDiffProblem).
class Recorder {
 public:
  /// x: [n], rows: [count * width] (tape parameters; nullptr when deterministic), c: [m].
  virtual void record(const ADouble* x, const ADouble* rows, std::size_t count, ADouble& loss,
                      ADouble* c) const = 0;

 protected:
  ~Recorder() = default;
};

/// Counters of a TapeSet, for tests and diagnostics.
struct TapeStats {
  std::size_t tapes = 0;           ///< tapes held (one per batch size seen)
  std::size_t recordings = 0;      ///< times the functor was recorded (first use + retapes)
  std::size_t branch_retapes = 0;  ///< recordings caused by a branch switch
  std::size_t operations = 0;      ///< operations on the tape of the last forward
};

/// The non-template engine: ADOL-C tapes of one function, keyed by batch size.
class TapeSet {
 public:
  /// n independents, 1 + m dependents, `width` parameters per sample row (0: deterministic).
  TapeSet(std::string name, std::size_t n, std::size_t m, std::size_t width,
          const Recorder& recorder);
  ~TapeSet();
  TapeSet(const TapeSet&) = delete;
  TapeSet& operator=(const TapeSet&) = delete;

  /// Values y: [1 + m] = (f, c) at x: [n] on `count` rows (rows: [count * width]); records a
  /// tape on the first use of `count` and after a branch switch. Keeps what `backward` needs.
  void forward(const double* x, const double* rows, std::size_t count, double* y);
  /// grad: [n] = d/dx [ f + sum_i weights_i c_i ] at the last forward (weights: [m]); one
  /// `fos_reverse`. Throws InputError when no forward came first.
  void backward(const double* weights, double* grad);
  TapeStats stats() const;

 private:
  struct Tape;
  Tape& tape_for(std::size_t count);
  void record(Tape& tape, const double* x, const double* rows);

  std::string name_;
  std::size_t n_, m_, width_;
  const Recorder& recorder_;
  std::vector<std::unique_ptr<Tape>> tapes_;
  std::vector<double> seed_;  // [1 + m] (1, weights)
  Tape* last_ = nullptr;      // tape of the last forward
  std::size_t recordings_ = 0;
  std::size_t branch_retapes_ = 0;
};

namespace detail {
template <class F>
constexpr bool ad_deterministic_v =
    std::is_invocable_v<const F&, const ADouble*, ADouble&, ADouble*>;
template <class F>
constexpr bool ad_stochastic_v =
    std::is_invocable_v<const F&, const ADouble*, const SampleBatch<ADouble>&, ADouble&, ADouble*>;
}  // namespace detail

/// A double-precision problem whose gradient comes from ADOL-C (see the file comment).
///
/// - forward(x, batch): one `zos_forward` (plus a recording on first use of a batch size
///   or after a branch switch); eval.loss = f, eval.constraints = c.
/// - backward(w): one `fos_reverse` with the seed (1, w); valid for the last forward.
/// - stochastic when spec.samples is not empty; `shuffle(seed)` reorders the rows
///   (ShuffledSamples: same order as the built-in problems' splitmix64 Fisher-Yates).
/// - The functor must not draw random numbers (a tape replays one recording).
template <class Functor>
class AutoDiffProblem final : public BasicProblem<double>, private Recorder {
  static_assert(detail::ad_deterministic_v<Functor> || detail::ad_stochastic_v<Functor>,
                "AutoDiffProblem: the functor must be callable, for S = adouble, as "
                "f(const S* x, S& loss, S* c) or f(const S* x, const SampleBatch<S>& batch, "
                "S& loss, S* c) (write it as a template over S)");

 public:
  /// Validates spec (InvalidOption) and allocates the buffers; records nothing yet.
  AutoDiffProblem(FunctionProblemSpec spec, Functor functor)
      : spec_((spec.validate(), std::move(spec))),
        functor_(std::move(functor)),
        samples_((saddle::detail::check_functor_kind(spec_, detail::ad_stochastic_v<Functor>),
                  ShuffledSamples(spec_.samples))),
        tapes_(spec_.name, spec_.num_parameters, spec_.constraints.size(), spec_.samples.width,
               *this),
        y_(1 + spec_.constraints.size(), 0.0) {
    spec_.samples.values = std::vector<double>();  // samples_ holds them (width stays)
  }

  std::size_t num_parameters() const override { return spec_.num_parameters; }
  std::vector<ConstraintSpec> constraints() const override { return spec_.constraints; }
  void initial_point(Vector<double>& x, std::uint64_t /*seed*/) const override {
    saddle::detail::write_initial_point(spec_, x);
  }
  std::size_t num_samples() const override { return samples_.rows(); }
  void shuffle(std::uint64_t seed) override { samples_.shuffle(seed); }

  void forward(const Vector<double>& x, const Batch& batch, Evaluation& eval) override {
    saddle::detail::check_parameter_count(spec_.name, x.size(), spec_.num_parameters);
    std::size_t count = 0;
    const double* rows = samples_.rows() > 0 ? samples_.batch(batch, spec_.name, count) : nullptr;
    tapes_.forward(x.data(), rows, count, y_.data());
    eval.loss = y_[0];
    for (std::size_t i = 1; i < y_.size(); ++i) eval.constraints(i - 1) = y_[i];
    eval.has_strict = false;
  }
  void backward(const Vector<double>& weights, Vector<double>& grad) override {
    tapes_.backward(weights.data(), grad.data());
  }

  /// Tapes, recordings and retapes so far.
  TapeStats tape_stats() const { return tapes_.stats(); }

 private:
  void record(const ADouble* x, const ADouble* rows, std::size_t count, ADouble& loss,
              ADouble* c) const override {
    if constexpr (detail::ad_stochastic_v<Functor>) {
      const SampleBatch<ADouble> batch{rows, count, spec_.samples.width};
      functor_(x, batch, loss, c);
    } else {
      (void)rows;
      (void)count;
      functor_(x, loss, c);
    }
  }

  FunctionProblemSpec spec_;
  Functor functor_;
  ShuffledSamples samples_;
  TapeSet tapes_;
  std::vector<double> y_;  // [1 + m] values of the last forward
};

}  // namespace saddle::autodiff
