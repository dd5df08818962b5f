#include "core/session.hpp"

#include "core/server_core.hpp"
#include "core/session_lobby.hpp"
#include "core/world.hpp"
#include "net/forwarded.hpp"
#include "net/ws_codec.hpp"

#include <craft/close_codes.hpp>

namespace craft {

using detail::JoinMode;
using detail::RoomHost;

namespace {
constexpr size_t max_name_bytes = 32;
// What a held envelope costs beyond its payload, so even empty ones fill the queue.
constexpr uint32_t held_overhead_bytes = 64;
constexpr uint32_t protocol_version = 1;
}  // namespace

Session::~Session() = default;

Session::Session(Shard& shard, asio::ip::tcp::socket socket, Transport transport, IpKey ip, SessionId id,
                 detail::Rejection rejection)
    : Connection(shard, std::move(socket), transport, ip),
      id_(id),
      bucket_(detail::core_of(shard).config().limits.messages_per_second,
              detail::core_of(shard).config().limits.message_burst, shard.now()),
      rejection_(rejection) {}

void Session::begin() {
  start();
  if (transport() != Transport::tcp) return;
  // Over TLS the refusal waits for the handshake (on_tls_established), or the peer could not
  // read it. A TLS port reads no PROXY header: behind a proxy, TLS ends at the proxy.
  if (uses_tls()) return;
  // A trusted proxy's TCP stream names its client first (PROXY protocol): the per-IP limit
  // waits for it (ServerCore::rebind_connection).
  if (rejection_ == detail::Rejection::none && core().trusted_proxies().contains(ip())) {
    return expect_proxy_header();
  }
  reject_if_over_limit();
}

void Session::on_stream_client(const IpKey& client) {
  if (client != ip()) shard().metrics().proxy_protocol.add();
  count_as(client);
  if (is_open()) reject_if_over_limit();
}

void Session::on_websocket_open() { reject_if_over_limit(); }

void Session::on_tls_established() {
  if (transport() == Transport::tcp) reject_if_over_limit();
}

void Session::reject_if_over_limit() {
  auto& metrics = shard().metrics();
  switch (rejection_) {
    case detail::Rejection::none: return;
    case detail::Rejection::max_connections:
      metrics.rejected_max_connections.add();
      return close(close_code::try_again_later, "too many connections (limits.max_connections)");
    case detail::Rejection::max_connections_per_ip:
    case detail::Rejection::drop:  // closed at accept; never reaches a session
      metrics.rejected_per_ip.add();
      return close(close_code::try_again_later, "too many connections from your address (limits.max_connections_per_ip)");
  }
}

bool Session::over_connection_limit() {
  auto& metrics = shard().metrics();
  switch (rejection_) {
    case detail::Rejection::none: return false;
    case detail::Rejection::max_connections: metrics.rejected_max_connections.add(); return true;
    case detail::Rejection::max_connections_per_ip:
    case detail::Rejection::drop: metrics.rejected_per_ip.add(); return true;
  }
  return false;
}

bool Session::on_request_head(const http::Request& request) {
  auto& core = detail::core_of(shard());
  const auto& trusted = core.trusted_proxies();
  if (!trusted.contains(ip())) return true;  // anyone else's X-Forwarded-For is ignored
  auto& metrics = shard().metrics();
  IpKey client;
  switch (net::client_from_forwarded_for(request, trusted, core.config().limits.max_forwarded_hops, client)) {
    case net::ForwardedResult::absent: client = ip(); break;
    case net::ForwardedResult::client: metrics.forwarded.add(); break;
    case net::ForwardedResult::bad:
    case net::ForwardedResult::too_many: metrics.forwarded_rejected.add(); return false;
  }
  count_as(client);
  return is_open();  // false once a limit dropped it: nothing is answered
}

void Session::count_as(const IpKey& client) {
  auto rejection = core().rebind_connection(ip(), client);
  set_ip(client);
  if (rejection == detail::Rejection::drop) {
    shard().metrics().dropped_at_accept.add();
    return abort();  // past limits.max_refusals_per_ip: no answer, no linger
  }
  if (rejection_ == detail::Rejection::none) rejection_ = rejection;
}

void Session::send_envelope(const v1::Envelope& e) { send(protocol::frame(e, wire_format())); }

void Session::send_link(const v1::Envelope& e) { Connection::send(protocol::frame(e, wire_format())); }

void Session::send_error(uint32_t cid, int code, std::string message) {
  shard().metrics().count_error(code);
  v1::Envelope e;
  e.set_cid(cid);
  e.mutable_error()->set_code(static_cast<v1::ErrorCode>(code));
  e.mutable_error()->set_message(std::move(message));
  send_envelope(e);
}

// One token of limits.messages_per_second, for a message or a WebSocket ping. Refused: counted,
// and the refusal that reaches limits.rate_limit_strikes in a row closes 4003 (then false and
// closing; else false and open, and the caller says why).
bool Session::take_token() {
  if (bucket_.take(shard().now())) {
    strikes_ = 0;
    return true;
  }
  shard().metrics().rate_limited.add();
  if (++strikes_ >= core().config().limits.rate_limit_strikes) close(close_code::flood, "kept sending while rate limited");
  return false;
}

// A legitimate client pings every few seconds at most; a flood of 6-byte pings would otherwise
// cost a core for as long as the socket lives. Over the limit the ping gets no pong.
bool Session::on_ping() { return take_token(); }

void Session::on_message(std::string_view payload, bool text) {
  auto& metrics = shard().metrics();
  metrics.messages_in.add();
  if (end_if_expired()) return;
  if (transport() == Transport::websocket && !hello_done_) {
    // Until hello, answer in the format of each frame; hello's format then sticks.
    set_wire_format(text ? protocol::WireFormat::ws_text : protocol::WireFormat::ws_binary);
  }
  v1::Envelope e;
  const auto& limits = core().config().limits;
  std::string why;
  bool decoded = protocol::decode(payload, text ? protocol::Encoding::json : protocol::Encoding::binary, e,
                                  limits.max_json_depth, &why);
  if (!why.empty()) metrics.json_rejected.add();  // refused by the strict check, before protobuf
  ping_outstanding_ = false;  // an answer to a server ping, or anything else: not half-open
  // Numbered as the client numbers them: everything after hello but the link-level bodies,
  // the ones the rate limit refuses included (protocol.md §3.2).
  if (resume_ && (!decoded || !protocol::is_link_level(e))) ++resume_->received;
  if (resume_ && decoded && e.ack_seq() != 0) on_ack(e.ack_seq());
  if (!take_token()) {
    if (strikes_ < limits.rate_limit_strikes) {
      send_error(decoded ? e.cid() : 0, v1::RATE_LIMITED, "rate limit: limits.messages_per_second");
    }
    return;
  }
  if (!decoded) {
    send_error(0, v1::BAD_REQUEST,
               !text ? "not a protobuf Envelope" : why.empty() ? "not a JSON Envelope" : "not a JSON Envelope: " + why);
    return;
  }
  if (!protocol::is_link_level(e) && (busy() || holding())) return hold(std::move(e), payload.size());
  dispatch(e);
}

void Session::hold(v1::Envelope e, size_t payload_bytes) {
  auto& metrics = shard().metrics();
  const uint64_t limit = core().config().limits.pending_queue_bytes;
  const uint64_t cost = payload_bytes + held_overhead_bytes;
  if ((held_ ? held_->bytes : 0) + cost > limit) {
    // Refused, never reordered: this one takes no effect at all.
    metrics.pending_refused.add();
    return send_error(e.cid(), v1::RATE_LIMITED,
                      "too many messages waiting for your earlier request (limits.pending_queue_bytes)");
  }
  if (!held_) held_ = std::make_unique<Held>();
  metrics.messages_held.add();
  held_->items.push_back({std::move(e), static_cast<uint32_t>(cost)});
  held_->bytes += cost;
  if (!busy()) release_held();
}

void Session::release_held() {
  // A held join that completes at once (room on this shard) calls back in here; the
  // outer loop carries on instead, so the stack stays flat and the order is kept.
  if (!held_ || held_->releasing) return;
  held_->releasing = true;
  // While held too: what the client sent before the drop is answered into the replay.
  while (!busy() && alive() && !held_->items.empty()) {
    auto item = std::move(held_->items.front());
    held_->items.pop_front();
    held_->bytes -= item.cost;
    dispatch(item.envelope);
  }
  held_->releasing = false;
  if (held_->items.empty() || !alive()) held_.reset();
}

void Session::dispatch(const v1::Envelope& e) {
  using B = v1::Envelope::BodyCase;
  switch (e.body_case()) {
    case B::kHello: return handle_hello(e);
    case B::kPing: {
      v1::Envelope reply;
      reply.set_cid(e.cid());
      reply.mutable_pong()->set_client_time_us(e.ping().client_time_us());
      reply.mutable_pong()->set_server_time_us(core().clock().wall_time_us());
      return send_link(reply);
    }
    case B::kPong: return record_rtt(e.pong().client_time_us());  // the answer to a server ping (TCP)
    case B::kAck: return resume_ ? on_ack(e.ack().seq()) : void();
    case B::kDisconnect: return close(close_code::normal, "goodbye");  // no hold for resume
    default: break;
  }
  // Before hello everything but hello and ping is refused the same way (protocol.md §3).
  if (!hello_done_) return send_error(e.cid(), v1::NOT_AUTHENTICATED, "send hello first");
  // The flag is read only for the four requests it refuses: room_data pays nothing for it.
  if ((e.body_case() == B::kRoomCreate || e.body_case() == B::kRoomJoin || e.body_case() == B::kRoomJoinOrCreate ||
       e.body_case() == B::kMatchmakerAdd) &&
      core().draining()) {
    return send_error(e.cid(), v1::SERVER_SHUTTING_DOWN,
                      "this node is draining: no new rooms or joins here; reconnect to join elsewhere");
  }
  switch (e.body_case()) {
    case B::kRoomCreate:
      return handle_create(e.cid(), e.room_create().type(), e.room_create().options(), e.room_create().private_(),
                           JoinMode::create);
    case B::kRoomJoin: return handle_join(e);
    case B::kRoomJoinOrCreate: return handle_join_or_create(e);
    case B::kRoomLeave: return handle_leave(e);
    case B::kRoomData: return handle_room_data(e);
    case B::kStateAck: return handle_state_ack(e);
    case B::kRoomList: return handle_room_list(e);
    case B::kApiRequest: return handle_api(e);
    case B::kPropertiesSet: return handle_properties_set(e);
    case B::kLobbySubscribe:
    case B::kLobbyUnsubscribe: return handle_lobby(e);
    case B::kMatchmakerAdd:
    case B::kMatchmakerRemove: return handle_matchmaker(e);
    case B::kPartyCreate:
    case B::kPartyJoin:
    case B::kPartyLeave:
    case B::kPartyPromote:
    case B::kPartyKick:
    case B::kPartyAccept:
    case B::kPartyInvite:
    case B::kPartyData: return handle_party(e);
    default:
      return send_error(e.cid(), v1::UNKNOWN_MESSAGE,
                        e.body_case() == B::BODY_NOT_SET ? "envelope has no body" : "not a client message");
  }
}

void Session::handle_hello(const v1::Envelope& e) {
  if (hello_done_ || hello_pending_) return send_error(e.cid(), v1::ALREADY_AUTHENTICATED, "hello already received");
  const auto& hello = e.hello();
  if (hello.protocol_version() > protocol_version) {
    send_error(e.cid(), v1::UNSUPPORTED_VERSION, "this server speaks protocol version 1");
    return close(close_code::unsupported_version, "unsupported protocol version");
  }
  if (!hello.resume_token().empty()) return begin_resume(e.cid(), hello);
  if (hello.name().size() > max_name_bytes || !ws::is_valid_utf8(hello.name())) {
    return send_error(e.cid(), v1::BAD_REQUEST, "name must be 0-32 bytes of UTF-8");
  }
  // From here on client messages are numbered (docs/protocol.md §3.2).
  if (hello.resumable()) start_resumable();
  room_handles_ = hello.room_handles();
  auto* api = core().api();
  if (hello.token().empty()) {
    if (core().config().auth.require)
      return refuse_account(e.cid(), {v1::UNAUTHORIZED, "this server requires a session token in hello (auth.require)"});
    return finish_hello(e.cid(), hello.name(), nullptr);
  }
  if (!api) return refuse_account(e.cid(), {v1::UNAUTHORIZED, "accounts are off here (store.backend = none)"});
  hello_pending_ = true;
  check_hello_token(e.cid(), hello.token(), hello.name());
}

void Session::check_hello_token(uint32_t cid, std::string token, std::string name) {
  // The token's signature is cheap, but revocation and bans are in the database: off-shard.
  recheck_hello_ = false;
  auto self = std::static_pointer_cast<Session>(shared_from_this());
  core().api()->authenticate(token, [self, cid, token, name](auto result) mutable {
    self->shard().post([self, cid, token = std::move(token), name = std::move(name), result = std::move(result)]() mutable {
      if (!self->is_open()) return;
      if (auto* error = std::get_if<api::CallError>(&result)) {
        self->hello_pending_ = false;
        self->refuse_account(cid, *error);
        return self->release_held();
      }
      // A logout or ban was announced while this check ran, possibly after it read the
      // store: check again (it is announced only once committed, so this check sees it).
      if (self->recheck_hello_) return self->check_hello_token(cid, std::move(token), std::move(name));
      self->hello_pending_ = false;
      self->finish_hello(cid, name, std::make_unique<const api::Identity>(std::get<api::Identity>(result)));
      self->release_held();
    });
  });
}

void Session::end_if_revoked(const api::Revocation& r) {
  if (!alive()) return;
  if (hello_pending_) recheck_hello_ = true;
  if (!identity_) return;
  bool match = (!r.account_id.empty() && identity_->account_id == r.account_id) ||
               (!r.token_id.empty() && identity_->token_id == r.token_id);
  if (!match) return;
  if (held()) return end_session("disconnected");  // no connection to tell; its resume will fail
  refuse_account(0, r.why);
}

bool Session::end_if_expired() {
  if (!identity_ || !is_open()) return false;
  // Whole seconds, as the token itself counts: valid while now < expires_at.
  if (core().clock().wall_time_us() / 1'000'000 < identity_->expires_at) return false;
  refuse_account(0, {v1::TOKEN_EXPIRED, "session token expired: hello again with a fresh one (refresh it)"});
  return true;
}

void Session::refuse_account(uint32_t cid, const api::CallError& why) {
  send_error(cid, why.code, why.message);
  close(close_code::auth_failed, why.message);
}

void Session::finish_hello(uint32_t cid, const std::string& name, std::unique_ptr<const api::Identity> identity) {
  identity_ = std::move(identity);
  if (identity_ && !claim_account(cid)) {
    identity_.reset();
    resume_.reset();
    return;
  }
  hello_done_ = true;
  name_ = !name.empty() ? name : identity_ ? identity_->username : "guest-" + std::to_string(id_);
  send_link(welcome(cid));
  core().add_session(id_, shard().index(), std::static_pointer_cast<Session>(shared_from_this()));
  if (resume_) {
    resume_->started = true;
    core().register_resumable(shard().index(), std::static_pointer_cast<Session>(shared_from_this()));
  }
}

v1::Envelope Session::welcome(uint32_t cid) {
  v1::Envelope reply;
  reply.set_cid(cid);
  auto* w = reply.mutable_welcome();
  w->set_session_id(id_);
  w->set_protocol_version(protocol_version);
  w->set_server_time_us(core().clock().wall_time_us());
  w->set_shard(shard().index());
  if (identity_) {
    w->set_account_id(identity_->account_id);
    w->set_username(identity_->username);
  }
  if (resume_) {
    w->set_resume_token(core().resume_tokens().issue({id_, shard().index(), resume_->generation}));
    w->set_resume_window_ms(core().config().session.resume_window_ms);
  }
  return reply;
}

void Session::handle_api(const v1::Envelope& e) {
  auto* api = core().api();
  if (!api) return send_error(e.cid(), v1::NOT_FOUND, "accounts and storage are off here (store.backend = none)");
  api::CallContext context;
  context.from_socket = true;
  if (identity_) context.identity = *identity_;
  context.ip.assign(ip().begin(), ip().end());
  auto self = std::static_pointer_cast<Session>(shared_from_this());
  api_pending_ = true;
  api->call(e.api_request(), std::move(context), [self, cid = e.cid()](api::CallResult result) {
    self->shard().post([self, cid, result = std::move(result)] {
      self->api_pending_ = false;
      if (!self->alive()) return;
      if (auto* error = std::get_if<api::CallError>(&result)) {
        // The socket's identity expired, was revoked or banned: the error, then 4005.
        if (error->ends_session) self->refuse_account(cid, *error);
        else self->send_error(cid, error->code, error->message);
      } else {
        v1::Envelope reply;
        reply.set_cid(cid);
        *reply.mutable_api_response() = std::get<v1::ApiResponse>(result);
        self->send_envelope(reply);
      }
      self->release_held();
    });
  });
}

bool Session::room_slot_available(uint32_t cid) {
  auto max = core().config().limits.max_rooms_per_session;
  size_t redirected = 0;
  if (redirects_) {
    auto now = shard().now();
    std::erase_if(*redirects_, [now](const HeldSeat& seat) { return seat.expires <= now; });
    redirected = redirects_->size();
    if (redirected == 0) redirects_.reset();
  }
  if (rooms_.size() + pending_joins_ + redirected < max) return true;
  send_error(cid, v1::TOO_MANY_ROOMS, "limits.max_rooms_per_session is " + std::to_string(max));
  return false;
}

const std::shared_ptr<RoomHost>* Session::find_room(const std::string& id) const {
  for (auto& r : rooms_) {
    if (r->id() == id) return &r;
  }
  return nullptr;
}

void Session::handle_create(uint32_t cid, const std::string& type, std::string options, bool is_private,
                            JoinMode mode, Properties metadata) {
  if (!room_slot_available(cid)) return;
  int error = 0;
  std::string message;
  auto room = core().world().create(type, is_private, options, error, message, shard().index(), std::move(metadata));
  if (!room) {
    if (error == v1::INTERNAL) shard().metrics().room_errors.add();  // the room type's factory failed
    return send_error(cid, error, std::move(message));
  }
  request_join(std::move(room), cid, std::move(options), mode);
}

void Session::handle_join(const v1::Envelope& e) {
  const auto& j = e.room_join();
  if (find_room(j.room_id())) return send_error(e.cid(), v1::ALREADY_IN_ROOM, "already in room " + j.room_id());
  give_back_seat(j.room_id());  // before the limit: the new seat replaces it (route_join)
  if (!room_slot_available(e.cid())) return;
  auto room = core().world().find(j.room_id());
  if (!room && core().cluster_registry()) return route_join(e.cid(), j.room_id(), JoinMode::join, {}, {});
  if (!room) return send_error(e.cid(), v1::ROOM_NOT_FOUND, "no room " + j.room_id());
  request_join(std::move(room), e.cid(), j.options(), JoinMode::join, j.reservation());
}

void Session::handle_join_or_create(const v1::Envelope& e) {
  const auto& j = e.room_join_or_create();
  if (!room_slot_available(e.cid())) return;
  auto& world = core().world();
  if (!world.has_type(j.type())) return send_error(e.cid(), v1::UNKNOWN_ROOM_TYPE, "no room type " + j.type());
  // The filter, plus equality on the type's filter keys from the options (protocol.md §4.15).
  presence::RoomQuery query;
  query.type = j.type();
  Properties metadata;
  std::string problem;
  if (!presence::read_filter(j.filter(), j.sort(), core().config().rooms.max_filter_conditions, query, problem) ||
      !filter_keys(j.type(), j.options(), &query, metadata, problem)) {
    shard().metrics().room_filters_refused.add();
    return send_error(e.cid(), v1::BAD_REQUEST, std::move(problem));
  }
  std::vector<std::string> skip;
  for (auto& r : rooms_) skip.push_back(r->id());
  // The directory answers later (over the network, for a shared one): this connection's
  // later requests wait behind it, as behind a join.
  ++pending_joins_;
  world.directory().find_joinable(
      std::move(query), std::move(skip), shard(),
      [self = std::static_pointer_cast<Session>(shared_from_this()), cid = e.cid(), type = j.type(),
       options = j.options(), metadata = std::move(metadata)](std::optional<std::string> id) mutable {
        --self->pending_joins_;
        if (!self->alive()) return;
        auto room = id ? self->core().world().find(*id) : nullptr;
        if (room) {
          self->request_join(std::move(room), cid, std::move(options), JoinMode::join_or_create);
        } else if (id && self->core().cluster_registry()) {
          // The best room is on another node (or just went away here): a seat there, or a
          // new room here when it has none.
          self->route_join(cid, std::move(*id), JoinMode::join_or_create, std::move(type), std::move(options));
        } else {
          self->handle_create(cid, type, std::move(options), false, JoinMode::join_or_create, std::move(metadata));
        }
        self->release_held();
      });
}

void Session::request_join(std::shared_ptr<RoomHost> room, uint32_t cid, std::string options, JoinMode mode,
                           std::string reservation) {
  ++pending_joins_;
  detail::JoinRequest request{std::static_pointer_cast<Session>(shared_from_this()),
                              identity_ ? Client{id_, name_, identity_->account_id, identity_->username}
                                        : Client{id_, name_},
                              std::move(options), cid, mode, std::move(reservation)};
  auto* host = room.get();
  host->shard().dispatch([room = std::move(room), request = std::move(request)]() mutable {
    room->join(std::move(request));
  });
}

void Session::on_join_succeeded(std::shared_ptr<RoomHost> room, const Frame& joined) {
  --pending_joins_;
  if (!alive()) {
    // Closed while the join travelled: undo it.
    room->shard().dispatch([room, id = id_] { room->leave(id, "disconnected", false); });
    return;
  }
  rooms_.push_back(std::move(room));
  send(joined);
  // Joined while held: the room learns the seat is empty for now.
  if (held()) rooms_.back()->shard().dispatch([room = rooms_.back(), who = id_] { room->drop(who); });
  release_held();
}

void Session::on_join_failed(uint32_t cid, int code, std::string message, bool retryable, JoinMode mode,
                             std::string type, std::string options) {
  --pending_joins_;
  if (!alive()) return;
  if (mode == JoinMode::join_or_create && retryable) {
    // The room filled up, locked or went away since the listing: make a new one instead,
    // with the type's filter keys as metadata like any room join_or_create makes.
    Properties metadata;
    std::string problem;
    filter_keys(type, options, nullptr, metadata, problem);
    handle_create(cid, type, std::move(options), false, JoinMode::create, std::move(metadata));
  } else {
    send_error(cid, code, std::move(message));
  }
  release_held();
}

void Session::on_removed(const std::string& room_id, const std::string& reason) {
  auto it = std::find_if(rooms_.begin(), rooms_.end(), [&](auto& r) { return r->id() == room_id; });
  if (it == rooms_.end()) return;
  rooms_.erase(it);
  v1::Envelope e;
  e.mutable_room_left()->set_room_id(room_id);
  e.mutable_room_left()->set_reason(reason);
  send_envelope(e);
}

void Session::handle_leave(const v1::Envelope& e) {
  const auto& id = e.room_leave().room_id();
  auto it = std::find_if(rooms_.begin(), rooms_.end(), [&](auto& r) { return r->id() == id; });
  if (it == rooms_.end()) return send_error(e.cid(), v1::NOT_IN_ROOM, "not in room " + id);
  auto room = std::move(*it);
  rooms_.erase(it);
  room->shard().dispatch([room, who = id_] { room->leave(who, "left", false); });
  v1::Envelope reply;
  reply.set_cid(e.cid());
  reply.mutable_room_left()->set_room_id(id);
  reply.mutable_room_left()->set_reason("left");
  send_envelope(reply);
}

void Session::handle_room_data(const v1::Envelope& e) {
  const auto& rd = e.room_data();
  auto* room = find_room(rd.room_id());
  if (!room) return send_error(e.cid(), v1::NOT_IN_ROOM, "not in room " + rd.room_id());
  std::span<const SessionId> targets(rd.targets().data(), static_cast<size_t>(rd.targets().size()));
  // An ack riding on the message (§4.20) takes effect before the message, as if sent first.
  const uint32_t ack = rd.state_ack();
  if ((*room)->shard().on_own_thread()) {
    if (ack != 0) (*room)->state_ack(id_, ack);
    (*room)->message(id_, e.cid(), rd.op(), rd.data(), targets);
    return;
  }
  (*room)->shard().post([room = *room, from = id_, cid = e.cid(), op = rd.op(), ack,
                      data = rd.data(), targets = std::vector<SessionId>(targets.begin(), targets.end())] {
    if (ack != 0) room->state_ack(from, ack);
    room->message(from, cid, op, data, targets);
  });
}

void Session::handle_state_ack(const v1::Envelope& e) {
  // Costs a token of the rate limit like every envelope (on_message); no reply on success.
  const auto& a = e.state_ack();
  auto* room = find_room(a.room_id());
  if (!room) return send_error(e.cid(), v1::NOT_IN_ROOM, "not in room " + a.room_id());
  (*room)->shard().dispatch([room = *room, from = id_, tick = a.tick()] { room->state_ack(from, tick); });
}

void Session::send_state(const Frame& frame, uint32_t max_queued_bytes) {
  if (!is_open() || held()) return;  // gone or dropped: a later snapshot replaces this one
  if (queued_bytes() > max_queued_bytes) {
    shard().metrics().replication_skipped.add();
    return;
  }
  send(frame);
}

void Session::handle_room_list(const v1::Envelope& e) {
  const auto& r = e.room_list();
  const auto& rooms = core().config().rooms;
  presence::RoomQuery query;
  query.type = r.type();
  std::string problem;
  if (!presence::read_filter(r.filter(), r.sort(), rooms.max_filter_conditions, query, problem)) {
    shard().metrics().room_filters_refused.add();
    return send_error(e.cid(), v1::BAD_REQUEST, std::move(problem));
  }
  query.offset = r.offset();
  // The cap keeps the answer's size bounded however many rooms there are (security.md).
  query.limit = r.limit() == 0 ? rooms.max_list_results : std::min(r.limit(), rooms.max_list_results);
  const bool capped = r.limit() == 0 || r.limit() > rooms.max_list_results;
  ++pending_joins_;  // later requests wait for the directory's answer (per-connection order)
  core().world().directory().list(
      std::move(query), shard(),
      [self = std::static_pointer_cast<Session>(shared_from_this()), cid = e.cid(), capped](
          std::vector<presence::RoomEntry> found, bool more) {
        --self->pending_joins_;
        if (!self->alive()) return;
        v1::Envelope reply;
        reply.set_cid(cid);
        auto* list = reply.mutable_room_list_result();
        for (const auto& entry : found) presence::to_info(entry, list->add_rooms());
        list->set_more(more);
        if (more && capped) self->shard().metrics().room_lists_truncated.add();
        self->send_envelope(reply);
        self->release_held();
      });
}

void Session::before_close(uint16_t code, std::string_view reason) {
  if (transport() == Transport::http) return;
  v1::Envelope e;
  e.mutable_disconnect()->set_code(code);
  e.mutable_disconnect()->set_reason(std::string(reason));
  send_link(e);
}

void Session::on_closed(uint16_t code) {
  if (resume_ && resume_->adopting) return keep_slot();  // a resume takes over: not a loss
  // A loss (no goodbye: EOF, reset, or silence we closed with 4001) holds a resumable session.
  bool lost = code == 1006 || code == close_code::idle_timeout;
  if (lost && resume_ && resume_->started && core().config().session.resume_window_ms > 0 && !core().stopping()) {
    return hold();
  }
  end_session("disconnected");
}

void Session::end_session(std::string_view reason) {
  if (ended_) return;
  ended_ = true;
  auto rooms = std::move(rooms_);  // leave() runs room code inline for a room on this shard
  rooms_.clear();
  for (auto& room : rooms) {
    room->shard().dispatch([room, who = id_, why = std::string(reason)] { room->leave(who, why, false); });
  }
  if (resume_ && resume_->started) core().unregister_resumable(shard().index(), id_);
  if (resume_ && resume_->held) {
    resume_->held = false;
    shard().metrics().sessions_held.sub();
    release_slot();
  }
  if (registered_account_) core().release_account(identity_->account_id, id_);
  registered_account_ = false;
  held_.reset();
  end_lobby();
  end_social();
}

void Session::on_sweep(TimePoint now) {
  if (end_if_expired()) return;  // closes an idle socket at its token's expiry too
  sweep_link(now);
  if (!is_open()) return;
  const auto& limits = core().config().limits;
  if (!hello_done_ && now - opened_at() > std::chrono::milliseconds(limits.handshake_timeout_ms)) {
    close(close_code::handshake_timeout, "no hello within limits.handshake_timeout_ms");
  } else if (now - last_receive() > std::chrono::milliseconds(limits.idle_timeout_ms)) {
    close(close_code::idle_timeout, "nothing received within limits.idle_timeout_ms");
  }
}

}  // namespace craft
