// Joining a room that lives on another node (docs/cluster.md "Joining a room on another
// node"): this node asks the room's node for a seat over the bus ("seat.reserve") and hands
// the client a room_redirect to that node with the reservation; the client joins there.
// The room's node answers other nodes' seat requests here too. Nothing here runs with
// clustering off: the session only routes when ServerCore::cluster_registry() is set.
#include "cluster/node_registry.hpp"
#include "cluster/seat_message.hpp"
#include "core/server_core.hpp"
#include "core/session.hpp"
#include "core/world.hpp"
#include "presence/party_store.hpp"

namespace craft::detail {

void ServerCore::serve_seat_requests() {
  cluster_->on_request(std::string(cluster::seat_reserve_kind), [this](const std::string& from, const std::string& payload,
                                                                      std::function<void(std::string)> respond) {
    auto deny = [&](int code, std::string why) {
      seats_denied_.fetch_add(1, std::memory_order_relaxed);
      respond(cluster::encode_seat_answer({code, {}, 0, std::move(why)}));
    };
    auto request = cluster::decode_seat_request(payload);
    if (!request) return deny(v1::BAD_REQUEST, "malformed seat request from node " + from);
    // A draining node refuses every room_join, reservations included (Session::dispatch): a
    // seat here would send the player on a trip that ends in SERVER_SHUTTING_DOWN, and the
    // held seat would keep the room, and so the drain, alive for reservation_ttl_ms.
    if (draining()) return deny(v1::SERVER_SHUTTING_DOWN, "room " + request->room_id + "'s node is draining");
    auto room = world_.find(request->room_id);
    if (!room) return deny(v1::ROOM_NOT_FOUND, "no room " + request->room_id);
    // The room's state belongs to its shard: the checks and the seat are made there.
    auto* host = room.get();
    host->shard().post([this, room = std::move(room), request = std::move(*request), respond = std::move(respond)] {
      const uint32_t ttl = config_.matchmaker.reservation_ttl_ms;
      auto token = presence::random_id();
      std::string why;
      int code = room->reserve_for_node(token, request.account_id, room->shard().now() + std::chrono::milliseconds(ttl), why);
      if (code != 0) {
        seats_denied_.fetch_add(1, std::memory_order_relaxed);
        return respond(cluster::encode_seat_answer({code, {}, 0, std::move(why)}));
      }
      seats_granted_.fetch_add(1, std::memory_order_relaxed);
      respond(cluster::encode_seat_answer({0, std::move(token), ttl, {}}));
    });
  });
}

void ServerCore::serve_seat_releases() {
  cluster_->on_message(std::string(cluster::seat_release_kind), [this](const std::string&, const std::string& payload) {
    auto release = cluster::decode_seat_release(payload);
    if (!release) return;
    auto room = world_.find(release->room_id);
    if (!room) return;
    auto* host = room.get();
    host->shard().post([this, room = std::move(room), token = std::move(release->reservation)] {
      if (room->release_node_seat(token)) seats_released_.fetch_add(1, std::memory_order_relaxed);
    });
  });
}

void ServerCore::request_seat(const std::string& node, std::string room_id, std::string account_id, Shard& reply_on,
                              std::function<void(SeatResult)> done) {
  SeatResult r;
  auto answer = [&reply_on, &done, &r] {
    reply_on.post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
  };
  auto record = cluster_ ? cluster_->node(node) : std::nullopt;
  if (!record || !cluster_->is_alive(node)) {
    // The directory still named a node that is gone: its rooms went with it.
    r.code = v1::ROOM_NOT_FOUND;
    r.message = "room " + room_id + " was on node " + node + ", which is gone";
    r.retryable = true;
    return answer();
  }
  if (!cluster::valid_seat_field(room_id, cluster::max_seat_room_id_bytes)) {
    r.code = v1::ROOM_NOT_FOUND;
    r.message = "no room " + room_id;
    return answer();
  }
  if (!account_id.empty() && !cluster::valid_seat_field(account_id, cluster::max_seat_account_bytes)) {
    r.code = v1::INTERNAL;
    r.message = "this account cannot join rooms on other nodes";
    return answer();
  }
  if (seat_requests_pending_.fetch_add(1, std::memory_order_relaxed) >= config_.cluster.max_pending_seat_requests) {
    seat_requests_pending_.fetch_sub(1, std::memory_order_relaxed);
    seat_requests_refused_.fetch_add(1, std::memory_order_relaxed);
    r.code = v1::UNAVAILABLE;
    r.message = "too many joins of rooms on other nodes under way (cluster.max_pending_seat_requests); try again";
    r.retryable = true;
    return answer();
  }
  seat_requests_.fetch_add(1, std::memory_order_relaxed);
  auto timeout = std::chrono::milliseconds(config_.cluster.seat_request_timeout_ms);
  cluster_->request(
      node, cluster::seat_reserve_kind, cluster::encode_seat_request({room_id, std::move(account_id)}), timeout,
      [this, shard = &reply_on, done = std::move(done), node, room_id, url = record->advertise](
          std::optional<std::string> payload) mutable {
        seat_requests_pending_.fetch_sub(1, std::memory_order_relaxed);
        SeatResult out;
        auto seat = payload ? cluster::decode_seat_answer(*payload) : std::nullopt;
        if (!seat) {
          seat_requests_failed_.fetch_add(1, std::memory_order_relaxed);
          out.code = v1::UNAVAILABLE;
          out.message = payload ? "node " + node + " gave an answer that does not parse"
                              : "node " + node + " (room " + room_id +
                                    ") did not answer within cluster.seat_request_timeout_ms; try again";
          out.retryable = true;  // join_or_create: a room here rather than none
        } else if (seat->code != 0) {
          out.code = v1::ErrorCode_IsValid(seat->code) ? seat->code : v1::INTERNAL;
          out.message = std::move(seat->message);
          out.retryable = out.code == v1::ROOM_FULL || out.code == v1::ROOM_LOCKED || out.code == v1::ROOM_NOT_FOUND ||
                          out.code == v1::SERVER_SHUTTING_DOWN;
        } else {
          out.redirect.set_room_id(room_id);
          out.redirect.set_url(url);
          out.redirect.set_reservation(std::move(seat->reservation));
          out.redirect.set_reservation_ttl_ms(seat->ttl_ms);
          out.redirect.set_node(node);
        }
        shard->post([done = std::move(done), out = std::move(out)]() mutable { done(std::move(out)); });
      });
}

std::string ServerCore::routing_metrics() const {
  PrometheusWriter w;
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    w.line(name, help, "counter");
    w.value(name, v);
  };
  counter("craft_cluster_redirects_total", "room_redirect answers: joins of rooms on other nodes",
          redirects_.load(std::memory_order_relaxed));
  counter("craft_cluster_seat_requests_total", "Seat requests sent to other nodes for cross-node joins",
          seat_requests_.load(std::memory_order_relaxed));
  counter("craft_cluster_seat_requests_failed_total",
          "Seat requests without a usable answer: timeout (cluster.seat_request_timeout_ms), node gone, Redis down",
          seat_requests_failed_.load(std::memory_order_relaxed));
  counter("craft_cluster_seat_requests_refused_total",
          "Cross-node joins refused at once: cluster.max_pending_seat_requests were under way",
          seat_requests_refused_.load(std::memory_order_relaxed));
  w.line("craft_cluster_seat_requests_pending", "Seat requests to other nodes waiting for an answer", "gauge");
  w.value("craft_cluster_seat_requests_pending", seat_requests_pending_.load(std::memory_order_relaxed));
  counter("craft_cluster_seats_granted_total", "Seat reservations made here for players of other nodes",
          seats_granted_.load(std::memory_order_relaxed));
  counter("craft_cluster_seats_released_total",
          "Seats reserved here for players of other nodes, freed unused when their session there ended",
          seats_released_.load(std::memory_order_relaxed));
  counter("craft_cluster_seats_denied_total",
          "Other nodes' seat requests answered with an error (no room, full, locked, match room, malformed)",
          seats_denied_.load(std::memory_order_relaxed));
  return w.out;
}

}  // namespace craft::detail

