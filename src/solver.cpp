// The solve driver: minibatches, epochs, dual restarts, penalty growth, convergence,
// NaN/Inf checks, callbacks, checkpoints and the Summary.
#include "saddle/solver.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <istream>
#include <limits>
#include <ostream>
#include <sstream>

#include <xtensor/xnoalias.hpp>

#include "saddle/range_runner.hpp"
#include "saddle/serialize.hpp"

namespace saddle {
namespace {

// SplitMix64 (Steele et al. 2014): decorrelates consecutive counters into seeds.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
std::uint64_t mix(std::uint64_t seed, std::uint64_t counter) {
  return mix(seed ^ mix(counter + 0x5AD1E));
}

// The unsigned integer of a float's bits and its exponent mask (IEEE 754: an entry is NaN
// or Inf iff all its exponent bits are set).
template <class T>
struct FloatBits;
template <>
struct FloatBits<float> {
  using Uint = std::uint32_t;
  static constexpr Uint kExponent = 0x7f800000u;
};
template <>
struct FloatBits<double> {
  using Uint = std::uint64_t;
  static constexpr Uint kExponent = 0x7ff0000000000000ull;
};

// True iff no entry is NaN or Inf. An integer test of the exponent bits with an OR
// reduction: GCC vectorises it (8 floats per AVX2 compare) without -ffast-math. The earlier
// test, a float sum of v*0, was one dependent add chain (no reassociation without
// -ffast-math): about 0.3 ms per 266,610 floats, 12% of an MLP training step
// (docs/performance.md, "Solver overhead").
template <class T>
bool all_finite(const T* p, std::size_t n) {
  using U = typename FloatBits<T>::Uint;
  constexpr U e = FloatBits<T>::kExponent;
  U bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    U bits;
    std::memcpy(&bits, p + i, sizeof(bits));
    bad |= static_cast<U>((bits & e) == e);
  }
  return bad == 0;
}
template <class T>
bool all_finite(const Vector<T>& v) {
  return all_finite(v.data(), v.size());
}

// dst = src for the copy of x the driver keeps each step (the start of the step, read back
// only by callbacks that look at StepInfo::evaluated_x and after a numerical failure). With
// SSE2, non-temporal stores: the copy goes to memory without first reading dst's lines into
// the cache (no read-for-ownership) and without evicting the parameters, gradient and
// optimiser state that the next step works on (docs/performance.md, "Solver overhead").
// Below 256 KB (the size of an L2 cache) a plain copy: small problems read x_prev back at once
// (convergence test) and would pay a memory round trip for it.
template <class T>
void copy_for_later(Vector<T>& dst, const Vector<T>& src) {
  const std::size_t n = src.size();
  const T* s = src.data();
  T* d = dst.data();
#if defined(__SSE2__)
  constexpr std::size_t kStreamBytes = std::size_t{1} << 18;
  if (n * sizeof(T) < kStreamBytes) {
    std::copy(s, s + n, d);
    return;
  }
  std::size_t i = 0;
  while (i < n && reinterpret_cast<std::uintptr_t>(d + i) % 16 != 0) {
    d[i] = s[i];
    ++i;
  }
  if constexpr (std::is_same_v<T, float>) {
    for (; i + 4 <= n; i += 4) _mm_stream_ps(d + i, _mm_loadu_ps(s + i));
  } else {
    for (; i + 2 <= n; i += 2) _mm_stream_pd(d + i, _mm_loadu_pd(s + i));
  }
  for (; i < n; ++i) d[i] = s[i];
  _mm_sfence();  // the streamed stores are visible before anything reads dst
#else
  std::copy(s, s + n, d);
#endif
}

template <class T>
double max_abs_diff(const Vector<T>& a, const Vector<T>& b) {
  double d = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i)
    d = std::max(d, std::abs(static_cast<double>(a(i)) - static_cast<double>(b(i))));
  return d;
}

template <class T>
double max_abs(const Vector<T>& a) {
  double d = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(static_cast<double>(a(i))));
  return d;
}

constexpr std::uint64_t kStateMagic = 0x5341444C53543031ull;  // "SADLST01"
constexpr std::uint32_t kStateVersion = 1;

}  // namespace

const char* to_string(Termination t) {
  switch (t) {
    case Termination::converged:
      return "converged";
    case Termination::iteration_limit:
      return "iteration_limit";
    case Termination::user_stop:
      return "user_stop";
    case Termination::numerical_failure:
      return "numerical_failure";
  }
  return "unknown";
}

