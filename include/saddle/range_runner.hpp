#pragma once
/// \file range_runner.hpp
/// Element-wise work split over a fixed team of threads by fixed index ranges.
///
/// A RangeRunner runs one task per worker, concurrently, and returns when all have returned
/// (ThreadTeam, thread_parallel.hpp, is one). for_ranges() gives worker i the fixed range
/// chunk_range(n, i, workers) of [0, n): the ranges depend on n and the number of workers
/// only, never on timing. Work whose every element is computed on its own (an update rule
/// over the parameters) gives the same bits split or not.

#include <cstddef>

namespace saddle {

/// Runs fork-join jobs on a fixed number of workers. Non-owning users keep a pointer; the
/// runner must outlive them.
class RangeRunner {
 public:
  virtual ~RangeRunner() = default;
  /// The number of workers (>= 1; the calling thread counts as one).
  virtual std::size_t workers() const = 0;
  /// Calls task(ctx, i) once for each i in [0, workers()), concurrently, and returns when all
  /// have returned. Rethrows the exception of the lowest index that threw. No allocation.
  virtual void run(void (*task)(void* ctx, std::size_t index), void* ctx) = 0;
};

/// [begin, end) of [0, n).
struct IndexRange {
  std::size_t begin = 0, end = 0;
};

/// Elements per block of chunk_range: 64 floats or doubles are 256 or 512 bytes, whole cache
/// lines (no two workers write one line) and whole SIMD vectors (a chunk starts where the
/// unsplit loop would start a vector).
inline constexpr std::size_t kRangeBlock = 64;

/// Range i of `parts` consecutive ranges covering [0, n) in whole blocks of `block` (>= 1)
/// elements: the ceil(n / block) blocks are dealt out as evenly as possible, earlier ranges
/// first; the last block may be partial. Some ranges are empty when n has fewer blocks than
/// parts.
inline IndexRange block_range(std::size_t n, std::size_t i, std::size_t parts, std::size_t block) {
  const std::size_t blocks = (n + block - 1) / block;
  const std::size_t base = blocks / parts, extra = blocks % parts;
  const std::size_t first = i * base + (i < extra ? i : extra);
  const std::size_t count = base + (i < extra ? 1 : 0);
  const std::size_t begin = first * block < n ? first * block : n;
  const std::size_t end = (first + count) * block < n ? (first + count) * block : n;
  return {begin, end};
}

/// block_range in blocks of kRangeBlock elements.
inline IndexRange chunk_range(std::size_t n, std::size_t i, std::size_t parts) {
  return block_range(n, i, parts, kRangeBlock);
}

/// Calls f(i, parts) for every worker i of `runner` (parts = its workers), concurrently, or
/// f(0, 1) on the calling thread when runner is null or has one worker: work split by the
/// callee into `parts` fixed pieces. f is kept by reference (never copied); nothing is
/// allocated.
template <class F>
void for_parts(RangeRunner* runner, F& f) {
  if (runner == nullptr || runner->workers() <= 1) {
    f(std::size_t{0}, std::size_t{1});
    return;
  }
  struct Ctx {
    F* f;
    std::size_t parts;
  } ctx{&f, runner->workers()};
  runner->run(
      [](void* c, std::size_t i) {
        auto& k = *static_cast<Ctx*>(c);
        (*k.f)(i, k.parts);
      },
      &ctx);
}

/// Calls f(i, chunk_range(n, i, workers)) for every worker i: on `runner`'s workers
/// concurrently, or f(0, {0, n}) on the calling thread when runner is null. f is kept by
/// reference (never copied); nothing is allocated.
template <class F>
void for_ranges(RangeRunner* runner, std::size_t n, F& f) {
  if (runner == nullptr || runner->workers() <= 1) {
    f(std::size_t{0}, IndexRange{0, n});
    return;
  }
  struct Ctx {
    F* f;
    std::size_t n, parts;
  } ctx{&f, n, runner->workers()};
  runner->run(
      [](void* c, std::size_t i) {
        auto& k = *static_cast<Ctx*>(c);
        (*k.f)(i, chunk_range(k.n, i, k.parts));
      },
      &ctx);
}

}  // namespace saddle
