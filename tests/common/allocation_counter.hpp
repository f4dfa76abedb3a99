#pragma once
// Counts calls to the C allocator (malloc, calloc, realloc, posix_memalign, aligned_alloc,
// memalign) made by the current thread inside an AllocationCounter's lifetime. The
// interposed functions forward to glibc's __libc_* entry points; xtensor allocates with
// posix_memalign, which a replacement of operator new would not see; operator new calls
// malloc, so it is counted too. The one allocation counter of the project: the test binaries
// and benchmarks/bench_training.cpp use it. Exactly ONE source file of a binary defines
// SADDLE_TEST_ALLOC_DEFINE before including this header (that file defines the C allocator
// functions, and includes it after every other header so that the C library's declarations
// come first); the others just include it. Under AddressSanitizer (which owns malloc)
// counting is compiled out: kCountAllocations is false. ProcessAllocationCounter counts the
// allocations of every thread instead (worker threads of data-parallel problems).

#include <atomic>
#include <cerrno>
#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define SADDLE_TEST_COUNT_ALLOCATIONS 0
#else
#define SADDLE_TEST_COUNT_ALLOCATIONS 1
#endif

namespace saddle_test_alloc {
inline thread_local bool t_counting = false;
inline thread_local std::size_t t_allocations = 0;
inline std::atomic<bool> g_counting{false};
inline std::atomic<std::size_t> g_allocations{0};
inline void count() {
  if (t_counting) ++t_allocations;
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace saddle_test_alloc

#if SADDLE_TEST_COUNT_ALLOCATIONS && defined(SADDLE_TEST_ALLOC_DEFINE)
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* ptr, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void __libc_free(void* ptr);

void* malloc(std::size_t size) {
  saddle_test_alloc::count();
  return __libc_malloc(size);
}
void* calloc(std::size_t n, std::size_t size) {
  saddle_test_alloc::count();
  return __libc_calloc(n, size);
}
void* realloc(void* ptr, std::size_t size) {
  saddle_test_alloc::count();
  return __libc_realloc(ptr, size);
}
void free(void* ptr) { __libc_free(ptr); }
void* memalign(std::size_t alignment, std::size_t size) {
  saddle_test_alloc::count();
  return __libc_memalign(alignment, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) {
  saddle_test_alloc::count();
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  saddle_test_alloc::count();
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
}
#endif

namespace saddle_test_alloc {
constexpr bool kCountAllocations = SADDLE_TEST_COUNT_ALLOCATIONS != 0;
/// Counts this thread's allocations from construction to destruction.
class AllocationCounter {
 public:
  AllocationCounter() {
    t_allocations = 0;
    t_counting = true;
  }
  ~AllocationCounter() { t_counting = false; }
  std::size_t count() const { return t_allocations; }
};
/// Counts the allocations of every thread of the process from construction to destruction
/// (one at a time).
class ProcessAllocationCounter {
 public:
  ProcessAllocationCounter() {
    g_allocations = 0;
    g_counting = true;
  }
  ~ProcessAllocationCounter() { g_counting = false; }
  std::size_t count() const { return g_allocations.load(); }
};
}  // namespace saddle_test_alloc