template <class T>
std::string Summary<T>::report() const {
  std::ostringstream s;
  s.precision(10);
  s << "termination: " << to_string(termination);
  if (!message.empty()) s << " (" << message << ")";
  s << "\niterations: " << iterations << ", epochs: " << epochs << ", forwards: " << forwards
    << ", backwards: " << backwards << ", seconds: " << seconds << "\nloss: " << loss
    << ", objective: " << objective << ", max violation: " << max_violation << "\nx:";
  const std::size_t shown = std::min<std::size_t>(x.size(), 10);
  for (std::size_t i = 0; i < shown; ++i) s << ' ' << x(i);
  if (shown < x.size()) s << " ... (" << x.size() << " values)";
  for (std::size_t i = 0; i < constraints.size(); ++i)
    s << "\n  " << constraints[i].name << " (" << to_string(constraints[i].kind) << "): value "
      << constraint_values(i) << ", multiplier " << multipliers(i);
  return s.str();
}

template <class T>
struct Solver<T>::Impl final : StepContext<T> {
  std::unique_ptr<UpdateScheme<T>> scheme;
  SolverOptions opt;
  std::vector<Callback<T>*> callbacks;
  std::unique_ptr<PrimalRule<T>> primal;
  std::unique_ptr<DualRule> dual;
  std::unique_ptr<Formulation> form;

  BasicProblem<T>* problem = nullptr;
  std::vector<ConstraintSpec> specs;
  std::size_t n = 0, m = 0;
  Vector<T> x, x_prev, x_good;  // x_prev: start of this step; x_good: start of the previous one
  // The scheme moves x only through primal_step (UpdateScheme::updates_x_by_primal_step): its
  // first primal_step(x) of a step writes x+ into x_prev's buffer and swaps the two, so x_prev
  // keeps the start of the step without a copy.
  bool defer_save = false;
  bool start_saved = true;  // x_prev holds the start of the current step
  Vector<double> lambda, lambda_prev, lambda_good, weights, dual_lr, dual_signal;
  bool scaled_dual = false;  // some constraint has scale != 1: the dual rule sees dual_signal
  Evaluation last_eval;
  Batch batch;
  bool stochastic = false;
  // opt.range_runner when it has >= 2 workers: the primal rule's update and the NaN/Inf test
  // of the gradient run on it. The copy of x stays on the calling thread (GDA avoids it: see
  // primal_step).
  RangeRunner* runner = nullptr;
  std::size_t batch_size = 0, num_samples = 0, batches_per_epoch = 1;

  // Counters (part of the checkpoint state).
  std::uint64_t eval_counter = 0;
  std::size_t iteration = 0, epoch = 0, batch_index = 0, forwards = 0, backwards = 0;
  double elapsed_before = 0.0;
  std::chrono::steady_clock::time_point start;

  Impl(std::unique_ptr<UpdateScheme<T>> s, SolverOptions o)
      : scheme(std::move(s)), opt(std::move(o)) {
    if (!scheme) throw InvalidOption("scheme = null: a Solver needs an update scheme");
    opt.validate();
  }

