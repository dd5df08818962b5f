// Stopping a server gracefully on SIGINT (Ctrl-C) and SIGTERM (systemd, docker stop, kill).
//
// The simple case, in main:
//
//   craft::Server server(config);
//   server.define_room<MyRoom>("my_room");
//   craft::run_until_signal(server);  // starts, waits for SIGINT/SIGTERM, stops gracefully (SIGHUP: TLS reload)
//
// Server::stop() is graceful: listeners close, every client gets close code 1001, rooms are
// disposed, and the loops end within server.shutdown_timeout_ms.
//
// To do something while running (print the ports, handle more signals), use SignalWaiter:
//
//   craft::SignalWaiter signals({SIGINT, SIGTERM, SIGHUP});  // before server.start()
//   server.start();
//   while (signals.wait() == SIGHUP) { /* reload something */ }
//   server.stop();
//   server.wait();
#pragma once
#include <craft/server.hpp>

#include <chrono>
#include <csignal>
#include <initializer_list>

namespace craft {

// Blocks the given signals in the calling thread, so the threads it starts afterwards (the
// server's shards inherit the mask) never take them and wait() is where they arrive. Also
// ignores SIGPIPE (a peer closing mid-write is an error code, not a process exit).
// Construct it on the main thread before Server::start() and before any other thread is
// started. The signals stay blocked after it is gone, so a second Ctrl-C during the
// graceful stop cannot end the process half-way (it is simply never taken).
class SignalWaiter {
 public:
  explicit SignalWaiter(std::initializer_list<int> signals = {SIGINT, SIGTERM});
  SignalWaiter(const SignalWaiter&) = delete;
  SignalWaiter& operator=(const SignalWaiter&) = delete;

  // Blocks until one of the signals is delivered to the process; returns its number.
  int wait();
  // As wait(), but gives up after `timeout`: 0 then.
  int wait_for(std::chrono::milliseconds timeout);

 private:
  sigset_t signals_;
};

// Blocks SIGINT, SIGTERM and SIGHUP (see SignalWaiter), starts `server`, logs the ports, and
// waits: SIGHUP reloads the TLS certificate and key (Server::reload_tls) and waits again;
// SIGINT or SIGTERM then stop() and wait(). Returns the signal number. Throws what
// Server::start() throws (e.g. "cannot listen on 127.0.0.1:7777: Address already in use").
// Call from the main thread, with the server not yet started.
// With server.drain_on_sigterm, SIGTERM drains first (see drain_then_stop).
int run_until_signal(Server& server);

// A graceful drain, then stop() (docs/cluster.md "Draining a node"): Server::drain(), then
// waits until no room is left, server.drain_timeout_ms has passed, or another SIGINT/SIGTERM
// arrives on `signals` (stop now); then stop(), which closes the clients left with 1012.
// Does not wait(). Returns true if the rooms ended before the deadline.
bool drain_then_stop(Server& server, SignalWaiter& signals);

}  // namespace craft
