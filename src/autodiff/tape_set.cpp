// The ADOL-C engine of saddle::autodiff: tags, recording, zos_forward / fos_reverse, retaping.

#include <adolc/adolc.h>

#include <algorithm>
#include <climits>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

#include "saddle/autodiff.hpp"

namespace saddle::autodiff {

namespace {

// Every ADOL-C call of this file holds this mutex: tapes, the location store and the
// taping flag are process-wide in ADOL-C.
std::mutex& adolc_mutex() {
  static std::mutex m;
  return m;
}

// Tags of the tapes saddle records, [kFirstTag, SHRT_MAX]; freed tags are reused. Callers
// hold adolc_mutex().
constexpr short kFirstTag = 20000;
std::vector<short>& free_tags() {
  static std::vector<short> tags;
  return tags;
}
short next_tag = kFirstTag;

short acquire_tag(const std::string& name) {
  std::vector<short>& pool = free_tags();
  if (!pool.empty()) {
    const short t = pool.back();
    pool.pop_back();
    return t;
  }
  if (next_tag == SHRT_MAX)
    throw InputError(name + ": no ADOL-C tape tag left (" + std::to_string(SHRT_MAX - kFirstTag) +
                     " tapes alive)");
  return next_tag++;
}

// ADOL-C warns on stderr about every branch switch; saddle handles them (retape), so the
// warning is switched off once.
void quiet_branch_switches() {
  static const bool done = [] {
    disableBranchSwitchWarnings();
    return true;
  }();
  (void)done;
}

}  // namespace

struct TapeSet::Tape {
  short tag = 0;
  std::size_t count = 0;   // batch rows this tape was recorded for (0: deterministic)
  std::size_t params = 0;  // count * width
  std::size_t operations = 0;
};

TapeSet::TapeSet(std::string name, std::size_t n, std::size_t m, std::size_t width,
                 const Recorder& recorder)
    : name_(std::move(name)), n_(n), m_(m), width_(width), recorder_(recorder), seed_(1 + m, 0.0) {
  if (n > static_cast<std::size_t>(INT_MAX) || m + 1 > static_cast<std::size_t>(INT_MAX))
    throw InvalidOption(name_ + ": too many parameters or constraints for ADOL-C (int sizes)");
  tapes_.reserve(4);
  std::lock_guard<std::mutex> lock(adolc_mutex());
  quiet_branch_switches();
}

TapeSet::~TapeSet() {
  std::lock_guard<std::mutex> lock(adolc_mutex());
  for (const auto& t : tapes_) {
    if (t->operations != 0) removeTape(t->tag, ADOLC_REMOVE_COMPLETELY);
    free_tags().push_back(t->tag);
  }
}

TapeSet::Tape& TapeSet::tape_for(std::size_t count) {
  for (auto& t : tapes_)
    if (t->count == count) return *t;
  auto tape = std::make_unique<Tape>();
  tape->count = count;
  tape->params = count * width_;
  {
    std::lock_guard<std::mutex> lock(adolc_mutex());
    tape->tag = acquire_tag(name_);
  }
  tapes_.push_back(std::move(tape));
  return *tapes_.back();
}

// Records the functor at x on `tape` (caller holds the mutex). If ADOL-C had to spill the
// tape to files (larger than its default buffers), records once more with buffers that hold
// the whole tape, so that evaluations never read files.
void TapeSet::record(Tape& tape, const double* x, const double* rows) {
  unsigned buffers = 0;  // 0: ADOL-C's defaults
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (buffers == 0)
      trace_on(tape.tag, 0);
    else
      trace_on(tape.tag, 0, buffers, buffers, buffers, buffers);
    try {
      std::vector<ADouble> xa(n_);
      std::vector<ADouble> data(tape.params);
      std::vector<ADouble> c(m_);
      ADouble loss;
      for (std::size_t j = 0; j < n_; ++j) xa[j] <<= x[j];
      for (std::size_t k = 0; k < tape.params; ++k) data[k] = mkparam(rows[k]);
      loss = 0.0;
      for (auto& ci : c) ci = 0.0;
      recorder_.record(xa.data(), tape.params > 0 ? data.data() : nullptr, tape.count, loss,
                       c.data());
      double ignored = 0.0;
      loss >>= ignored;
      for (auto& ci : c) ci >>= ignored;
    } catch (...) {
      trace_off();
      throw;
    }
    trace_off();
    ++recordings_;
    std::size_t st[STAT_SIZE] = {};
    tapestats(tape.tag, st);
    tape.operations = st[NUM_OPERATIONS];
    const bool spilled = st[OP_FILE_ACCESS] || st[LOC_FILE_ACCESS] || st[VAL_FILE_ACCESS];
    if (!spilled || buffers != 0) break;
    const std::size_t need =
        std::max({st[NUM_OPERATIONS], st[NUM_LOCATIONS], st[NUM_VALUES], st[TAY_STACK_SIZE]}) + 1;
    if (need > static_cast<std::size_t>(UINT_MAX / 2)) break;  // keep the files
    buffers = static_cast<unsigned>(need);
  }
}

void TapeSet::forward(const double* x, const double* rows, std::size_t count, double* y) {
  Tape& tape = tape_for(count);
  const int n = static_cast<int>(n_);
  const int deps = static_cast<int>(1 + m_);
  std::lock_guard<std::mutex> lock(adolc_mutex());
  last_ = nullptr;
  if (tape.operations == 0) record(tape, x, rows);  // first use of this batch size
  // The batch's rows are the tape's parameters (ADOL-C copies them; it does not write).
  if (tape.params > 0) set_param_vec(tape.tag, tape.params, const_cast<double*>(rows));
  int rc = zos_forward(tape.tag, deps, n, 1, x, y);
  if (rc < 0) {
    // A comparison recorded on the tape takes the other branch at x: record again here.
    ++branch_retapes_;
    record(tape, x, rows);
    if (tape.params > 0) set_param_vec(tape.tag, tape.params, const_cast<double*>(rows));
    rc = zos_forward(tape.tag, deps, n, 1, x, y);
    if (rc < 0)
      throw InputError(name_ + ": ADOL-C reports a branch switch right after retaping (code " +
                       std::to_string(rc) +
                       "): the function's control flow is not a function "
                       "of x alone");
  }
  last_ = &tape;
}

void TapeSet::backward(const double* weights, double* grad) {
  if (last_ == nullptr) throw InputError(name_ + ": backward called before forward");
  seed_[0] = 1.0;
  for (std::size_t i = 0; i < m_; ++i) seed_[1 + i] = weights[i];
  std::lock_guard<std::mutex> lock(adolc_mutex());
  fos_reverse(last_->tag, static_cast<int>(1 + m_), static_cast<int>(n_), seed_.data(), grad);
}

TapeStats TapeSet::stats() const {
  TapeStats s;
  s.tapes = tapes_.size();
  s.recordings = recordings_;
  s.branch_retapes = branch_retapes_;
  s.operations = last_ != nullptr ? last_->operations : 0;
  return s;
}

}  // namespace saddle::autodiff
