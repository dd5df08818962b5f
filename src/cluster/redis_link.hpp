// One connection to Redis through hiredis' async API, driven by Asio: the hiredis adapter
// hooks (addRead/delRead/addWrite/delWrite/cleanup) become async_wait calls on a
// posix::stream_descriptor over hiredis' socket, so the link runs on whatever thread runs
// its io_context (the cluster's own thread: no shard ever waits for Redis).
//
// Threads: every member function, and every callback, runs on the io_context's one thread.
// Errors: a command that cannot be sent (not connected, over max_pending) or whose
// connection drops before the reply gets a Reply of type `error`; nothing throws into Asio.
// Reconnects with backoff (100 ms doubling to 2 s) until close().
#pragma once
#include "cluster/redis_url.hpp"

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

struct redisAsyncContext;

namespace craft::cluster {

// A Redis reply, copied out of hiredis' reply tree (two levels: enough for every command the
// cluster sends; deeper elements come out as `error`).
struct Reply {
  enum class Type : uint8_t { nil, status, error, integer, string, array };
  Type type = Type::nil;
  std::string text;   // status, error, string
  long long integer = 0;
  std::vector<Reply> elements;
  bool ok() const { return type != Type::error; }
};

// Counters a link keeps for /metrics; read from any thread.
struct RedisCounters {
  std::atomic<uint64_t> commands{0};   // commands handed to hiredis
  std::atomic<uint64_t> refused{0};    // commands refused: not connected or over max_pending
  std::atomic<uint64_t> reconnects{0}; // connections made after the first
  std::atomic<uint64_t> pending{0};    // commands waiting for their reply, all links
};

class RedisLink {
 public:
  using Callback = std::function<void(const Reply&)>;
  // `max_pending`: commands sent and not yet answered on this link (cluster.max_pending_commands).
  RedisLink(asio::io_context& io, RedisAddress address, uint32_t max_pending, RedisCounters& counters,
            std::string name);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  // Called after each successful connect (AUTH/SELECT are already queued ahead of anything
  // sent from here), and after each lost connection.
  std::function<void()> on_connected;
  std::function<void()> on_disconnected;
  // Subscribe mode: after each connect the link SUBSCRIBEs `channels` and hands every message
  // to `on_message` with its channel (a subscribed connection takes no other commands).
  using MessageCallback = std::function<void(const std::string& channel, const std::string& message)>;
  void subscribe(std::vector<std::string> channels, MessageCallback on_message);

  void start();
  bool connected() const { return connected_; }
  // Sends `args` as one command; `done` (may be empty) gets the reply, later, always once.
  void command(std::vector<std::string> args, Callback done = {});
  // Lets replies of sent commands arrive, then disconnects (no reconnect).
  void close_gracefully();
  // Drops the connection now (pending callbacks get an error), no reconnect.
  void close();

 private:
  struct Watch;
  static void on_connect_cb(const redisAsyncContext* ac, int status);
  static void on_disconnect_cb(const redisAsyncContext* ac, int status);
  static void on_reply_cb(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_message_cb(redisAsyncContext* ac, void* reply, void* privdata);
  void connect();
  void lost(const char* why);
  void schedule_reconnect();
  void release_watch();
  void send_raw(const std::vector<std::string>& args, void (*fn)(redisAsyncContext*, void*, void*), void* privdata);

  asio::io_context& io_;
  RedisAddress address_;
  uint32_t max_pending_;
  RedisCounters& counters_;
  std::string name_;
  asio::steady_timer retry_timer_;
  asio::steady_timer connect_timer_;
  redisAsyncContext* ac_ = nullptr;
  std::shared_ptr<Watch> watch_;
  bool connected_ = false;
  bool closing_ = false;
  bool ever_connected_ = false;
  uint32_t pending_ = 0;
  std::chrono::milliseconds backoff_{100};
  std::vector<std::string> channels_;
  MessageCallback on_message_;
};

}  // namespace craft::cluster
