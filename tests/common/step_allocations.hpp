#pragma once
// StepAllocations: a solver callback counting the allocations of every thread of the
// process (saddle_test_alloc::ProcessAllocationCounter) from the end of iteration `from` to
// the end of iteration `to`, i.e. over steps from + 1 .. to. The count stays at
// kNotCounted when the solve stops earlier. Include allocation_counter.hpp (with
// SADDLE_TEST_ALLOC_DEFINE where the binary needs it) before this header.

#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/allocation_counter.hpp"
#include "saddle/callbacks.hpp"

namespace saddle_test_alloc {

template <class T>
class StepAllocations final : public saddle::Callback<T> {
 public:
  static constexpr std::size_t kNotCounted = 99;
  StepAllocations(std::uint64_t from, std::uint64_t to) : from_(from), to_(to) {}
  bool on_step(const saddle::StepInfo<T>& info) override {
    if (info.iteration == from_) counter_.emplace();
    if (info.iteration == to_ && counter_) {
      allocations = counter_->count();
      counter_.reset();
    }
    return true;
  }
  /// Allocations counted over the last solve's steps from + 1 .. to.
  std::size_t allocations = kNotCounted;

 private:
  std::uint64_t from_, to_;
  std::optional<ProcessAllocationCounter> counter_;
};

}  // namespace saddle_test_alloc
