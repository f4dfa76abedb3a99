#include "saddle/callbacks.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <ostream>

#include "saddle/atomic_file.hpp"
#include "saddle/problem.hpp"

namespace saddle {

template <class T>
bool ProgressPrinter<T>::on_step(const StepInfo<T>& info) {
  if (every_ == 0 || info.iteration % every_ != 0) return true;
  out_ << "iter " << info.iteration;
  if (info.batches_per_epoch > 1) out_ << " epoch " << info.epoch;
  out_ << " loss " << info.evaluation->loss << " max_violation " << info.max_violation << " lambda [";
  for (std::size_t i = 0; i < info.multipliers->size(); ++i) out_ << (i ? " " : "") << (*info.multipliers)(i);
  out_ << "]\n";
  return true;
}

template <class T>
CsvLogger<T>::CsvLogger(const std::string& path, std::size_t every) : out_(path), path_(path), every_(every) {
  if (!out_) throw WriteError(path, std::strerror(errno));
  out_.precision(10);
}

template <class T>
void CsvLogger<T>::on_begin(BasicProblem<T>& problem, const SolverOptions&) {
  out_ << "iteration,epoch,loss,objective,max_violation";
  const auto specs = problem.constraints();
  for (const auto& s : specs) out_ << ",c_" << s.name;
  for (const auto& s : specs) out_ << ",lambda_" << s.name;
  out_ << '\n';
}

template <class T>
bool CsvLogger<T>::on_step(const StepInfo<T>& info) {
  if (every_ == 0 || info.iteration % every_ != 0) return true;
  out_ << info.iteration << ',' << info.epoch << ',' << info.evaluation->loss << ',' << info.objective << ','
       << info.max_violation;
  const auto& v = info.evaluation->dual_values();
  for (std::size_t i = 0; i < v.size(); ++i) out_ << ',' << v(i);
  for (std::size_t i = 0; i < info.multipliers->size(); ++i) out_ << ',' << (*info.multipliers)(i);
  out_ << '\n';
  if (!out_) throw WriteError(path_, std::strerror(errno));
  return true;
}

template <class T>
void CsvLogger<T>::on_end(const Summary<T>&) {
  out_.flush();
  if (!out_) throw WriteError(path_, std::strerror(errno));
}

template <class T>
bool EarlyStop<T>::on_step(const StepInfo<T>& info) {
  if (info.max_violation > tol_) {
    since_best_ = 0;
    return true;
  }
  const double value = info.objective;
  if (!have_best_ || value < best_ - min_delta_) {
    best_ = value;
    have_best_ = true;
    since_best_ = 0;
    return true;
  }
  if (++since_best_ >= patience_) {
    stopped_ = true;
    return false;
  }
  return true;
}

template <class T>
void KeepBestFeasible<T>::on_begin(BasicProblem<T>& problem, const SolverOptions&) {
  best_x_ = Vector<T>::from_shape({problem.num_parameters()});
  best_multipliers_ = Vector<double>::from_shape({problem.constraints().size()});
  found_ = false;
}

template <class T>
bool KeepBestFeasible<T>::on_step(const StepInfo<T>& info) {
  if (info.max_violation > tol_ || !info.evaluated_x) return true;
  const double loss = info.evaluation->loss;
  if (found_ && !(loss < best_loss_)) return true;
  found_ = true;
  best_loss_ = loss;
  best_iteration_ = info.iteration;
  std::copy(info.evaluated_x->begin(), info.evaluated_x->end(), best_x_.begin());
  std::copy(info.multipliers->begin(), info.multipliers->end(), best_multipliers_.begin());
  return true;
}

template class ProgressPrinter<float>;
template class ProgressPrinter<double>;
template class CsvLogger<float>;
template class CsvLogger<double>;
template class EarlyStop<float>;
template class EarlyStop<double>;
template class KeepBestFeasible<float>;
template class KeepBestFeasible<double>;

}  // namespace saddle
