#pragma once
/// \file density_problem.hpp
/// Group-density L0 sparsification (Gallego-Posada et al. 2021) as a saddle problem:
///
///   min_theta  CE(theta)  s.t.  density_g(theta) - eps_g <= 0,  g = 1..G
///
/// density_g = sum_{l in g} density_l * nsp_l / sum_{l in g} nsp_l, the expected fraction of
/// active sparsifiable weights of the layers of group g ([GP] sparse/models.py), with
/// density_l = mean over the layer's gates of P(z != 0). Penalized L0 (Louizos et al. 2018)
/// is the fixed-penalty formulation of the same problem: loss + sum_g lambda_g * measure_g,
/// with the measure either the normalised density or the expected count of active weights
/// (the [LZ] form, where lambda = 0.1/N means lambda_count = 0.1/N per weight).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "saddle/problem.hpp"
#include "saddle/problems/l0/dataset.hpp"
#include "saddle/problems/l0/model.hpp"

namespace saddle::l0 {

/// A constraint over a set of gated layers.
struct DensityGroup {
  std::string name;                 ///< e.g. "model", "fc1"
  std::vector<std::size_t> layers;  ///< indices into GatedModel::gated_layers()
  double target = 1.0;              ///< eps_g in (0, 1]
};

/// What a constraint measures.
enum class DensityMeasure {
  density,         ///< expected active / sparsifiable weights of the group (in [0, 1])
  expected_count,  ///< expected number of active sparsifiable weights (the [LZ] penalty)
};

/// What the dual update measures each group's violation against (ConstraintSpec::scale).
enum class DualScale {
  one,     ///< the violation density_g - eps_g as it is (the papers' protocol)
  target,  ///< relative to the target, (density_g - eps_g) / eps_g: the multiplier of a low
           ///< target moves as fast, relative to its target, as the one of a high target
};

struct DensityProblemOptions {
  Architecture architecture = Architecture::mlp;
  /// Constraint groups; empty = one model-level group with target 1.
  std::vector<DensityGroup> groups;
  DensityMeasure measure = DensityMeasure::density;
  /// Scale of each constraint for the dual update (the Lagrangian itself is unchanged).
  DualScale dual_scale = DualScale::one;
  /// L2 under the gates (Eq. 15 of the L0 paper, [GP] l2_penalty with detached q0):
  /// weight_decay/2 * sum_g (1-q0_g) ||W_g||^2 (+ un-gated dense biases, gated conv biases).
  double weight_decay = 0.0;
  /// Training minibatch size; the model is reserved for max(batch, eval_batch) rows.
  std::size_t batch = 128;
  std::size_t eval_batch = 500;
  TestGate test_gate = TestGate::median;
  InitScheme init = InitScheme::gp;
  /// Lower bound of every log_alpha after each step (project()); in [-20, 0). The reference
  /// codes' ln 0.01 leaves a closed gate P(z != 0) = sigmoid(ln 0.01 - beta ln(-gamma/zeta))
  /// = 0.047 of expected density: under a target of 0.1 the closed gates of a large layer
  /// then spend about half the budget on weights that test time never uses. A lower bound
  /// (ln 1e-3: 0.0049 per closed gate) leaves that budget to open gates.
  double log_alpha_min = kLogAlphaMin;
  void validate(std::size_t num_gated_layers) const;
};

/// Model-level group over every layer, target eps.
std::vector<DensityGroup> model_level(const GatedModel<float>& model, double target);
/// One group per layer with its own target; throws InvalidOption naming both counts if
/// targets.size() differs from the model's gated layers.
std::vector<DensityGroup> layer_level(const GatedModel<float>& model, const std::vector<double>& targets);

/// Test-set metrics of a parameter vector.
struct EvalMetrics {
  double loss = 0.0;   ///< mean cross-entropy
  double error = 0.0;  ///< fraction misclassified, in [0, 1]
  std::size_t count = 0;
  std::size_t correct = 0;  ///< rows classified correctly
};

/// The stochastic problem over the training split of `data` (kept by reference).
/// Parameters are float32; forward/backward never allocate after construction.
class DensityProblem final : public BasicProblem<float> {
 public:
  DensityProblem(const Dataset& data, DensityProblemOptions options);