  // --- StepContext ---------------------------------------------------------------
  void check_evaluation(const Evaluation& e, const char* what) const {
    if (!opt.check_finite) return;
    if (!std::isfinite(e.loss))
      throw NumericalFailure(std::string(what) + ": loss is " +
                             (std::isnan(e.loss) ? "NaN" : "Inf") + " at iteration " +
                             std::to_string(iteration + 1));
    if (!all_finite(e.constraints) || (e.has_strict && !all_finite(e.strict)))
      throw NumericalFailure(std::string(what) +
                             ": a constraint value is NaN or Inf at iteration " +
                             std::to_string(iteration + 1));
  }
  void forward(const Vector<T>& at, Evaluation& eval) override {
    batch.noise_seed = mix(opt.seed, eval_counter++);
    eval.has_strict = false;
    problem->forward(at, batch, eval);
    ++forwards;
    check_evaluation(eval, "forward");
  }
  void evaluate_constraints(const Vector<T>& at, Evaluation& eval) override {
    batch.noise_seed = mix(opt.seed, eval_counter++);
    eval.has_strict = false;
    problem->evaluate_constraints(at, batch, eval);
    ++forwards;
    if (opt.check_finite &&
        (!all_finite(eval.constraints) || (eval.has_strict && !all_finite(eval.strict))))
      throw NumericalFailure("constraint evaluation: a value is NaN or Inf at iteration " +
                             std::to_string(iteration + 1));
  }
  void backward(const Evaluation& eval, const Vector<double>& lam, Vector<T>& grad) override {
    form->primal_weights(eval.constraints, lam, weights);
    problem->backward(weights, grad);
    ++backwards;
    if (opt.check_finite && !finite_on_runner(grad))
      throw NumericalFailure("backward: the gradient has a NaN or Inf at iteration " +
                             std::to_string(iteration + 1));
  }
  // all_finite(v), in fixed ranges on the runner when there is one.
  bool finite_on_runner(const Vector<T>& v) const {
    if (runner == nullptr) return all_finite(v);
    std::atomic<bool> bad{false};
    auto f = [&](std::size_t, IndexRange r) {
      if (!all_finite(v.data() + r.begin, r.end - r.begin))
        bad.store(true, std::memory_order_relaxed);
    };
    for_ranges(runner, v.size(), f);
    return !bad.load(std::memory_order_relaxed);
  }
  void primal_step(Vector<T>& at, const Vector<T>& grad) override {
    if (!start_saved && &at == &x) {
      // The first update of the driver's x in this step: the rule writes x+ into x_prev's
      // buffer and the two swap (O(1)), so x_prev holds the start of the step without a copy.
      update(x, grad, x_prev);
      std::swap(x, x_prev);
      start_saved = true;
      problem->project(x);
      return;
    }
    if (runner == nullptr) {
      primal->step(at, grad);
    } else {
      primal->begin_step();
      auto f = [&](std::size_t, IndexRange r) { primal->step_range(at, grad, r.begin, r.end); };
      for_ranges(runner, at.size(), f);
    }
    problem->project(at);
  }
  void primal_step_from(Vector<T>& out, const Vector<T>& from, const Vector<T>& grad) override {
    if (&out == &from) {
      primal_step(out, grad);
      return;
    }
    if (!start_saved && &out == &x) {  // x overwritten from elsewhere: keep its start first
      copy_for_later(x_prev, x);
      start_saved = true;
    }
    update(from, grad, out);
    problem->project(out);
  }
  // out = the rule's step applied to from (from unchanged), on the range runner if any.
  void update(const Vector<T>& from, const Vector<T>& grad, Vector<T>& out) {
    primal->begin_step();
    if (runner == nullptr) {
      primal->step_range_to(from, grad, out, 0, from.size());
    } else {
      auto f = [&](std::size_t, IndexRange r) {
        primal->step_range_to(from, grad, out, r.begin, r.end);
      };
      for_ranges(runner, from.size(), f);
    }
  }
  void dual_step(Vector<double>& lam, const Evaluation& eval, bool commit) override {
    const Vector<double>& v = eval.dual_values();
    if (form->updates_multipliers()) {
      form->dual_step_sizes(opt.dual.lr, dual_lr);
      if (scaled_dual) {
        for (std::size_t i = 0; i < m; ++i) dual_signal(i) = v(i) / specs[i].scale;
        dual->step(lam, dual_signal, dual_lr, specs);
      } else {
        dual->step(lam, v, dual_lr, specs);
      }
      if (opt.check_finite && !all_finite(lam))
        throw NumericalFailure("dual step: a multiplier is NaN or Inf at iteration " +
                               std::to_string(iteration + 1));
    }
    if (!commit) return;
    if (opt.dual_restarts) {
      // Gallego-Posada et al. (2021): a strictly satisfied inequality has its multiplier
      // (and the multiplier's optimizer state, and its penalty) reset.
      for (std::size_t i = 0; i < m; ++i) {
        if (specs[i].kind != ConstraintKind::inequality || !(v(i) < 0.0)) continue;
        if (form->updates_multipliers()) {
          lam(i) = 0.0;
          dual->reset(i);
        }
        form->restart(i);
      }
    }
    form->update_penalties(v);
  }

