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
  uint64_t slack_bytes = 0;     // resident bytes malloc does not use (0 where unsupported)
  uint64_t returned_bytes = 0;  // resident memory the trim gave back (RSS before - after; other
                                // threads allocate meanwhile, so approximate)
  uint64_t micros = 0;          // the check and the trim, wall clock
};

// One per process, on one thread (shard 0). A trim gives pages back but leaves their chunks in
// malloc's free lists, so malloc's own "free" count cannot say whether a trim would return
// anything. What can: the resident memory malloc does not use ("slack" = RSS - in use), grown
// since the last trim. The first check only records where things stand.
class MemoryTrimmer {
 public:
  // mallinfo2 (it walks every arena's free lists under their locks: well under a millisecond
  // on a small heap, milliseconds on a fragmented one) and a read of /proc/self/statm; when
  // the slack grew by min_free_bytes since the last trim, malloc_trim(0); the first check
  // always trims, to find what stays unused after a trim.
  // Resident size alone cannot gate it: after a room is gone it stays where the room took it.
  // Does nothing where memory_trim_supported() is false.
  MemoryTrimResult check(uint64_t min_free_bytes);

 private:
  bool primed_ = false;
  uint64_t slack_after_trim_ = 0;  // lowered whenever the slack shrinks (freed memory reused)
};

// glibc's malloc is the allocator in use: not another libc, and not a sanitizer's allocator,
// which glibc's counters would not see.
bool memory_trim_supported();

// The process' resident memory in bytes (/proc/self/statm), 0 if unknown.
uint64_t resident_bytes();

}  // namespace craft::detail
