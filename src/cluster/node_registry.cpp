#include "cluster/node_registry.hpp"

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

namespace craft::cluster {

namespace {

constexpr const char* nodes_key = "craft:nodes";
constexpr const char* nodes_channel = "craft:nodes";
std::string node_key(const std::string& id) { return "craft:node:" + id; }

}  // namespace

std::string generate_node_id() {
  std::random_device rd;
  static constexpr char hex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 4; ++i) {
    uint32_t v = rd();
    for (int j = 0; j < 4; ++j) id += hex[(v >> (j * 4)) & 0xf];
  }
  return id;
}

NodeRegistry::NodeRegistry(RegistryOptions options, std::function<NodeLoad()> load)
    : options_(std::move(options)),
      load_(std::move(load)),
      work_(asio::make_work_guard(io_)),
      heartbeat_timer_(io_),
      stop_deadline_(io_) {
  commands_ = std::make_unique<RedisLink>(io_, options_.redis, options_.max_pending_commands, counters_, "commands");
  events_ = std::make_unique<RedisLink>(io_, options_.redis, options_.max_pending_commands, counters_, "events");
  commands_->on_connected = [this] {
    connected_.store(true, std::memory_order_relaxed);
    // A new connection may be to a Redis that restarted empty: register again at once and
    // tell the others, so nothing waits a heartbeat.
    beat();
    commands_->command({"PUBLISH", nodes_channel, "join " + options_.node_id});
    registered();
  };
  commands_->on_disconnected = [this] {
    connected_.store(false, std::memory_order_relaxed);
    is_registered_ = false;
  };
  events_->subscribe({nodes_channel, "craft:to:" + options_.node_id, "craft:all"},
                     [this](const std::string& channel, const std::string& message) {
                       if (channel != nodes_channel) return on_bus(channel, message);
                       // "join <id>" / "leave <id>": whoever it is, the list is read again; the
                       // message itself is not trusted for anything else.
                       if (message.rfind("join ", 0) == 0 || message.rfind("leave ", 0) == 0) refresh();
                     });
  events_->on_connected = [this] { refresh(); };
}

NodeRegistry::~NodeRegistry() { stop(); }

void NodeRegistry::start() {
  if (thread_.joinable()) return;
  spdlog::info("cluster: node {} ({}) joining through redis {}:{}", options_.node_id, options_.advertise,
               options_.redis.host, options_.redis.port);
  asio::post(io_, [this] {
    commands_->start();
    events_->start();
    arm_heartbeat();
  });
  thread_ = std::thread([this] {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("cluster: registry handler threw: {}", e.what());
      }
    }
  });
}

void NodeRegistry::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    heartbeat_timer_.cancel();
    events_->close();
    auto finish = [this] {
      // Requests still waiting are answered now: their callers must hear once.
      auto pending = std::move(pending_);
      pending_.clear();
      bus_.pending.store(0, std::memory_order_relaxed);
      for (auto& [id, p] : pending) fail_request(*p);
      commands_->close();
      stop_deadline_.cancel();
      work_.reset();
      io_.stop();
    };
    if (commands_->connected()) {
      commands_->command({"DEL", node_key(options_.node_id)});
      commands_->command({"SREM", nodes_key, options_.node_id});
      commands_->command({"PUBLISH", nodes_channel, "leave " + options_.node_id}, [finish](const Reply&) { finish(); });
      stop_deadline_.expires_after(std::chrono::seconds(1));
      stop_deadline_.async_wait([finish](std::error_code ec) {
        if (!ec) finish();
      });
    } else {
      finish();
    }
  });
  thread_.join();
}

std::vector<NodeRecord> NodeRegistry::nodes() const {
  std::lock_guard lock(nodes_mutex_);
  return nodes_;
}

void NodeRegistry::arm_heartbeat() {
  heartbeat_timer_.expires_after(options_.heartbeat);
  heartbeat_timer_.async_wait([this](std::error_code ec) {
    if (ec) return;
    beat();
    arm_heartbeat();
  });
}

void NodeRegistry::beat() {
  if (!commands_->connected()) return;
  NodeRecord self;
  self.id = options_.node_id;
  self.advertise = options_.advertise;
  self.started_ms = options_.started_ms;
  if (load_) {
    auto load = load_();
    self.rooms = load.rooms;
    self.connections = load.connections;
  }
  commands_->command({"SET", node_key(self.id), encode_node_record(self), "PX", std::to_string(options_.node_ttl.count())});
  // Every beat, not only the first: after a Redis restart without persistence the set is
  // empty again, and this puts the node back without any other signal.
  commands_->command({"SADD", nodes_key, self.id});
  refresh();
}

void NodeRegistry::refresh() {
  // One refresh at a time; a request during one runs once more after it (a join message
  // arriving mid-read must not be missed).
  if (refreshing_) {
    refresh_again_ = true;
    return;
  }
  if (!commands_->connected()) return;
  refreshing_ = true;
  commands_->command({"SMEMBERS", nodes_key}, [this](const Reply& reply) { on_members(reply); });
}

void NodeRegistry::on_members(const Reply& reply) {
  auto done = [this] {
    refreshing_ = false;
    if (refresh_again_) {
      refresh_again_ = false;
      refresh();
    }
  };
  if (reply.type != Reply::Type::array) return done();
  std::vector<std::string> ids;
  for (auto& e : reply.elements) {
    if (ids.size() >= options_.max_nodes) break;
    if (e.type == Reply::Type::string && valid_node_id(e.text)) ids.push_back(e.text);
  }
  if (ids.empty()) {
    nodes_changed({});
    return done();
  }
  std::vector<std::string> args{"MGET"};
  for (auto& id : ids) args.push_back(node_key(id));
  commands_->command(std::move(args), [this, ids, done](const Reply& values) {
    if (values.type != Reply::Type::array || values.elements.size() != ids.size()) return done();
    std::vector<NodeRecord> alive;
    for (size_t i = 0; i < ids.size(); ++i) {
      const auto& v = values.elements[i];
      if (v.type == Reply::Type::nil) {
        // The heartbeat key expired: the node is dead. Any node may tidy the set; a node
        // that was only slow puts itself back with its next beat (SADD every beat).
        commands_->command({"SREM", nodes_key, ids[i]});
        continue;
      }
      if (v.type != Reply::Type::string) continue;
      auto record = decode_node_record(v.text);
      if (record && record->id == ids[i]) alive.push_back(std::move(*record));
    }
    std::sort(alive.begin(), alive.end(), [](const NodeRecord& a, const NodeRecord& b) { return a.id < b.id; });
    nodes_changed(std::move(alive));
    done();
  });
}

}  // namespace craft::cluster