  // --- driver ----------------------------------------------------------------------
  void setup(BasicProblem<T>& p) {
    problem = &p;
    specs = p.constraints();
    n = p.num_parameters();
    m = specs.size();
    if (n == 0) throw InvalidOption("num_parameters = 0: the problem has no parameters");
    scaled_dual = false;
    for (const auto& spec : specs) {
      if (!(spec.scale > 0.0) || !std::isfinite(spec.scale)) {
        std::ostringstream value;
        value << spec.scale;
        throw InvalidOption("constraint '" + spec.name + "': scale = " + value.str() +
                            ": must be > 0 and finite");
      }
      if (spec.scale != 1.0) scaled_dual = true;
    }
    if (!opt.initial_multipliers.empty() && opt.initial_multipliers.size() != m)
      throw InvalidOption("initial_multipliers has " +
                          std::to_string(opt.initial_multipliers.size()) +
                          " values: the problem has " + std::to_string(m) + " constraints");
    x = Vector<T>::from_shape({n});
    x_prev = Vector<T>::from_shape({n});
    x_good = Vector<T>::from_shape({n});
    defer_save = scheme->updates_x_by_primal_step();
    start_saved = true;
    lambda = Vector<double>::from_shape({m});
    lambda.fill(0.0);
    for (std::size_t i = 0; i < opt.initial_multipliers.size(); ++i)
      lambda(i) = opt.initial_multipliers[i];
    project_multipliers(lambda, specs);
    lambda_prev = lambda;
    lambda_good = lambda;
    weights = Vector<double>::from_shape({m});
    dual_lr = Vector<double>::from_shape({m});
    dual_signal = Vector<double>::from_shape({m});
    last_eval.resize(m);
    primal = make_primal_rule<T>(opt.primal);
    primal->resize(n);
    dual = make_dual_rule(opt.dual);
    dual->resize(m);
    form = make_formulation(opt.formulation);
    form->reset(specs);
    scheme->initialize(n, m);
    runner =
        opt.range_runner != nullptr && opt.range_runner->workers() > 1 ? opt.range_runner : nullptr;
    num_samples = p.num_samples();
    stochastic = num_samples > 0;
    batch_size = stochastic
                     ? (opt.batch_size == 0 ? num_samples : std::min(opt.batch_size, num_samples))
                     : 0;
    batches_per_epoch = stochastic ? (num_samples + batch_size - 1) / batch_size : 1;
    if (!stochastic && opt.max_iterations == 0)
      throw InvalidOption(
          "max_iterations = 0: a deterministic problem needs an iteration limit (max_epochs "
          "applies to stochastic problems only)");
    eval_counter = 0;
    iteration = epoch = batch_index = forwards = backwards = 0;
    elapsed_before = 0.0;
  }

