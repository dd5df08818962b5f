#include "core/memory_trim.hpp"

#include <chrono>
#include <cstdio>
#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#define CRAFT_GLIBC_TRIM 1
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#undef CRAFT_GLIBC_TRIM
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#undef CRAFT_GLIBC_TRIM
#endif
#endif

namespace craft::detail {

bool memory_trim_supported() {
#if defined(CRAFT_GLIBC_TRIM)
  return true;
#else
  return false;
#endif
}

uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  const long page = sysconf(_SC_PAGESIZE);
  return n == 2 && page > 0 ? resident * static_cast<uint64_t>(page) : 0;
}

MemoryTrimResult trim_memory(uint64_t min_free_bytes) {
  MemoryTrimResult r;
#if defined(CRAFT_GLIBC_TRIM)
  const auto start = std::chrono::steady_clock::now();
  auto done = [&] {
    r.micros = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count());
    return r;
  };
  r.free_bytes = mallinfo2().fordblks;
  if (r.free_bytes < min_free_bytes) return done();
  const uint64_t before = resident_bytes();
  malloc_trim(0);
  const uint64_t after = resident_bytes();
  r.trimmed = true;
  r.returned_bytes = before > after ? before - after : 0;
  return done();
#else
  (void)min_free_bytes;
#endif
  return r;
}

}  // namespace craft::detail
