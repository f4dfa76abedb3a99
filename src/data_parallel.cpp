// Data-parallel evaluation: each rank evaluates its share of the batch rows, then one
// all-reduce sums the share-weighted values (see include/saddle/data_parallel.hpp).
#include "saddle/data_parallel.hpp"

#include <algorithm>
#include <string>

#include <xtensor/xnoalias.hpp>

namespace saddle {

Shard shard_of(std::size_t batch_size, int rank, int size) {
  if (size < 1 || rank < 0 || rank >= size)
    throw InvalidOption("data parallel: rank " + std::to_string(rank) + " of " + std::to_string(size) +
                        ": must be in [0, size) with size >= 1");
  const auto p = static_cast<std::size_t>(size);
  const auto r = static_cast<std::size_t>(rank);
  const std::size_t base = batch_size / p, extra = batch_size % p;
  Shard s;
  s.count = base + (r < extra ? 1 : 0);
  s.offset = r * base + std::min(r, extra);
  return s;
}

template <class T>
DataParallelProblem<T>::DataParallelProblem(BasicProblem<T>& inner, Communicator& comm)
    : inner_(inner), comm_(comm), m_(inner.constraints().size()) {
  if (inner_.num_samples() == 0)
    throw InvalidOption("data parallel: the problem is deterministic (num_samples() = 0): nothing to split");
  local_.resize(m_);
  reduce_.assign(2 * m_ + 2, 0.0);
}

template <class T>
void DataParallelProblem<T>::evaluate(const Vector<T>& x, const Batch& batch, Evaluation& eval,
                                      bool constraints_only) {
  const std::size_t rows = batch.size == 0 ? inner_.num_samples() : batch.size;
  shard_ = shard_of(rows, comm_.rank(), comm_.size());
  share_ = static_cast<double>(shard_.count) / static_cast<double>(rows);
  std::fill(reduce_.begin(), reduce_.end(), 0.0);
  if (shard_.count > 0) {
    const Batch mine{batch.begin + shard_.offset, shard_.count, batch.noise_seed};
    local_.has_strict = false;
    if (constraints_only)
      inner_.evaluate_constraints(x, mine, local_);
    else
      inner_.forward(x, mine, local_);
    reduce_[0] = share_ * local_.loss;
    for (std::size_t i = 0; i < m_; ++i) {
      reduce_[1 + i] = share_ * local_.constraints(i);
      reduce_[1 + m_ + i] = share_ * (local_.has_strict ? local_.strict(i) : local_.constraints(i));
    }
    reduce_[1 + 2 * m_] = local_.has_strict ? 1.0 : 0.0;
  }
  comm_.allreduce_sum(reduce_.data(), reduce_.size());
  eval.loss = reduce_[0];
  for (std::size_t i = 0; i < m_; ++i) eval.constraints(i) = reduce_[1 + i];
  eval.has_strict = reduce_[1 + 2 * m_] > 0.0;
  if (eval.has_strict)
    for (std::size_t i = 0; i < m_; ++i) eval.strict(i) = reduce_[1 + m_ + i];
}

template <class T>
void DataParallelProblem<T>::forward(const Vector<T>& x, const Batch& batch, Evaluation& eval) {
  evaluate(x, batch, eval, false);
}

template <class T>
void DataParallelProblem<T>::evaluate_constraints(const Vector<T>& x, const Batch& batch, Evaluation& eval) {
  evaluate(x, batch, eval, true);
}

template <class T>
void DataParallelProblem<T>::backward(const Vector<double>& weights, Vector<T>& grad) {
  if (shard_.count > 0) {
    inner_.backward(weights, grad);
    if (share_ != 1.0) xt::noalias(grad) = static_cast<T>(share_) * grad;
  } else {
    grad.fill(T(0));
  }
  comm_.allreduce_sum(grad.data(), grad.size());
}

template class DataParallelProblem<float>;
template class DataParallelProblem<double>;

}  // namespace saddle
