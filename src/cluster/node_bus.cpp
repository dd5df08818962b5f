// NodeRegistry's bus (node_registry.hpp): commands for other cluster parts, node-to-node
// messages and requests over Redis pub/sub, and the registration / node-death hooks.
#include "cluster/node_registry.hpp"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace craft::cluster {

namespace {

std::string node_channel(const std::string& id) { return "craft:to:" + id; }
constexpr const char* all_channel = "craft:all";

// A handler's exception must not unwind into Asio or another handler: it is logged and the
// message counts as handled.
template <class F>
void guarded(const char* what, const std::string& kind, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    spdlog::error("cluster: {} handler for '{}' threw: {}", what, kind, e.what());
  }
}

}  // namespace

void NodeRegistry::post(std::function<void()> fn) { asio::post(io_, std::move(fn)); }

void NodeRegistry::post_after(std::chrono::milliseconds delay, std::function<void()> fn) {
  asio::post(io_, [this, delay, fn = std::move(fn)]() mutable {
    // The handler keeps its timer alive; a stopped io_context destroys both without a call.
    auto timer = std::make_shared<asio::steady_timer>(io_, delay);
    timer->async_wait([timer, fn = std::move(fn)](std::error_code ec) {
      if (!ec) fn();
    });
  });
}

void NodeRegistry::command(std::vector<std::string> args, RedisLink::Callback done) {
  asio::post(io_, [this, args = std::move(args), done = std::move(done)]() mutable {
    commands_->command(std::move(args), std::move(done));
  });
}

bool NodeRegistry::is_alive(const std::string& node_id) const {
  std::lock_guard lock(nodes_mutex_);
  return std::any_of(nodes_.begin(), nodes_.end(), [&](const NodeRecord& n) { return n.id == node_id; });
}

std::optional<NodeRecord> NodeRegistry::node(const std::string& node_id) const {
  std::lock_guard lock(nodes_mutex_);
  for (const auto& n : nodes_) {
    if (n.id == node_id) return n;
  }
  return std::nullopt;
}

// Cluster thread.
void NodeRegistry::publish(const std::string& channel, const BusMessage& m, RedisLink::Callback done) {
  std::string text = encode_bus_message(m);
  if (text.size() > options_.max_message_bytes) {
    bus_.dropped.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("cluster: bus message '{}' of {} bytes is over cluster.max_message_bytes: not sent", m.kind,
                 text.size());
    return;
  }
  bus_.sent.fetch_add(1, std::memory_order_relaxed);
  commands_->command({"PUBLISH", channel, std::move(text)}, std::move(done));
}

void NodeRegistry::send_to(const std::string& node_id, std::string_view kind, std::string payload) {
  BusMessage m{BusMessage::Type::message, std::string(kind), options_.node_id, 0, std::move(payload)};
  asio::post(io_, [this, channel = node_channel(node_id), m = std::move(m)] { publish(channel, m); });
}

void NodeRegistry::broadcast(std::string_view kind, std::string payload) {
  BusMessage m{BusMessage::Type::message, std::string(kind), options_.node_id, 0, std::move(payload)};
  asio::post(io_, [this, m = std::move(m)] { publish(all_channel, m); });
}

void NodeRegistry::fail_request(PendingRequest& p) {
  p.timer.cancel();
  bus_.timed_out.fetch_add(1, std::memory_order_relaxed);
  auto done = std::move(p.done);
  if (done) guarded("request", "timeout", [&] { done(std::nullopt); });
}

void NodeRegistry::request(const std::string& node_id, std::string_view kind, std::string payload,
                           std::chrono::milliseconds timeout,
                           std::function<void(std::optional<std::string>)> done) {
  asio::post(io_, [this, node_id, kind = std::string(kind), payload = std::move(payload), timeout,
                   done = std::move(done)]() mutable {
    auto p = std::make_unique<PendingRequest>(io_, node_id, kind, std::move(done));
    if (!commands_->connected() || !is_alive(node_id) ||
        pending_.size() >= options_.max_pending_requests) {
      return fail_request(*p);
    }
    uint64_t id = next_request_++;
    p->timer.expires_after(timeout);
    p->timer.async_wait([this, id](std::error_code ec) {
      if (ec) return;
      auto it = pending_.find(id);
      if (it == pending_.end()) return;
      auto expired = std::move(it->second);
      pending_.erase(it);
      bus_.pending.store(pending_.size(), std::memory_order_relaxed);
      fail_request(*expired);
    });
    pending_.emplace(id, std::move(p));
    bus_.pending.store(pending_.size(), std::memory_order_relaxed);
    // PUBLISH answers how many subscribers got the message. None: the node's process is gone
    // (Redis drops a dead process's connections at once, long before its key expires), so no
    // answer can come; the caller hears it now rather than at the timeout.
    publish(node_channel(node_id), BusMessage{BusMessage::Type::request, kind, options_.node_id, id, std::move(payload)},
            [this, id](const Reply& r) {
              if (r.type != Reply::Type::integer || r.integer != 0) return;
              auto it = pending_.find(id);
              if (it == pending_.end()) return;
              auto unheard = std::move(it->second);
              pending_.erase(it);
              bus_.pending.store(pending_.size(), std::memory_order_relaxed);
              bus_.unheard.fetch_add(1, std::memory_order_relaxed);
              fail_request(*unheard);
            });
  });
}

