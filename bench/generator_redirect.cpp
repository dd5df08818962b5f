// Cross-node joins (--cross-node): a join of a room that lives on another node is answered
// with room_redirect {room_id = 1, url = 2, reservation = 3, ...} (Envelope field 45; the
// cluster routing of issue 14, docs/cluster.md). The client then does what the SDK does:
// close this connection, connect to the named node, hello, and room_join with the
// reservation. The join latency runs from the first room_join to the final room_joined.
//
// The message is read from the envelope's unknown fields, so this craft-bench follows a
// redirect whether or not its own proto has the message yet.
#include "generator_impl.hpp"

#include "proc.hpp"

#include <arpa/inet.h>
#include <google/protobuf/unknown_field_set.h>

#include <charconv>

namespace craft::bench::detail {

namespace {

constexpr int field_room_redirect = 45;
constexpr size_t max_redirect_field = 4096;  // the node's URL or the reservation: short text

// "ws://127.0.0.12:7001/ws" -> 127.0.0.12:7001; only IPv4 literals (loopback benchmarks).
bool parse_ws_url(const std::string& url, sockaddr_in& out) {
  std::string_view rest(url);
  if (!rest.starts_with("ws://")) return false;
  rest.remove_prefix(5);
  auto colon = rest.find(':');
  if (colon == std::string_view::npos || colon > 15) return false;
  std::string host(rest.substr(0, colon));
  rest.remove_prefix(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), port);
  if (ec != std::errc{} || port == 0 || port > 65535) return false;
  if (end != rest.data() + rest.size() && *end != '/') return false;
  out = {};
  out.sin_family = AF_INET;
  out.sin_port = htons(static_cast<uint16_t>(port));
  return inet_pton(AF_INET, host.c_str(), &out.sin_addr) == 1;
}

}  // namespace

bool Generator::maybe_redirect(uint32_t i, const v1::Envelope& e) {
  using google::protobuf::UnknownField;
  const auto& unknown = e.GetReflection()->GetUnknownFields(e);
  for (int k = 0; k < unknown.field_count(); ++k) {
    const UnknownField& f = unknown.field(k);
    if (f.number() != field_room_redirect || f.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    google::protobuf::UnknownFieldSet body;
    if (!body.ParseFromString(f.length_delimited())) {
      fail(i, "undecodable room_redirect");
      return true;
    }
    std::string url, reservation;
    for (int m = 0; m < body.field_count(); ++m) {
      const UnknownField& b = body.field(m);
      if (b.type() != UnknownField::TYPE_LENGTH_DELIMITED || b.length_delimited().size() > max_redirect_field) continue;
      if (b.number() == 2) url = b.length_delimited();
      if (b.number() == 3) reservation = b.length_delimited();
    }
    follow_redirect(i, url, std::move(reservation));
    return true;
  }
  return false;
}

void Generator::follow_redirect(uint32_t i, const std::string& url, std::string reservation) {
  Conn& c = conns_[i];
  if (c.state != State::joining || c.outcome != Outcome::pending) return;
  if (c.redirect_target >= 0) return fail(i, "redirected twice");
  sockaddr_in to{};
  if (!parse_ws_url(url, to)) return fail(i, "room_redirect to a URL craft-bench cannot reach: " + url.substr(0, 64));
  size_t index = 0;
  while (index < redirect_targets_.size() && redirect_targets_[index].first != url) ++index;
  if (index == redirect_targets_.size()) redirect_targets_.emplace_back(url, to);
  ++redirects_;
  const int64_t join_started = c.join_sent_ns;
  close_conn(c);
  c.in.clear();
  c.out.clear();
  c.server_seq = c.server_seq_acked = 0;
  c.unacked_since_ns = 0;
  c.redirect_target = static_cast<int32_t>(index);
  c.reservation = std::move(reservation);
  start_connect(i);
  c.join_sent_ns = join_started;
}

}  // namespace craft::bench::detail
