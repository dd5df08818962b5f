#include <craft/signals.hpp>

#include <spdlog/spdlog.h>

#include <pthread.h>

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
  spdlog::info("{}: shutting down", signal == SIGINT ? "SIGINT" : "SIGTERM");
  server.stop();
  server.wait();
  return signal;
}

}  // namespace craft
