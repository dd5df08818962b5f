#include "cluster/redis_link.hpp"

#include <asio/post.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

namespace craft::cluster {

// The adapter: hiredis asks for read/write readiness through these hooks; one async_wait
// per direction is outstanding at most. `ac` turns null when hiredis frees the context
// (cleanup hook), after which a completing wait does nothing: the handlers hold the Watch,
// never the context.
struct RedisLink::Watch : std::enable_shared_from_this<Watch> {
  Watch(asio::io_context& io, int fd, redisAsyncContext* context) : sd(io, fd), ac(context) {}
  asio::posix::stream_descriptor sd;
  redisAsyncContext* ac;
  bool want_read = false;
  bool want_write = false;
  bool read_armed = false;
  bool write_armed = false;

  void arm_read() {
    if (read_armed || !ac || !want_read) return;
    read_armed = true;
    sd.async_wait(asio::posix::stream_descriptor::wait_read, [self = shared_from_this()](std::error_code ec) {
      self->read_armed = false;
      if (ec || !self->ac || !self->want_read) return;
      redisAsyncHandleRead(self->ac);  // may free the context (cleanup: ac = null)
      self->arm_read();
    });
  }
  void arm_write() {
    if (write_armed || !ac || !want_write) return;
    write_armed = true;
    sd.async_wait(asio::posix::stream_descriptor::wait_write, [self = shared_from_this()](std::error_code ec) {
      self->write_armed = false;
      if (ec || !self->ac || !self->want_write) return;
      redisAsyncHandleWrite(self->ac);
      self->arm_write();
    });
  }
  static Watch& of(void* p) { return *static_cast<Watch*>(p); }
  static void add_read(void* p) {
    of(p).want_read = true;
    of(p).arm_read();
  }
  static void del_read(void* p) { of(p).want_read = false; }
  static void add_write(void* p) {
    of(p).want_write = true;
    of(p).arm_write();
  }
  static void del_write(void* p) { of(p).want_write = false; }
  static void cleanup(void* p) {
    auto& w = of(p);
    w.ac = nullptr;
    w.want_read = w.want_write = false;
    // hiredis closes the socket itself; release() hands the fd back without closing it and
    // completes the outstanding waits with operation_aborted.
    std::error_code ec;
    w.sd.cancel(ec);
    (void)w.sd.release();
  }
};

namespace {

Reply copy_reply(const redisReply* r, int depth) {
  Reply out;
  if (!r) {
    out.type = Reply::Type::error;
    out.text = "connection lost";
    return out;
  }
  switch (r->type) {
    case REDIS_REPLY_STRING: out.type = Reply::Type::string; out.text.assign(r->str, r->len); break;
    case REDIS_REPLY_STATUS: out.type = Reply::Type::status; out.text.assign(r->str, r->len); break;
    case REDIS_REPLY_ERROR: out.type = Reply::Type::error; out.text.assign(r->str, r->len); break;
    case REDIS_REPLY_INTEGER: out.type = Reply::Type::integer; out.integer = r->integer; break;
    case REDIS_REPLY_NIL: out.type = Reply::Type::nil; break;
    case REDIS_REPLY_ARRAY:
      if (depth >= 2) {
        out.type = Reply::Type::error;
        out.text = "reply nested too deep";
        break;
      }
      out.type = Reply::Type::array;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy_reply(r->element[i], depth + 1));
      break;
    default: out.type = Reply::Type::error; out.text = "unknown reply type"; break;
  }
  return out;
}

Reply error_reply(std::string why) {
  Reply r;
  r.type = Reply::Type::error;
  r.text = std::move(why);
  return r;
}

struct PendingCommand {
  RedisLink* link;
  RedisLink::Callback done;
};

}  // namespace

RedisLink::RedisLink(asio::io_context& io, RedisAddress address, uint32_t max_pending, RedisCounters& counters,
                     std::string name)
    : io_(io),
      address_(std::move(address)),
      max_pending_(max_pending),
      counters_(counters),
      name_(std::move(name)),
      retry_timer_(io),
      connect_timer_(io) {}

