// Giving freed heap memory back to the system. glibc's malloc keeps what a disposed room or a
// wave of closed connections freed inside its arenas (fragmented, so its own trim of the top
// of the heap rarely fires): the review of issue 13 saw craftd stay at 56-113 MB after rooms
// of 400 clients were gone, and malloc_trim(0) brought such a process from 80 to 23 MB
// (docs/performance.md §10). ServerCore checks every server.memory_trim_interval_ms.
#pragma once
#include <cstdint>

namespace craft::detail {

struct MemoryTrimResult {
  bool trimmed = false;
  uint64_t free_bytes = 0;      // free in malloc's arenas before (mallinfo2().fordblks)
  uint64_t returned_bytes = 0;  // resident memory the trim gave back (RSS before - after)
  uint64_t micros = 0;          // the check and the trim, wall clock
};

// Trims (malloc_trim(0)) when malloc holds at least `min_free_bytes` free; else only looks.
// Cost: mallinfo2 walks the free lists of every arena under its lock, and a trim walks them
// again releasing whole free pages; a few milliseconds for a heap of 100 MB. Does nothing
// where memory_trim_supported() is false.
MemoryTrimResult trim_memory(uint64_t min_free_bytes);

// glibc's malloc (2.33 or later, for mallinfo2) is the allocator in use: not another libc, and
// not a sanitizer's allocator, which glibc's counters would not see.
bool memory_trim_supported();

// The process' resident memory in bytes (/proc/self/statm), 0 if unknown.
uint64_t resident_bytes();

}  // namespace craft::detail