  double elapsed() const {
    return elapsed_before +
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  Summary<T> run() {
    start = std::chrono::steady_clock::now();
    for (auto* cb : callbacks) cb->on_begin(*problem, opt);
    Termination termination = Termination::iteration_limit;
    std::string message;
    const Evaluation* reported = nullptr;
    bool first_step = true;
    try {
      for (;;) {
        if (opt.max_iterations != 0 && iteration >= opt.max_iterations) {
          message = "reached max_iterations = " + std::to_string(opt.max_iterations);
          break;
        }
        if (stochastic && opt.max_epochs != 0 && epoch >= opt.max_epochs) {
          message = "reached max_epochs = " + std::to_string(opt.max_epochs);
          break;
        }
        if (stochastic) {
          // The order of an epoch depends on (seed, epoch) only; a resumed run re-applies the
          // order of the epoch it continues, whatever batch it starts at.
          if (batch_index == 0 || first_step) problem->shuffle(mix(opt.seed ^ 0x5eedull, epoch));
          batch.begin = batch_index * batch_size;
          batch.size = std::min(batch_size, num_samples - batch.begin);
        } else {
          batch.begin = 0;
          batch.size = 0;
        }
        if (first_step) {  // also after a resume: the buffers are not part of the state
          first_step = false;
          xt::noalias(x_prev) = x;
          xt::noalias(lambda_prev) = lambda;
        }
        std::swap(x_good, x_prev);  // O(1): keeps the start of the previous step
        std::swap(lambda_good, lambda_prev);
        if (defer_save)
          start_saved = false;  // x_prev written by the step's first primal_step(x, ...)
        else
          copy_for_later(x_prev, x);
        xt::noalias(lambda_prev) = lambda;
        const StepResult<T> r = scheme->step(*this, x, lambda);
        if (!start_saved) {  // the step left x as it was
          copy_for_later(x_prev, x);
          start_saved = true;
        }
        ++iteration;
        reported = r.evaluation;

        StepInfo<T> info;
        info.iteration = iteration;
        info.epoch = epoch;
        info.batch = batch_index;
        info.batches_per_epoch = batches_per_epoch;
        info.evaluation = r.evaluation;
        info.x = &x;
        info.evaluated_x = r.evaluated_x ? r.evaluated_x : &x_prev;
        info.multipliers = &lambda;
        info.penalties = &form->penalties();
        info.constraints = &specs;
        info.max_violation = max_violation(specs, r.evaluation->dual_values());
        info.objective =
            form->objective(r.evaluation->loss, r.evaluation->constraints, lambda_prev);

        // Advance the counters before the callbacks, so that a state saved from any
        // callback resumes at the next batch.
        bool epoch_done = false;
        if (stochastic && ++batch_index == batches_per_epoch) {
          batch_index = 0;
          ++epoch;
          epoch_done = true;
        }
        bool go = true;
        for (auto* cb : callbacks) go = cb->on_step(info) && go;
        if (epoch_done)
          for (auto* cb : callbacks) go = cb->on_epoch_end(info) && go;
        if (!go) {
          termination = Termination::user_stop;
          message = "a callback stopped the solve at iteration " + std::to_string(iteration);
          break;
        }
        if (!stochastic && opt.tolerance > 0.0) {
          const double dx = max_abs_diff(x, x_prev);
          const double dl = max_abs_diff(lambda, lambda_prev);
          if (dx <= opt.tolerance * (1.0 + max_abs(x)) &&
              dl <= opt.tolerance * (1.0 + max_abs(lambda)) &&
              info.max_violation <= opt.feasibility_tolerance) {
            termination = Termination::converged;
            std::ostringstream s;
            s << "step sizes |dx| = " << dx << ", |dlambda| = " << dl << " within tolerance "
              << opt.tolerance;
            message = s.str();
            break;
          }
        }
      }
    } catch (const NumericalFailure& e) {
      termination = Termination::numerical_failure;
      // Return the start of the last step that completed with finite values: the start of
      // the failing step may itself be the point whose evaluation failed.
      message = std::string(e.what()) + "; returning the iterate before the last completed step";
      xt::noalias(x) = x_good;
      xt::noalias(lambda) = lambda_good;
      reported = nullptr;
    }

    Summary<T> s;
    s.termination = termination;
    s.message = message;
    s.iterations = iteration;
    s.epochs = epoch;
    s.forwards = forwards;
    s.backwards = backwards;
    s.x = x;
    s.multipliers = lambda;
    s.penalties = form->penalties();
    s.constraints = specs;
    s.constraint_values = Vector<double>::from_shape({m});
    s.constraint_values.fill(std::numeric_limits<double>::quiet_NaN());
    // Deterministic problems: one final evaluation at the returned point, so that loss
    // and constraint values describe x exactly (not counted in `forwards`).
    // Stochastic problems: the last step's evaluation (a minibatch estimate).
    if (!stochastic || reported == nullptr) {
      batch.begin = 0;
      batch.size = stochastic ? std::min(batch_size, num_samples) : 0;
      batch.noise_seed = mix(opt.seed, eval_counter);
      last_eval.has_strict = false;
      problem->forward(x, batch, last_eval);
      reported = &last_eval;
    }
    s.loss = reported->loss;
    s.constraint_values = reported->dual_values();
    s.max_violation = max_violation(specs, s.constraint_values);
    s.objective = form->objective(reported->loss, reported->constraints, lambda);
    s.seconds = elapsed();
    for (auto* cb : callbacks) cb->on_end(s);
    return s;
  }
};

template <class T>
Solver<T>::Solver(std::unique_ptr<UpdateScheme<T>> scheme, SolverOptions options)
    : impl_(std::make_unique<Impl>(std::move(scheme), std::move(options))) {}

template <class T>
Solver<T>::~Solver() = default;

template <class T>
void Solver<T>::add_callback(Callback<T>* callback) {
  if (callback) impl_->callbacks.push_back(callback);
}

template <class T>
const SolverOptions& Solver<T>::options() const {
  return impl_->opt;
}

template <class T>
const UpdateScheme<T>& Solver<T>::scheme() const {
  return *impl_->scheme;
}

template <class T>
Summary<T> Solver<T>::solve(BasicProblem<T>& problem) {
  impl_->setup(problem);
  problem.initial_point(impl_->x, impl_->opt.seed);
  return impl_->run();
}

template <class T>
Summary<T> Solver<T>::solve(BasicProblem<T>& problem, const Vector<T>& x0) {
  impl_->setup(problem);
  if (x0.size() != impl_->n)
    throw InvalidOption("x0 has " + std::to_string(x0.size()) + " values: the problem has " +
                        std::to_string(impl_->n) + " parameters");
  impl_->x = x0;
  return impl_->run();
}

template <class T>
void Solver<T>::save_state(std::ostream& out) const {
  const Impl& s = *impl_;
  io::write_scalar(out, kStateMagic);
  io::write_scalar(out, kStateVersion);
  io::write_scalar<std::uint32_t>(out, sizeof(T));
  io::write_scalar<std::uint64_t>(out, s.n);
  io::write_scalar<std::uint64_t>(out, s.m);
  io::write_scalar<std::uint64_t>(out, s.eval_counter);
  io::write_scalar<std::uint64_t>(out, s.iteration);
  io::write_scalar<std::uint64_t>(out, s.epoch);
  io::write_scalar<std::uint64_t>(out, s.batch_index);
  io::write_scalar<std::uint64_t>(out, s.forwards);
  io::write_scalar<std::uint64_t>(out, s.backwards);
  io::write_scalar<double>(out, s.elapsed());
  io::write_vector(out, s.x);
  io::write_vector(out, s.lambda);
  s.primal->save(out);
  s.dual->save(out);
  s.form->save(out);
  s.scheme->save(out);
}

namespace {
// The header of a state: magic, version and scalar size checked.
template <class T>
void read_state_header(std::istream& in) {
  if (io::read_scalar<std::uint64_t>(in, "state magic") != kStateMagic)
    throw InputError("not a saddle solver state (bad magic number)");
  const auto version = io::read_scalar<std::uint32_t>(in, "state version");
  if (version != kStateVersion)
    throw InputError("solver state version " + std::to_string(version) +
                     " is not supported (expected " + std::to_string(kStateVersion) + ")");
  const auto scalar = io::read_scalar<std::uint32_t>(in, "scalar size");
  if (scalar != sizeof(T))
    throw InputError("solver state holds " + std::to_string(scalar * 8) +
                     "-bit parameters, this solver uses " + std::to_string(sizeof(T) * 8) + "-bit");
}
}  // namespace

template <class T>
Vector<T> Solver<T>::read_parameters(std::istream& in) {
  read_state_header<T>(in);
  const auto n = io::read_scalar<std::uint64_t>(in, "parameter count");
  io::read_scalar<std::uint64_t>(in, "constraint count");
  for (const char* what : {"evaluation counter", "iteration", "epoch", "batch index",
                           "forward count", "backward count"})
    io::read_scalar<std::uint64_t>(in, what);
  io::read_scalar<double>(in, "elapsed seconds");
  if (n > (std::uint64_t{1} << 34)) throw InputError("solver state: corrupt parameter count");
  if (!io::stream_holds(in, 8 + n * sizeof(T)))
    throw InputError("state truncated while reading parameters");
  Vector<T> x = Vector<T>::from_shape({static_cast<std::size_t>(n)});
  io::read_vector(in, x, "parameters");
  return x;
}

template <class T>
Summary<T> Solver<T>::resume(BasicProblem<T>& problem, std::istream& in) {
  Impl& s = *impl_;
  s.setup(problem);
  read_state_header<T>(in);
  const auto n = io::read_scalar<std::uint64_t>(in, "parameter count");
  const auto m = io::read_scalar<std::uint64_t>(in, "constraint count");
  if (n != s.n || m != s.m)
    throw InputError("solver state is for " + std::to_string(n) + " parameters and " +
                     std::to_string(m) + " constraints, the problem has " + std::to_string(s.n) +
                     " and " + std::to_string(s.m));
  s.eval_counter = io::read_scalar<std::uint64_t>(in, "evaluation counter");
  s.iteration = io::read_scalar<std::uint64_t>(in, "iteration");
  s.epoch = io::read_scalar<std::uint64_t>(in, "epoch");
  s.batch_index = io::read_scalar<std::uint64_t>(in, "batch index");
  s.forwards = io::read_scalar<std::uint64_t>(in, "forward count");
  s.backwards = io::read_scalar<std::uint64_t>(in, "backward count");
  s.elapsed_before = io::read_scalar<double>(in, "elapsed seconds");
  io::read_vector(in, s.x, "parameters");
  io::read_vector(in, s.lambda, "multipliers");
  s.primal->load(in);
  s.dual->load(in);
  s.form->load(in);
  s.scheme->load(in);
  if (s.stochastic && s.batch_index >= s.batches_per_epoch)
    throw InputError("solver state batch index is out of range for this batch size");
  return s.run();
}

template struct Summary<float>;
template struct Summary<double>;
template class Solver<float>;
template class Solver<double>;

}  // namespace saddle