RedisLink::~RedisLink() {
  // Callbacks of commands still waiting run (with an error) inside redisAsyncFree; the
  // owner is being torn down, so they must not reach it.
  closing_ = true;
  on_connected = nullptr;
  on_disconnected = nullptr;
  on_message_ = nullptr;
  if (ac_) {
    auto* ac = ac_;
    ac_ = nullptr;
    ac->onDisconnect = nullptr;
    redisAsyncFree(ac);
  }
}

void RedisLink::subscribe(std::vector<std::string> channels, MessageCallback on_message) {
  channels_ = std::move(channels);
  on_message_ = std::move(on_message);
}

void RedisLink::start() { connect(); }

void RedisLink::connect() {
  if (closing_ || ac_) return;
  redisAsyncContext* ac = redisAsyncConnect(address_.host.c_str(), address_.port);
  if (!ac) {
    spdlog::warn("cluster: redis {}: out of memory connecting", name_);
    schedule_reconnect();
    return;
  }
  if (ac->err) {
    spdlog::debug("cluster: redis {}: cannot connect to {}:{}: {}", name_, address_.host, address_.port, ac->errstr);
    redisAsyncFree(ac);
    schedule_reconnect();
    return;
  }
  ac_ = ac;
  ac->data = this;
  watch_ = std::make_shared<Watch>(io_, ac->c.fd, ac);
  ac->ev.data = watch_.get();
  ac->ev.addRead = &Watch::add_read;
  ac->ev.delRead = &Watch::del_read;
  ac->ev.addWrite = &Watch::add_write;
  ac->ev.delWrite = &Watch::del_write;
  ac->ev.cleanup = &Watch::cleanup;
  redisAsyncSetDisconnectCallback(ac, &RedisLink::on_disconnect_cb);
  redisAsyncSetConnectCallback(ac, &RedisLink::on_connect_cb);  // adds the write wait that sees the connect
  // A connect that hangs (a remote host that drops SYNs) is given up after 2 s.
  connect_timer_.expires_after(std::chrono::seconds(2));
  connect_timer_.async_wait([this](std::error_code ec) {
    if (ec || connected_ || !ac_) return;
    auto* stuck = ac_;
    ac_ = nullptr;
    stuck->onDisconnect = nullptr;
    redisAsyncFree(stuck);
    lost("connect timed out");
  });
  // Queued ahead of everything: hiredis writes them first once the socket connects.
  if (!address_.password.empty()) send_raw({"AUTH", address_.password}, nullptr, nullptr);
  if (address_.database != 0) send_raw({"SELECT", std::to_string(address_.database)}, nullptr, nullptr);
}

void RedisLink::on_connect_cb(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisLink*>(ac->data);
  if (!self) return;
  if (status != REDIS_OK) {
    // hiredis frees the context when this returns; no disconnect callback follows.
    spdlog::debug("cluster: redis {}: connect failed: {}", self->name_, ac->errstr ? ac->errstr : "?");
    self->ac_ = nullptr;
    self->lost("connect failed");
    return;
  }
  self->connect_timer_.cancel();
  self->connected_ = true;
  self->backoff_ = std::chrono::milliseconds(100);
  if (self->ever_connected_) self->counters_.reconnects.fetch_add(1, std::memory_order_relaxed);
  self->ever_connected_ = true;
  spdlog::info("cluster: redis {}: connected to {}:{}", self->name_, self->address_.host, self->address_.port);
  if (!self->channels_.empty()) {
    std::vector<std::string> args{"SUBSCRIBE"};
    args.insert(args.end(), self->channels_.begin(), self->channels_.end());
    self->send_raw(args, &RedisLink::on_message_cb, self);
  }
  if (self->on_connected) self->on_connected();
}

void RedisLink::on_disconnect_cb(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisLink*>(ac->data);
  if (!self) return;
  self->ac_ = nullptr;  // freed by hiredis when this returns
  self->lost(status == REDIS_OK ? "closed" : (ac->errstr ? ac->errstr : "connection lost"));
}

void RedisLink::lost(const char* why) {
  bool was_connected = connected_;
  connected_ = false;
  release_watch();
  connect_timer_.cancel();
  if (was_connected) {
    spdlog::warn("cluster: redis {}: disconnected from {}:{} ({})", name_, address_.host, address_.port, why);
    if (on_disconnected) on_disconnected();
  }
  schedule_reconnect();
}

