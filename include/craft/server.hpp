// Embedding craft: build a Server from a config, define room types, start it.
//
//   craft::Server server(config);
//   server.define_room<MyRoom>("my_room");
//   server.start();
//   server.wait();      // until stop() or a signal handler calls stop()
#pragma once
#include <craft/clock.hpp>
#include <craft/config.hpp>
#include <craft/matchmaking.hpp>
#include <craft/room.hpp>

#include <memory>
#include <string>

namespace craft {

namespace detail {
class ServerCore;
}

class Server {
 public:
  // `clock` must outlive the server; the default is the steady clock. Throws
  // std::runtime_error naming the file when config.tls names a missing or bad file, and
  // std::invalid_argument for a bad server.trusted_proxies / server.metrics_allow entry.
  // Raises the process's soft open-file limit to its hard limit (every connection is a
  // descriptor) and lowers limits.max_connections to fit what it gets.
  explicit Server(ServerConfig config, const Clock* clock = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // `options`: filter keys for join_or_create and who may write properties (room.hpp).
  void define_room(std::string type, RoomFactory factory, RoomTypeOptions options = {});
  template <class R>
  void define_room(std::string type, RoomTypeOptions options = {}) {
    define_room(std::move(type), [] { return std::make_unique<R>(); }, std::move(options));
  }

  // Game code's say over matches (craft/matchmaking.hpp). Call before start(). Runs on
  // shard 0's thread during each matcher run (every matchmaker.interval_ms), once per group
  // the matcher is about to make, with the ticket pool locked: keep it quick, never block,
  // never call back into the server. A throw refuses that group, is logged and counts in
  // craft_room_errors_total; the server carries on.
  void set_match_filter(MatchFilter filter);

  // Binds the listeners and starts one thread per shard. Throws if a port is taken.
  void start();
  // Graceful: stop accepting, send close code 1001 to every client, dispose rooms,
  // stop the loops within shutdown_timeout_ms. Safe to call from any thread, more than once.
  void stop();
  // Blocks until the server has stopped.
  void wait();
  // Begins a graceful drain (docs/cluster.md "Draining a node"; craftd does it on SIGTERM
  // with server.drain_on_sigterm): from now on room_create, room_join, room_join_or_create
  // and matchmaker_add are refused with SERVER_SHUTTING_DOWN, and in a cluster the node's
  // record says `draining`; rooms already running carry on, and players in them may resume.
  // stop() after a drain closes clients with 1012 (service restart: reconnect) instead of
  // 1001. Any thread, any time after start(); idempotent.
  void drain();
  bool draining() const;
  // Rooms alive now, on every shard (a drain is done when this is 0). Any thread.
  size_t room_count() const;

  uint16_t http_port() const;  // the bound port, useful when configured as 0
  uint16_t tcp_port() const;
  const ServerConfig& config() const;
  // Prometheus text format; also served at GET /metrics.
  std::string metrics_text() const;
  // Reads config().tls.cert_file and key_file again (e.g. after a certificate renewal;
  // craftd calls it on SIGHUP). Handshakes that start afterwards use the new certificate;
  // open connections keep theirs and are not interrupted. Any thread, any time after
  // construction. Returns false and logs why, keeping the current certificate, when a file
  // is missing, unreadable, not PEM, or the key does not match; false too when TLS is off.
  bool reload_tls();

 private:
  std::unique_ptr<detail::ServerCore> core_;
};

}  // namespace craft
