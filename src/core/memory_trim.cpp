#include "core/memory_trim.hpp"

#include <chrono>
#include <cstdio>
#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
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

namespace {

#if defined(CRAFT_GLIBC_TRIM)
// Bytes malloc has handed out: in its arenas plus its own mmap'ed blocks.
uint64_t malloc_in_use() {
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
#else
  // mallinfo's fields are int: read as unsigned they are right up to 4 GiB.
  const struct mallinfo mi = mallinfo();
  return uint64_t(unsigned(mi.uordblks)) + uint64_t(unsigned(mi.hblkhd));
#endif
}
#endif

}  // namespace

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

MemoryTrimResult MemoryTrimmer::check(uint64_t min_free_bytes) {
  MemoryTrimResult r;
#if defined(CRAFT_GLIBC_TRIM)
  const auto start = std::chrono::steady_clock::now();
  auto done = [&] {
    r.micros = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count());
    return r;
  };
  const uint64_t before = resident_bytes();
  const uint64_t in_use = malloc_in_use();
  r.slack_bytes = before > in_use ? before - in_use : 0;
  // The first check trims: what stays unused after a trim (code, stacks, fragments) is the
  // mark later growth is measured from. Any lower slack moves the mark down.
  if (primed_) {
    if (r.slack_bytes < slack_after_trim_) slack_after_trim_ = r.slack_bytes;
    if (r.slack_bytes - slack_after_trim_ < min_free_bytes) return done();
  }
  primed_ = true;
  malloc_trim(0);
  const uint64_t after = resident_bytes();
  r.trimmed = true;
  r.returned_bytes = before > after ? before - after : 0;
  slack_after_trim_ = after > in_use ? after - in_use : 0;
  return done();
#else
  (void)min_free_bytes;
  return r;
#endif
}

}  // namespace craft::detail
