// Cross-node joins (--cross-node, and --join-or-create in a cluster): a join of a room that
// lives on another node is answered with room_redirect (docs/protocol.md §4.21; the cluster
// routing of docs/cluster.md). The client then does what the SDK does: keep this connection
// (a seat is given back when the session that asked for it ends), connect to the named node,
// hello, and room_join with the reservation; the first connection closes once that join is
// answered. The join
// latency runs from the first request to the final room_joined.
#include "generator_impl.hpp"

#include "proc.hpp"

#include <arpa/inet.h>
#include <sys/epoll.h>

#include <charconv>

namespace craft::bench::detail {

namespace {


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

void Generator::follow_redirect(uint32_t i, const std::string& url, std::string room_id, std::string reservation) {
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
  // Out of the epoll set but open: the node gives the seat back when this session ends.
  epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
  const int parked = c.fd;
  c.fd = -1;
  close_conn(c);
  c.parked_fd = parked;
  c.in.clear();
  c.out.clear();
  c.server_seq = c.server_seq_acked = 0;
  c.unacked_since_ns = 0;
  c.redirect_target = static_cast<int32_t>(index);
  c.reservation = std::move(reservation);
  c.redirect_room = std::move(room_id);
  start_connect(i);
  c.join_sent_ns = join_started;
}

}  // namespace craft::bench::detail