void NodeRegistry::on_message(std::string kind, MessageHandler handler) {
  std::lock_guard lock(handlers_mutex_);
  message_handlers_[std::move(kind)] = std::move(handler);
}

void NodeRegistry::on_request(std::string kind, RequestHandler handler) {
  std::lock_guard lock(handlers_mutex_);
  request_handlers_[std::move(kind)] = std::move(handler);
}

void NodeRegistry::on_registered(std::function<void()> hook) {
  {
    std::lock_guard lock(handlers_mutex_);
    registered_hooks_.push_back(hook);
  }
  // A part that starts after the node registered must still publish what it owns.
  asio::post(io_, [this, hook = std::move(hook)] {
    if (is_registered_) guarded("registered", "hook", hook);
  });
}

void NodeRegistry::on_node_dead(std::function<void(const std::string&)> hook) {
  std::lock_guard lock(handlers_mutex_);
  dead_hooks_.push_back(std::move(hook));
}

void NodeRegistry::registered() {
  is_registered_ = true;
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard lock(handlers_mutex_);
    hooks = registered_hooks_;
  }
  for (auto& h : hooks) guarded("registered", "hook", h);
}

void NodeRegistry::nodes_changed(std::vector<NodeRecord> alive) {
  std::vector<std::string> gone;
  {
    std::lock_guard lock(nodes_mutex_);
    for (const auto& old : nodes_) {
      bool still = std::any_of(alive.begin(), alive.end(), [&](const NodeRecord& n) { return n.id == old.id; });
      if (!still && old.id != options_.node_id) gone.push_back(old.id);
    }
    nodes_ = std::move(alive);
  }
  if (gone.empty()) return;
  std::vector<std::function<void(const std::string&)>> hooks;
  {
    std::lock_guard lock(handlers_mutex_);
    hooks = dead_hooks_;
  }
  for (const auto& id : gone) {
    spdlog::info("cluster: node {} is gone", id);
    for (auto& h : hooks) guarded("node_dead", "hook", [&] { h(id); });
  }
}

// Cluster thread: one message off the subscription.
void NodeRegistry::on_bus(const std::string& channel, const std::string& text) {
  auto m = decode_bus_message(text, options_.max_message_bytes);
  if (!m) {
    bus_.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  bus_.received.fetch_add(1, std::memory_order_relaxed);
  switch (m->type) {
    case BusMessage::Type::message: {
      MessageHandler h;
      {
        std::lock_guard lock(handlers_mutex_);
        if (auto it = message_handlers_.find(m->kind); it != message_handlers_.end()) h = it->second;
      }
      if (!h) {
        bus_.dropped.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      guarded("message", m->kind, [&] { h(m->from, m->payload); });
      return;
    }
    case BusMessage::Type::request: {
      RequestHandler h;
      {
        std::lock_guard lock(handlers_mutex_);
        if (auto it = request_handlers_.find(m->kind); it != request_handlers_.end()) h = it->second;
      }
      if (!h) {
        // Nobody answers: the requester's timeout does. Answering "unknown" would need a
        // reply format every kind shares.
        bus_.dropped.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      auto answered = std::make_shared<std::atomic<bool>>(false);
      Respond respond = [this, answered, to = m->from, kind = m->kind, id = m->id](std::string payload) {
        if (answered->exchange(true)) return;
        BusMessage r{BusMessage::Type::response, kind, options_.node_id, id, std::move(payload)};
        asio::post(io_, [this, channel = node_channel(to), r = std::move(r)] { publish(channel, r); });
      };
      guarded("request", m->kind, [&] { h(m->from, m->payload, respond); });
      return;
    }
    case BusMessage::Type::response: {
      // Responses only come to craft:to:<self>, from the node asked; anything else is late
      // (timed out already) or not an answer to us.
      auto it = pending_.find(m->id);
      if (channel == all_channel || it == pending_.end() || it->second->node != m->from ||
          it->second->kind != m->kind) {
        bus_.dropped.fetch_add(1, std::memory_order_relaxed);  // late (timed out) or forged
        return;
      }
      auto p = std::move(it->second);
      pending_.erase(it);
      bus_.pending.store(pending_.size(), std::memory_order_relaxed);
      p->timer.cancel();
      auto done = std::move(p->done);
      if (done) guarded("response", m->kind, [&] { done(std::move(m->payload)); });
      return;
    }
  }
}

}  // namespace craft::cluster