namespace craft {

void Session::release_seat(const HeldSeat& seat, TimePoint now) {
  // A lapsed seat is gone there already; a used one too, and releasing it is a no-op there.
  auto* registry = core().cluster_registry();
  if (!registry || seat.expires <= now) return;
  registry->send_to(seat.node, cluster::seat_release_kind, cluster::encode_seat_release({seat.room_id, seat.reservation}));
}

void Session::give_back_seat(const std::string& room_id) {
  if (!redirects_) return;
  auto now = shard().now();
  // Sent before the new seat request, so the room's node frees this seat first (the bus
  // keeps one sender's order). The old reservation is void even if the client still has it.
  std::erase_if(*redirects_, [&](const HeldSeat& seat) {
    if (seat.room_id != room_id) return false;
    release_seat(seat, now);
    return true;
  });
}

void Session::release_held_seats() {
  if (!redirects_) return;
  auto seats = std::move(*redirects_);
  redirects_.reset();
  auto now = shard().now();
  for (const auto& seat : seats) release_seat(seat, now);
}

void Session::route_join(uint32_t cid, std::string room_id, detail::JoinMode mode, std::string type, std::string options) {
  // A join of a room this session holds a seat in trades that seat for the new one (a client
  // retrying, or joining again after it left): one seat per room at a time, as locally.
  give_back_seat(room_id);
  ++pending_joins_;  // later requests of this connection wait for the answer (§2.1)
  auto self = std::static_pointer_cast<Session>(shared_from_this());
  core().world().directory().locate(room_id, shard(), [self, cid, room_id, mode, type = std::move(type),
                                                       options = std::move(options)](
                                                          std::optional<presence::RoomEntry> entry) mutable {
    if (!self->alive()) {
      --self->pending_joins_;
      return;
    }
    auto* registry = self->core().cluster_registry();
    if (!registry || !entry || entry->node.empty() || entry->node == registry->node_id()) {
      // Listed nowhere, or listed here but gone since: as a local join of a gone room.
      return self->on_join_failed(cid, v1::ROOM_NOT_FOUND, "no room " + room_id, true, mode, std::move(type),
                                  std::move(options));
    }
    std::string account = self->identity_ ? self->identity_->account_id : std::string();
    self->core().request_seat(entry->node, room_id, std::move(account), self->shard(),
                              [self, cid, mode, type = std::move(type), options = std::move(options)](
                                  detail::ServerCore::SeatResult r) mutable {
                                if (r.code != 0) {
                                  return self->on_join_failed(cid, r.code, std::move(r.message), r.retryable, mode,
                                                              std::move(type), std::move(options));
                                }
                                --self->pending_joins_;
                                if (!self->alive()) return;
                                if (!self->redirects_) self->redirects_ = std::make_unique<std::vector<HeldSeat>>();
                                self->redirects_->push_back(
                                    {self->shard().now() + std::chrono::milliseconds(r.redirect.reservation_ttl_ms()),
                                     r.redirect.room_id(), r.redirect.node(), r.redirect.reservation()});
                                v1::Envelope reply;
                                reply.set_cid(cid);
                                *reply.mutable_room_redirect() = std::move(r.redirect);
                                self->core().count_redirect();
                                self->send_envelope(reply);
                                self->release_held();
                              });
  });
}

}  // namespace craft
