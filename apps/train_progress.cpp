// The per-step log and the progress bar of `saddle train` (train_progress.hpp).
#include "train_progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <vector>

#include "saddle/atomic_file.hpp"
#include "saddle/solver.hpp"

namespace saddle::cli {

namespace fs = std::filesystem;

std::string percent(double fraction) {
  if (std::isnan(fraction)) return "   -  ";
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << 100.0 * fraction << '%';
  return s.str();
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

namespace {

std::string duration_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0.0) return "?";
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", s / 3600, (s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof(buf), "%llds", s);
  return buf;
}

std::size_t terminal_columns() {
  winsize w{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 20) return w.ws_col;
  return 120;
}

}  // namespace

void StepWatcher::on_begin(saddle::BasicProblem<float>& problem, const saddle::SolverOptions&) {
  header_ = "iteration,epoch,batch,loss,objective,max_violation";
  const auto specs = problem.constraints();
  for (const auto& spec : specs) header_ += ",c_" + spec.name;
  for (const auto& spec : specs) header_ += ",lambda_" + spec.name;
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

bool StepWatcher::on_step(const saddle::StepInfo<float>& info) {
  if (first_iteration_ == 0) {
    first_iteration_ = info.iteration;
    if (!csv_path_.empty() && every_ > 0) open_csv(info.iteration);
  }
  if (csv_.is_open() && info.iteration % every_ == 0) {
    csv_ << info.iteration << ',' << info.epoch + 1 << ',' << info.batch + 1 << ','
         << info.evaluation->loss << ',' << info.objective << ',' << info.max_violation;
    const auto& v = info.evaluation->dual_values();
    for (std::size_t i = 0; i < v.size(); ++i) csv_ << ',' << v(i);
    for (std::size_t i = 0; i < info.multipliers->size(); ++i)
      csv_ << ',' << (*info.multipliers)(i);
    csv_ << '\n';
    if (!csv_) throw saddle::WriteError(csv_path_, std::strerror(errno));
  }
  // Every row is flushed as written: every row up to a checkpoint (at an epoch end, or at
  // a stop on a signal) is on disk when the checkpoint is.
  if (csv_.is_open() && info.iteration % every_ == 0) csv_.flush();
  if (bar_ != nullptr) {
    last_ = info;
    have_step_ = true;
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last_draw_).count() >= 0.2) {
      last_draw_ = now;
      draw();
    }
  }
  return true;
}

void StepWatcher::on_end(const saddle::Summary<float>&) {
  if (csv_.is_open()) {
    csv_.flush();
    if (!csv_) throw saddle::WriteError(csv_path_, std::strerror(errno));
  }
}

void StepWatcher::epoch_done(const saddle::l0::EpochMetrics& m) {
  if (!std::isnan(m.test_error)) test_error_ = m.test_error;
  density_ = m.expected_density;
  if (bar_ != nullptr && have_step_) draw();
}

void StepWatcher::finish_bar() {
  if (bar_ != nullptr && drawn_) {
    *bar_ << '\n';
    bar_->flush();
    drawn_ = false;
  }
}

void StepWatcher::open_csv(std::size_t first_iteration) {
  std::vector<std::string> kept;
  if (resuming_) {
    std::ifstream old(csv_path_);
    std::string line;
    if (old && std::getline(old, line) && line == header_) {
      const auto columns = std::count(header_.begin(), header_.end(), ',');
      // A row cut short by a kill has fewer columns: dropped with the rows past the checkpoint.
      while (std::getline(old, line))
        if (std::count(line.begin(), line.end(), ',') == columns &&
            std::strtoull(line.c_str(), nullptr, 10) < first_iteration)
          kept.push_back(line);
    }
  }
  std::string text = header_ + '\n';
  for (const auto& line : kept) text += line + '\n';
  saddle::write_file_atomically(csv_path_, text);  // then appended row by row
  csv_.open(csv_path_, std::ios::app);
  if (!csv_) throw saddle::WriteError(csv_path_, std::strerror(errno));
  csv_.precision(9);
}

void StepWatcher::draw() {
  const auto& info = last_;
  const std::size_t per_epoch = info.batches_per_epoch;
  const std::size_t total = per_epoch * epochs_;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double done_here = static_cast<double>(info.iteration - first_iteration_ + 1);
  const double eta =
      elapsed / done_here * static_cast<double>(total - std::min(total, info.iteration));
  const std::size_t step = info.batch + 1;
  constexpr int kWidth = 20;
  const int filled =
      static_cast<int>(kWidth * static_cast<double>(step) / static_cast<double>(per_epoch));
  std::ostringstream line;
  line << "epoch " << info.epoch + 1 << '/' << epochs_ << " [" << std::string(filled, '#')
       << std::string(kWidth - filled, '-') << "] " << step << '/' << per_epoch << "  ETA "
       << duration_text(eta) << "  test err "
       << (std::isnan(test_error_) ? std::string("-") : percent(test_error_)) << "  density "
       << (std::isnan(density_) ? std::string("-") : fixed(density_, 4)) << "  lambda ";
  line << std::setprecision(4);
  for (std::size_t i = 0; i < info.multipliers->size(); ++i)
    line << (i ? "," : "") << (*info.multipliers)(i);
  std::string text = line.str();
  const std::size_t columns = terminal_columns();
  if (text.size() >= columns) text.resize(columns - 1);  // a wrapped line cannot be redrawn with \r
  *bar_ << '\r' << text << "\033[K";
  bar_->flush();
  drawn_ = true;
}

}  // namespace saddle::cli
