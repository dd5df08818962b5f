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
  };
  commands_->on_disconnected = [this] { connected_.store(false, std::memory_order_relaxed); };
  events_->subscribe(nodes_channel, [this](const std::string& message) {
    // "join <id>" / "leave <id>": whoever it is, the list is read again; the message itself is
    // not trusted for anything else.
    if (message.rfind("join ", 0) == 0 || message.rfind("leave ", 0) == 0) refresh();
  });
  events_->on_connected = [this] { refresh(); };
  to_me_ = std::make_unique<RedisLink>(io_, options_.redis, options_.max_pending_commands, counters_, "to");
  to_all_ = std::make_unique<RedisLink>(io_, options_.redis, options_.max_pending_commands, counters_, "all");
  to_me_->subscribe("craft:to:" + options_.node_id, [this](const std::string& m) { dispatch(m); });
  to_all_->subscribe("craft:all", [this](const std::string& m) { dispatch(m); });
}

void NodeRegistry::send_to(const std::string& node_id, std::string_view kind, std::string payload) {
  asio::post(io_, [this, ch = "craft:to:" + node_id, m = std::string(kind) + "\t" + options_.node_id + "\t" + payload] {
    commands_->command({"PUBLISH", ch, m});
  });
}

void NodeRegistry::broadcast(std::string_view kind, std::string payload) {
  asio::post(io_, [this, m = std::string(kind) + "\t" + options_.node_id + "\t" + payload] {
    commands_->command({"PUBLISH", "craft:all", m});
  });
}

void NodeRegistry::on_message(std::string kind,
                              std::function<void(const std::string& from, const std::string& payload)> fn) {
  handlers_[std::move(kind)] = std::move(fn);
}

void NodeRegistry::on_node_dead(std::function<void(const std::string& id)> fn) { dead_handlers_.push_back(std::move(fn)); }

bool NodeRegistry::is_alive(const std::string& node_id) const {
  std::lock_guard lock(nodes_mutex_);
  return std::any_of(nodes_.begin(), nodes_.end(), [&](const NodeRecord& n) { return n.id == node_id; });
}

void NodeRegistry::dispatch(const std::string& message) {
  auto a = message.find('\t');
  if (a == std::string::npos || a > 32) return;
  auto b = message.find('\t', a + 1);
  if (b == std::string::npos) return;
  auto it = handlers_.find(message.substr(0, a));
  if (it == handlers_.end()) return;
  it->second(message.substr(a + 1, b - a - 1), message.substr(b + 1));
}

NodeRegistry::~NodeRegistry() { stop(); }

void NodeRegistry::start() {
  if (thread_.joinable()) return;
  spdlog::info("cluster: node {} ({}) joining through redis {}:{}", options_.node_id, options_.advertise,
               options_.redis.host, options_.redis.port);
  asio::post(io_, [this] {
    commands_->start();
    events_->start();
    to_me_->start();
    to_all_->start();
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
    to_me_->close();
    to_all_->close();
    auto finish = [this] {
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
    self.draining = load.draining;
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
    std::lock_guard lock(nodes_mutex_);
    nodes_.clear();
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
    std::vector<std::string> dead;
    {
      std::lock_guard lock(nodes_mutex_);
      for (auto& old : nodes_) {
        if (std::none_of(alive.begin(), alive.end(), [&](const NodeRecord& n) { return n.id == old.id; })) dead.push_back(old.id);
      }
      nodes_ = std::move(alive);
    }
    for (auto& id : dead) {
      for (auto& fn : dead_handlers_) fn(id);
    }
    done();
  });
}

}  // namespace craft::cluster