void RedisLink::schedule_reconnect() {
  if (closing_) return;
  retry_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(2000));
  retry_timer_.async_wait([this](std::error_code ec) {
    if (!ec) connect();
  });
}

void RedisLink::send_raw(const std::vector<std::string>& args, void (*fn)(redisAsyncContext*, void*, void*),
                         void* privdata) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAsyncCommandArgv(ac_, fn, privdata, static_cast<int>(args.size()), argv.data(), lens.data());
}

void RedisLink::command(std::vector<std::string> args, Callback done) {
  auto refuse = [&](const char* why) {
    counters_.refused.fetch_add(1, std::memory_order_relaxed);
    if (done) asio::post(io_, [done = std::move(done), why] { done(error_reply(why)); });
  };
  if (!ac_ || !connected_) return refuse("not connected to redis");
  if (pending_ >= max_pending_) return refuse("over cluster.max_pending_commands");
  auto* p = new PendingCommand{this, std::move(done)};
  ++pending_;
  counters_.pending.fetch_add(1, std::memory_order_relaxed);
  counters_.commands.fetch_add(1, std::memory_order_relaxed);
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  if (redisAsyncCommandArgv(ac_, &RedisLink::on_reply_cb, p, static_cast<int>(args.size()), argv.data(),
                            lens.data()) != REDIS_OK) {
    // Not queued (the context is disconnecting): hiredis will not call back.
    --pending_;
    counters_.pending.fetch_sub(1, std::memory_order_relaxed);
    auto cb = std::move(p->done);
    delete p;
    counters_.refused.fetch_add(1, std::memory_order_relaxed);
    if (cb) asio::post(io_, [cb = std::move(cb)] { cb(error_reply("redis connection closing")); });
  }
}

void RedisLink::on_reply_cb(redisAsyncContext*, void* reply, void* privdata) {
  std::unique_ptr<PendingCommand> p(static_cast<PendingCommand*>(privdata));
  auto* self = p->link;
  --self->pending_;
  self->counters_.pending.fetch_sub(1, std::memory_order_relaxed);
  if (!p->done || self->closing_) return;
  try {
    p->done(copy_reply(static_cast<redisReply*>(reply), 0));
  } catch (const std::exception& e) {
    spdlog::error("cluster: redis {}: reply handler threw: {}", self->name_, e.what());
  }
}

void RedisLink::on_message_cb(redisAsyncContext*, void* reply, void* privdata) {
  auto* self = static_cast<RedisLink*>(privdata);
  auto* r = static_cast<redisReply*>(reply);
  // ["message", channel, payload]; the ["subscribe", channel, count] confirmation is skipped.
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 || !self->on_message_) return;
  auto* kind = r->element[0];
  auto* channel = r->element[1];
  auto* payload = r->element[2];
  if (kind->type != REDIS_REPLY_STRING || std::string_view(kind->str, kind->len) != "message") return;
  if (channel->type != REDIS_REPLY_STRING || payload->type != REDIS_REPLY_STRING) return;
  try {
    self->on_message_(std::string(channel->str, channel->len), std::string(payload->str, payload->len));
  } catch (const std::exception& e) {
    spdlog::error("cluster: redis {}: message handler threw: {}", self->name_, e.what());
  }
}

void RedisLink::close_gracefully() {
  closing_ = true;
  retry_timer_.cancel();
  connect_timer_.cancel();
  if (ac_ && connected_) {
    redisAsyncDisconnect(ac_);  // frees the context once every reply is in
  } else if (ac_) {
    close();
  }
}

void RedisLink::close() {
  closing_ = true;
  retry_timer_.cancel();
  connect_timer_.cancel();
  if (ac_) {
    auto* ac = ac_;
    ac_ = nullptr;
    ac->onDisconnect = nullptr;
    redisAsyncFree(ac);
  }
  connected_ = false;
  release_watch();
}

void RedisLink::release_watch() {
  // hiredis may still call the cleanup hook after the callback we are in returns: the Watch
  // lives until this turn of the loop is over.
  if (watch_) asio::post(io_, [w = std::move(watch_)] {});
}

}  // namespace craft::cluster
