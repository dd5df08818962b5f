// ServerCore as the transport's ShardHandler (net/handler.hpp): what src/net asks of the
// layers above it, answered here so the transport includes none of them.
#include "api/http_api.hpp"
#include "core/server_core.hpp"
#include "core/session.hpp"
#include "net/http_request.hpp"

#include <algorithm>

namespace craft::detail {

TransportLimits ServerCore::transport_limits(const ServerConfig& config) {
  TransportLimits t;
  t.max_message_size = config.limits.max_message_size;
  t.max_hello_bytes = std::min(config.limits.max_hello_bytes, config.limits.max_message_size);
  t.send_queue_bytes = config.limits.send_queue_bytes;
  t.idle_timeout_ms = config.limits.idle_timeout_ms;
  t.max_http_request_bytes = config.limits.max_http_request_bytes;
  t.max_http_body_bytes = config.limits.max_http_body_bytes;
  t.flush_interval_us = config.flush_interval_us;
  t.coalesce_us = config.coalesce_us;
  return t;
}

// Plain HTTP: the API under /v1/ (bodies, JSON errors), /metrics, /healthz, static files.
bool ServerCore::http_wants_body(const http::Request& request) { return api::is_api_path(request.path()); }

std::string ServerCore::http_refusal(const http::Request& request, int status, std::string_view why) {
  if (!api::is_api_path(request.path())) return {};
  return api::error_response({status == 413 ? v1::MESSAGE_TOO_LARGE : v1::BAD_REQUEST, std::string(why)});
}

std::string ServerCore::http_request(Shard& shard, const http::Request& request, std::string_view body,
                                     const IpKey& ip, HttpRespond respond) {
  if (api::is_api_path(request.path())) {
    const uint32_t limit = config_.limits.send_queue_bytes;
    api::handle_http(api(), request, body, std::string(ip.begin(), ip.end()), shard.metrics().json_rejected_http,
                     [limit, respond = std::move(respond)](std::string response) {
                       if (response.size() > limit) {
                         response = api::error_response({v1::INTERNAL, "response larger than limits.send_queue_bytes"});
                       }
                       respond(std::move(response));
                     });
    return {};  // answered through `respond`
  }
  if (request.method != "GET" && request.method != "HEAD") {
    return http::response(405, "Method Not Allowed", "text/plain", "GET only\n");
  }
  if ((request.path() == "/metrics" || request.path() == "/cluster/nodes") && !metrics_allow_.contains(ip)) {
    shard.metrics().metrics_refused.add();
    return http::response(404, "Not Found", "text/plain", "not found\n");
  }
  auto response = handle_http_get(request.target);
  // HEAD: the GET's head, Content-Length included, and no body.
  if (request.method == "HEAD") response.resize(response.find("\r\n\r\n") + 4);
  return response;
}

void ServerCore::add_room(uint32_t shard, RoomHost* room) {
  auto& r = rooms_by_shard_[shard];
  r.rooms.push_back(room);
  r.count.fetch_add(1, std::memory_order_relaxed);
}

void ServerCore::remove_room(uint32_t shard, RoomHost* room) {
  auto& r = rooms_by_shard_[shard];
  for (auto& slot : r.rooms) {
    if (slot != room) continue;
    slot = r.rooms.back();
    r.rooms.pop_back();
    r.count.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
}

void ServerCore::on_sweep(Shard& shard, TimePoint now) {
  // Hold references: a sweep disposes empty rooms, which unregisters them.
  std::vector<std::shared_ptr<RoomHost>> rooms;
  auto& list = rooms_by_shard_[shard.index()].rooms;
  rooms.reserve(list.size());
  for (auto* r : list) rooms.push_back(r->shared_from_this());
  for (auto& r : rooms) r->sweep(now);
  // Held sessions have no connection for the shard's sweep to find.
  std::vector<std::shared_ptr<Session>> due;
  for (auto& [id, session] : sessions_by_shard_[shard.index()].resumable) {
    if (session->held()) due.push_back(session);
  }
  for (auto& s : due) s->expire_if_due(now);
}

void ServerCore::on_shutdown(Shard& shard) {
  std::vector<std::shared_ptr<RoomHost>> rooms;
  for (auto* r : rooms_by_shard_[shard.index()].rooms) rooms.push_back(r->shared_from_this());
  for (auto& r : rooms) r->dispose("server shutting down");
  std::vector<std::shared_ptr<Session>> sessions;
  for (auto& [id, session] : sessions_by_shard_[shard.index()].resumable) sessions.push_back(session);
  for (auto& s : sessions) s->end_held();
}

}  // namespace craft::detail
