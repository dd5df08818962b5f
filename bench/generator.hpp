// One generator process: an epoll loop driving many client connections, no threads, no
// per-connection buffers beyond what a connection has in flight. It talks to the
// coordinating parent through two pipes (see report.hpp for the line protocol).
#pragma once
#include "options.hpp"

#include <cstdint>
#include <string>

namespace craft::bench {

struct GeneratorPlan {
  uint32_t index = 0;     // process number k
  uint32_t count = 0;     // clients in this process; rooms never span processes
  std::string source;     // address to bind before connect; empty = let the kernel pick
  int up_fd = -1;         // we write result lines here
  int down_fd = -1;       // the parent writes "go T0 T1" here
};

// Runs until the measured window and the drain are over; returns the exit status.
int run_generator(const Options& options, const GeneratorPlan& plan);

}  // namespace craft::bench
