#include <craft/signals.hpp>

#include <spdlog/spdlog.h>

#include <pthread.h>

#include <algorithm>
#include <cerrno>

namespace craft {

SignalWaiter::SignalWaiter(std::initializer_list<int> signals) {
  sigemptyset(&signals_);
  for (int s : signals) sigaddset(&signals_, s);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int SignalWaiter::wait() {
  int signal = 0;
  // sigwait only fails for an invalid set, which the constructor cannot build.
  while (sigwait(&signals_, &signal) != 0) {
  }
  return signal;
}

int SignalWaiter::wait_for(std::chrono::milliseconds timeout) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  timespec ts{static_cast<time_t>(secs.count()),
              static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout - secs).count())};
  for (;;) {
    int signal = sigtimedwait(&signals_, nullptr, &ts);
    if (signal > 0) return signal;
    if (errno == EAGAIN) return 0;
    // EINTR: another signal's handler ran; wait again (the timeout restarts: a bounded
    // overshoot, fine for a drain's polling).
  }
}

bool drain_then_stop(Server& server, SignalWaiter& signals) {
  const auto& config = server.config();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(config.drain_timeout_ms);
  server.drain();
  bool emptied = false;
  for (;;) {
    if (server.room_count() == 0) {
      emptied = true;
      break;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    int signal = signals.wait_for(std::min(left, std::chrono::milliseconds(100)));
    if (signal == SIGINT || signal == SIGTERM) {
      spdlog::info("drain: a second {}: stopping now", signal == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    if (signal == SIGHUP) server.reload_tls();
  }
  if (emptied) spdlog::info("drain: every room has ended; stopping");
  else spdlog::info("drain: {} rooms still running; closing their clients with 1012 (reconnect)", server.room_count());
  server.stop();
  return emptied;
}

int run_until_signal(Server& server) {
  SignalWaiter signals({SIGINT, SIGTERM, SIGHUP});
  server.start();
  if (server.config().tcp_enabled)
    spdlog::info("listening on {}: http/ws port {}, tcp port {}", server.config().listen_address, server.http_port(),
                 server.tcp_port());
  else
    spdlog::info("listening on {}: http/ws port {}", server.config().listen_address, server.http_port());
  int signal = 0;
  while ((signal = signals.wait()) == SIGHUP) server.reload_tls();
  if (signal == SIGTERM && server.config().drain_on_sigterm) {
    spdlog::info("SIGTERM: draining");
    drain_then_stop(server, signals);
    server.wait();
    return signal;
  }
  spdlog::info("{}: shutting down", signal == SIGINT ? "SIGINT" : "SIGTERM");
  server.stop();
  server.wait();
  return signal;
}

}  // namespace craft