  std::size_t num_parameters() const override;
  std::vector<ConstraintSpec> constraints() const override;
  void initial_point(Vector<float>& x, std::uint64_t seed) const override;
  void forward(const Vector<float>& x, const Batch& batch, Evaluation& eval) override;
  void backward(const Vector<double>& weights, Vector<float>& grad) override;
  std::size_t num_samples() const override;
  void shuffle(std::uint64_t seed) override;
  void project(Vector<float>& x) const override;

  const DensityProblemOptions& options() const { return options_; }
  GatedModel<float>& model() { return model_; }
  const GatedModel<float>& model() const { return model_; }
  /// Expected density of each gated layer at x: [L].
  std::vector<double> layer_densities(const Vector<float>& x) const;
  /// Expected density of the whole model (all gated layers, weighted by sparsifiable size).
  double model_density(const Vector<float>& x) const;
  /// Fraction of sparsifiable weights whose test-time gate is > 0.
  double test_time_density(const Vector<float>& x) const;
  /// The same from purged counts already computed at x (avoids a second purge).
  double test_time_density(const PurgedCounts& counts) const;
  /// Group measures (density or count) at x: [G].
  std::vector<double> group_measures(const Vector<float>& x) const;
  /// Test-time metrics on a split (deterministic gates), in batches of eval_batch.
  EvalMetrics evaluate(const Vector<float>& x, const DataSplit& split);
  /// The same on rows [first, first + count) of the split (data-parallel evaluation: each
  /// rank takes a share). Throws InputError for rows outside the split.
  EvalMetrics evaluate(const Vector<float>& x, const DataSplit& split, std::size_t first, std::size_t count);
  /// Training accuracy of the last forward (correct / rows).
  double last_batch_error() const { return last_error_; }

  /// Fixed-gate phase (TrainConfig::fixed_gate_epochs: the last epochs of a run). From the
  /// next forward on, the gate parameters log_alpha are held at the values they have in that
  /// forward's x: training forwards use the deterministic test-time gates
  /// (options().test_gate) instead of sampled ones, backward gives log_alpha a zero gradient
  /// (and no density term), and project() puts the held values back after every step. Only
  /// weights and biases train, on the very network that evaluate() measures; the expected
  /// density, and so every constraint value, stays constant. No allocation.
  void fix_gates();
  /// Ends the phase: sampled gates and trainable log_alpha again.
  void release_gates();
  bool gates_fixed() const { return gates_fixed_; }

  /// Splits each evaluation's work inside the model over `runner`'s workers (the batch
  /// gather by rows, the dense layers as GatedModel::set_runner; null, the default: the
  /// calling thread only). Unlike ThreadParallelProblem, which splits the batch over
  /// replicas, nothing is repeated per thread and no gradient is summed across threads: the
  /// per-weight work (packing z * W, dW, dz) is split too. Results depend on the number of
  /// workers only through GEMM block sizes, never on timing. Non-owning; no allocation.
  /// Fork-joins do not nest: the runner must be idle whenever the problem is called (it may
  /// be the solver's SolverOptions::range_runner, which runs between the problem's calls, but
  /// not the team of a ThreadParallelProblem that holds this problem as a replica).
  void set_runner(RangeRunner* runner);

 private:
  const Dataset& data_;
  DensityProblemOptions options_;
  GatedModel<float> model_;
  std::vector<std::size_t> order_;
  xt::xtensor<float, 2> x_batch_;
  xt::xtensor<std::int32_t, 1> y_batch_;
  std::vector<double> densities_, layer_weights_;
  const Vector<float>* last_x_ = nullptr;
  std::vector<double> group_nsp_;
  double last_error_ = 0.0;
  bool gates_fixed_ = false;
  bool capture_gates_ = false;  // fixed, but the held values are taken at the next forward
  std::vector<float> held_log_alpha_;  // [total gates], the layers' log_alpha in order
};

}  // namespace saddle::l0
