#include "core/server_core.hpp"

#include "api/api_metrics.hpp"
#include "cluster/node_registry.hpp"
#include "core/memory_trim.hpp"
#include "core/metrics_text.hpp"
#include "core/session.hpp"
#include "net/http_request.hpp"
#include "net/static_files.hpp"
#include "presence/cluster_ticket_pool.hpp"

#include <craft/close_codes.hpp>
#include <craft/server.hpp>

#include <spdlog/spdlog.h>

#include <asio/ip/address.hpp>

#include <sys/resource.h>

#include <stdexcept>
#include <system_error>

namespace craft {
namespace detail {

namespace {
const SteadyClock& default_clock() {
  static const SteadyClock clock;
  return clock;
}

Connection::IpKey ip_key(const asio::ip::address& address) {
  if (address.is_v4()) return net::ipv4_key(address.to_v4().to_bytes().data());
  Connection::IpKey key{};
  auto b = address.to_v6().to_bytes();
  std::copy(b.begin(), b.end(), key.begin());
  return key;
}

}  // namespace

size_t ServerCore::IpHash::operator()(const Connection::IpKey& k) const {
  return std::hash<std::string_view>()(std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
}

ServerCore::ServerCore(ServerConfig config, const Clock& clock)
    : config_(std::move(config)), clock_(clock), world_(*this) {
  check_cluster_config();
  make_cluster_directory();
  if (std::string why; !trusted_proxies_.parse(config_.trusted_proxies, why)) {
    throw std::invalid_argument("server.trusted_proxies: " + why);
  }
  if (std::string why; !metrics_allow_.parse(config_.metrics_allow, why)) {
    throw std::invalid_argument("server.metrics_allow: " + why);
  }
  // Before anything listens: a missing or bad certificate stops the start, naming the file.
  if (config_.tls.enabled()) tls_ = std::make_unique<net::TlsContext>(config_.tls.cert_file, config_.tls.key_file);
  if (tls_ && config_.tcp_enabled && !trusted_proxies_.empty()) {
    spdlog::warn("tls is on: the TCP port reads no PROXY protocol header from server.trusted_proxies "
                 "(end TLS at the proxy and turn craftd's off to use it; docs/deploy.md)");
  }
  uint32_t n = config_.shards ? config_.shards : std::max(1u, std::thread::hardware_concurrency());
  rooms_by_shard_ = std::make_unique<ShardRooms[]>(n);
  sessions_by_shard_ = std::make_unique<ShardSessions[]>(n);
  auto deliver = [this](SessionId id, v1::Envelope e) { return post_to_session(id, std::move(e)); };
  parties_ = presence::make_local_party_store(config_.party, deliver,
                                              [this](const std::string& t) { tickets_->cancel(t, "party changed"); });
  tickets_ = presence::make_local_ticket_pool(
      config_.matchmaker, deliver, [this](const std::string& p, const std::string& t) { parties_->ticket_gone(p, t); });
  transport_limits_.shards = n;
  for (uint32_t i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>(i, clock_, transport_limits_, *this));
  // Past the descriptor limit accept() fails and clients hang in the backlog; stay below it
  // so a client over the limit is told 1013 instead.
  // Every connection is a descriptor: first take all the kernel allows (the soft limit up to
  // the hard one), so an embedded server gets what craftd gets.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  constexpr rlim_t reserve = 64;  // listeners, logs, database files, a rejected connection
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY && files.rlim_cur > reserve &&
      config_.limits.max_connections > files.rlim_cur - reserve) {
    config_.limits.max_connections = static_cast<uint32_t>(files.rlim_cur - reserve);
    spdlog::info("limits.max_connections lowered to {} to fit the open-file limit {}",
                 config_.limits.max_connections, files.rlim_cur);
  }
  if (config_.limits.max_connections_per_ip >= config_.limits.max_connections) {
    spdlog::warn("limits.max_connections_per_ip ({}) is not below limits.max_connections ({}): one address "
                 "can take every connection; lower it or raise the open-file limit",
                 config_.limits.max_connections_per_ip, config_.limits.max_connections);
  }
}

ServerCore::~ServerCore() {
  stop();
  wait();
}

void ServerCore::listen(std::optional<asio::ip::tcp::acceptor>& acceptor, uint16_t port, uint16_t& bound) {
  // asio says only "bind: Address already in use"; name what could not be had.
  try {
    asio::ip::tcp::endpoint endpoint(asio::ip::make_address(config_.listen_address), port);
    acceptor.emplace(shards_[0]->context());
    acceptor->open(endpoint.protocol());
    acceptor->set_option(asio::socket_base::reuse_address(true));
    acceptor->bind(endpoint);
    acceptor->listen(4096);
    bound = acceptor->local_endpoint().port();
  } catch (const std::system_error& e) {
    acceptor.reset();
    bool v6 = config_.listen_address.find(':') != std::string::npos;
    std::string where = v6 ? "[" + config_.listen_address + "]" : config_.listen_address;
    throw std::runtime_error("cannot listen on " + where + ":" + std::to_string(port) + ": " + e.code().message());
  }
}

void ServerCore::start() {
  {
    std::lock_guard lock(stop_mutex_);
    if (started_) return;
    started_ = true;
  }
  if (config_.store.backend != "none") {
    api_ = std::make_unique<api::ApiService>(config_, clock_);
    api_->on_revoked = [this](const api::Revocation& r) {
      end_sessions(r);
      publish_revocation(r);
    };
  }
  listen(http_acceptor_, config_.http_port, http_port_);
  if (config_.tcp_enabled) listen(tcp_acceptor_, config_.tcp_port, tcp_port_);
  accept_retry_.emplace(shards_[0]->context());
  accept_next(*http_acceptor_, Connection::Transport::http);
  if (tcp_acceptor_) accept_next(*tcp_acceptor_, Connection::Transport::tcp);
  matchmaker_timer_.emplace(shards_[0]->context());
  arm_matchmaker();
  memory_trim_timer_.emplace(shards_[0]->context());
  arm_memory_trim();
  start_cluster();  // after listen(): the advertised URL names the bound port
  for (auto& s : shards_) s->start();
}

Rejection ServerCore::admit(const Connection::IpKey& ip, Shard& shard, bool per_ip_later) {
  std::lock_guard lock(limits_mutex_);
  ++total_connections_;
  auto count = ++per_ip_[ip];
  (void)shard;
  if (per_ip_later || count <= config_.limits.max_connections_per_ip) {
    return total_connections_ > config_.limits.max_connections ? Rejection::max_connections : Rejection::none;
  }
  // Refusals wait for a request head or a TLS handshake; only a few per address may wait.
  if (count - config_.limits.max_connections_per_ip > config_.limits.max_refusals_per_ip) return Rejection::drop;
  return Rejection::max_connections_per_ip;
}

Rejection ServerCore::rebind_connection(const Connection::IpKey& proxy, const Connection::IpKey& client) {
  std::lock_guard lock(limits_mutex_);
  if (auto it = per_ip_.find(proxy); it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  auto count = ++per_ip_[client];
  // The proxy itself (a request without X-Forwarded-For: its health check) is not limited
  // per address: its connections are its clients' until their heads say otherwise.
  if (client == proxy || count <= config_.limits.max_connections_per_ip) return Rejection::none;
  // The same bound on waiting refusals as at accept (admit), for the address the proxy named.
  if (count - config_.limits.max_connections_per_ip > config_.limits.max_refusals_per_ip) return Rejection::drop;
  return Rejection::max_connections_per_ip;
}

void ServerCore::end_sessions(const api::Revocation& r) {
  for (auto& shard : shards_) {
    shard->post([this, s = shard.get(), r] {
      s->for_each_connection([&](Connection& c) {
        if (auto* session = dynamic_cast<Session*>(&c)) session->end_if_revoked(r);
      });
      // Held sessions have no connection in the shard's list; a ban or logout ends them too.
      std::vector<std::shared_ptr<Session>> held;
      for (auto& [id, session] : sessions_by_shard_[s->index()].resumable) {
        if (session->held()) held.push_back(session);
      }
      for (auto& session : held) session->end_if_revoked(r);
    });
  }
}

void ServerCore::release_connection(const Connection::IpKey& ip) {
  std::lock_guard lock(limits_mutex_);
  --total_connections_;
  auto it = per_ip_.find(ip);
  if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
}

void ServerCore::accept_next(asio::ip::tcp::acceptor& acceptor, Connection::Transport transport) {
  auto& target = *shards_[next_accept_shard_++ % shards_.size()];
  acceptor.async_accept(target.context(), [this, &acceptor, &target, transport](std::error_code ec,
                                                                               asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of file descriptors and the like: back off instead of spinning, log once a second.
      auto now = std::chrono::steady_clock::now();
      if (now - last_accept_warning_ > std::chrono::seconds(1)) {
        last_accept_warning_ = now;
        spdlog::warn("accept failed: {}", ec.message());
      }
      accept_retry_->expires_after(std::chrono::milliseconds(50));
      accept_retry_->async_wait([this, &acceptor, transport](const std::error_code& e) {
        if (!e) accept_next(acceptor, transport);
      });
      return;
    }
    std::error_code endpoint_ec;
    auto remote = socket.remote_endpoint(endpoint_ec);
    auto ip = ip_key(remote.address());
    bool behind_proxy = trusted_proxies_.contains(ip);  // its client is named later (XFF, PROXY header)
    auto reject = admit(ip, target, behind_proxy);
    if (reject == Rejection::drop) {
      release_connection(ip);
      target.post([&target] { target.metrics().dropped_at_accept.add(); });
      socket.close(endpoint_ec);
      return accept_next(acceptor, transport);
    }
    auto id = next_session_id_.fetch_add(1, std::memory_order_relaxed);
    target.post([this, &target, socket = std::move(socket), transport, ip, id, reject]() mutable {
      auto session = std::make_shared<Session>(target, std::move(socket), transport, ip, id, reject);
      if (tls_) session->use_tls(tls_->new_ssl());  // the context current at this handshake
      session->begin();
    });
    accept_next(acceptor, transport);
  });
}

std::string ServerCore::handle_http_get(std::string_view target) {
  auto path = target.substr(0, target.find('?'));
  if (path == "/metrics") return http::response(200, "OK", "text/plain; version=0.0.4", metrics_text());
  if (path == "/healthz") return http::response(200, "OK", "text/plain", "ok\n");
  if (path == "/cluster/nodes") return cluster_nodes_response();
  // The response head is well under 1 KB; the whole response counts against the send queue.
  auto limit = config_.limits.send_queue_bytes;
  return http::serve_static(config_.static_dir, target, limit > 1024 ? limit - 1024 : 0);
}

void ServerCore::arm_memory_trim() {
  if (config_.memory_trim_interval_ms == 0 || !memory_trim_supported()) return;
  memory_trim_timer_->expires_after(std::chrono::milliseconds(config_.memory_trim_interval_ms));
  memory_trim_timer_->async_wait([this](const std::error_code& ec) {
    if (ec || stopping()) return;
    // On shard 0, like the matchmaker: a look or a trim holds each malloc arena's lock while
    // it walks it; other shards allocating meanwhile wait for it.
    auto r = memory_trimmer_.check(config_.memory_trim_free_bytes);
    memory_slack_bytes_.store(r.slack_bytes, std::memory_order_relaxed);
    spdlog::debug("memory check: {} bytes resident and unused by malloc{}", r.slack_bytes,
                  r.trimmed ? fmt::format(", trimmed: {} bytes returned", r.returned_bytes) : std::string());
    memory_trim_micros_.fetch_add(r.micros, std::memory_order_relaxed);
    if (r.trimmed) {
      memory_trims_.fetch_add(1, std::memory_order_relaxed);
      memory_returned_bytes_.fetch_add(r.returned_bytes, std::memory_order_relaxed);
    }
    arm_memory_trim();
  });
}

std::string ServerCore::metrics_text() const {
  std::vector<const ShardMetrics*> all;
  for (auto& s : shards_) all.push_back(&const_cast<Shard&>(*s).metrics());
  auto text = render_metrics(all);
  if (api_) text += api::render_metrics(api_->stats());
  PrometheusWriter w;
  w.line("craft_parties", "Parties alive (party.max_size members each at most)", "gauge");
  w.value("craft_parties", parties_->count());
  w.line("craft_draining", "1 once a drain has begun (server.drain_on_sigterm): no new rooms or joins", "gauge");
  w.value("craft_draining", draining() ? 1 : 0);
  w.line("craft_matchmaker_tickets", "Matchmaker tickets waiting in the pool (matchmaker.max_pool_size at most)", "gauge");
  w.value("craft_matchmaker_tickets", tickets_->count());
  auto put = [&w](const char* name, const char* help, const char* type, uint64_t v) {
    w.line(name, help, type);
    w.value(name, v);
  };
  put("craft_process_resident_bytes", "Resident memory of the process (/proc/self/statm)", "gauge", resident_bytes());
  put("craft_memory_trim_supported",
      "1 if server.memory_trim_interval_ms can trim here (glibc's malloc in use), else 0: the check does nothing",
      "gauge", memory_trim_supported() ? 1 : 0);
  put("craft_memory_slack_bytes",
      "Resident bytes malloc did not use (resident minus in use) when the memory check last looked", "gauge",
      memory_slack_bytes_.load(std::memory_order_relaxed));
  put("craft_memory_trims_total",
      "Times the memory check found server.memory_trim_free_bytes more unused than after the last trim, and trimmed",
      "counter", memory_trims_.load(std::memory_order_relaxed));
  put("craft_memory_trim_returned_bytes_total", "Resident bytes those trims gave back to the system", "counter",
      memory_returned_bytes_.load(std::memory_order_relaxed));
  w.line("craft_memory_trim_seconds_total",
         "Wall-clock time shard 0 spent in the memory checks and trims, those that did not trim included", "counter");
  w.out += "craft_memory_trim_seconds_total " +
           std::to_string(double(memory_trim_micros_.load(std::memory_order_relaxed)) / 1e6) + "\n";
  return text + w.out + cluster_metrics();
}

bool ServerCore::reload_tls() {
  if (!tls_) {
    spdlog::warn("TLS reload asked for, but tls.cert_file / tls.key_file are not set");
    return false;
  }
  if (auto error = tls_->reload(); !error.empty()) {
    spdlog::error("TLS reload failed, keeping the current certificate: {}", error);
    return false;
  }
  spdlog::info("TLS certificate reloaded from {}; new handshakes use it", config_.tls.cert_file);
  return true;
}

void ServerCore::drain() {
  if (draining_.exchange(true)) return;
  spdlog::info("draining: no new rooms or joins; {} rooms running (server.drain_timeout_ms {})", room_count(),
               config_.drain_timeout_ms);
}

size_t ServerCore::room_count() const {
  size_t n = 0;
  for (uint32_t i = 0; i < shards_.size(); ++i) n += rooms_by_shard_[i].count.load(std::memory_order_relaxed);
  return n;
}

void ServerCore::stop() {
  {
    std::lock_guard lock(stop_mutex_);
    if (stopping_) return;
    stopping_ = true;
    stopping_flag_.store(true, std::memory_order_relaxed);
    if (!started_) {
      for (auto& s : shards_) s->release();
      return;
    }
  }
  shards_[0]->post([this] {
    std::error_code ec;
    if (http_acceptor_) http_acceptor_->close(ec);
    if (tcp_acceptor_) tcp_acceptor_->close(ec);
    accept_retry_->cancel();
    matchmaker_timer_->cancel();
    memory_trim_timer_->cancel();
  });
  for (auto& s : shards_) {
    // After a drain the clients left are told to come back (to another node), not that the
    // server is gone.
    auto code = draining() ? close_code::service_restart : close_code::going_away;
    s->post([shard = s.get(), code] { shard->begin_shutdown(code); });
  }
  // Wait off the shard threads until every connection has said goodbye or time is up.
  stopper_ = std::thread([this] {
    stop_cluster();  // leave the cluster first: the others stop sending players here
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.shutdown_timeout_ms);
    auto busy = [this] {
      for (uint32_t i = 0; i < shards_.size(); ++i) {
        if (shards_[i]->connection_count() > 0 || rooms_by_shard_[i].count.load(std::memory_order_relaxed) > 0) {
          return true;
        }
      }
      return false;
    };
    while (busy() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (auto& s : shards_) s->release();
  });
}

void ServerCore::wait() {
  for (auto& s : shards_) s->join();
  std::lock_guard lock(stop_mutex_);
  if (stopper_.joinable()) stopper_.join();
}

}  // namespace detail

Server::Server(ServerConfig config, const Clock* clock)
    : core_(std::make_unique<detail::ServerCore>(std::move(config), clock ? *clock : detail::default_clock())) {}

Server::~Server() = default;

void Server::define_room(std::string type, RoomFactory factory, RoomTypeOptions options) {
  core_->world().define(std::move(type), std::move(factory), std::move(options));
}
void Server::set_match_filter(MatchFilter filter) { core_->set_match_filter(std::move(filter)); }
void Server::start() { core_->start(); }
void Server::stop() { core_->stop(); }
void Server::wait() { core_->wait(); }
void Server::drain() { core_->drain(); }
bool Server::draining() const { return core_->draining(); }
size_t Server::room_count() const { return core_->room_count(); }
uint16_t Server::http_port() const { return core_->http_port(); }
uint16_t Server::tcp_port() const { return core_->tcp_port(); }
const ServerConfig& Server::config() const { return core_->config(); }
std::string Server::metrics_text() const { return core_->metrics_text(); }
bool Server::reload_tls() { return core_->reload_tls(); }

}  // namespace craft
