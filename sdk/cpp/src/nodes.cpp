// The cluster side of Client (docs/cluster.md "Joining a room on another node", protocol.md
// §4.21): a join answered with room_redirect, or a match whose room_url names another node,
// is joined over a connection of this Client's to that node. Each such connection is a
// Client of its own (its own session, resume and rooms), owned by the home Client, which
// routes every room call to it, reads every socket with one ::poll and hands their events
// out with its own; it is closed when its last room is gone, and reported when it is lost.
#include "craft/client.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>

namespace craft::client {

namespace {

int poll_ms(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT_MAX));
}

v1::Envelope room_left(const std::string& room_id, const char* reason) {
  v1::Envelope e;
  e.mutable_room_left()->set_room_id(room_id);
  e.mutable_room_left()->set_reason(reason);
  return e;
}

}  // namespace

Redirected::Redirected(v1::RoomRedirect r)
    : std::runtime_error("room " + r.room_id() + " is on node " + r.node() + " at " + r.url()), redirect(std::move(r)) {}

Options options_for_url(const std::string& url, Options base) {
  constexpr std::string_view scheme = "ws://";
  if (url.compare(0, scheme.size(), scheme) != 0) throw std::invalid_argument("not a ws:// URL: " + url.substr(0, 200));
  std::string_view rest(url);
  rest.remove_prefix(scheme.size());
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  base.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  std::string_view host, port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("bad IPv6 host in " + url.substr(0, 200));
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw std::invalid_argument("bad port in " + url.substr(0, 200));
      port = authority.substr(close + 2);
    }
  } else {
    auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (host.empty()) throw std::invalid_argument("no host in " + url.substr(0, 200));
  uint32_t number = 80;
  if (!port.empty()) {
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc{} || end != port.data() + port.size() || number == 0 || number > 65535)
      throw std::invalid_argument("bad port in " + url.substr(0, 200));
  }
  base.host = std::string(host);
  base.port = static_cast<uint16_t>(number);
  base.transport = Transport::websocket;
  return base;
}

Followed follow_redirect(const v1::RoomRedirect& redirect, const Options& base, std::string name, std::string token,
                         std::string options) {
  Followed f;
  auto o = options_for_url(redirect.url(), base);
  o.follow_redirects = false;  // one hop: a node that redirects again is misconfigured
  f.client = std::make_unique<Client>(std::move(o));
  f.client->connect();
  f.client->hello(std::move(name), std::move(token));
  f.joined = f.client->join_reserved(redirect.room_id(), redirect.reservation(), std::move(options));
  return f;
}

v1::RoomJoined Client::join_match(const v1::MatchFound& match, std::string options) {
  if (options_.follow_redirects && !home_ && !match.room_url().empty())
    return join_on_node(match.room_url(), match.room_id(), match.reservation(), options);
  v1::Envelope e;
  auto* j = e.mutable_room_join();
  j->set_room_id(match.room_id());
  j->set_options(std::move(options));
  j->set_reservation(match.reservation());
  return expect_joined(std::move(e));
}

v1::RoomJoined Client::join_reserved(std::string room_id, std::string reservation, std::string options) {
  v1::Envelope e;
  auto* j = e.mutable_room_join();
  j->set_room_id(std::move(room_id));
  j->set_options(std::move(options));
  j->set_reservation(std::move(reservation));
  return expect_joined(std::move(e));
}

Client* Client::node_for(const std::string& url) {
  Options o = options_for_url(url, options_);
  // A node may name itself (a match's room_url, a misconfigured advertise): no second connection.
  if (options_.transport == Transport::websocket && o.host == options_.host && o.port == options_.port &&
      o.path == options_.path)
    return this;
  if (auto it = nodes_.find(url); it != nodes_.end()) {
    if (!it->second->closed_ && it->second->fd_ >= 0) return it->second.get();
    reap_nodes();  // a lost one is reported before another takes its place
  }
  o.follow_redirects = false;
  auto node = std::make_unique<Client>(std::move(o));
  node->home_ = this;
  Client* raw = node.get();
  node->on_connection = [this, raw, url](const ConnectionEvent& event) {
    ConnectionEvent told = event;
    told.node_url = url;
    // Rooms a fresh session on the node could not rejoin are out, as if left.
    if (event.kind == ConnectionEvent::Kind::restarted)
      for (const auto& room : event.lost_rooms) raw->inbox_.push_back(room_left(room, "rejoin failed"));
    emit(told);
  };
  node->connect();
  node->hello(name_, token_);  // the same token: a logged-in player's seat is bound to the account
  return nodes_.emplace(url, std::move(node)).first->second.get();
}

v1::RoomJoined Client::join_on_node(const std::string& url, const std::string& room_id,
                                    const std::string& reservation, const std::string& options) {
  Client* node = node_for(url);
  v1::Envelope e;
  auto* j = e.mutable_room_join();
  j->set_room_id(room_id);
  j->set_options(options);
  j->set_reservation(reservation);
  if (node == this) return expect_joined(std::move(e), Hop::followed);
  ++node->joining_;  // not closed as idle while its first room is on the way
  v1::RoomJoined joined;
  try {
    joined = node->expect_joined(std::move(e), Hop::followed);
  } catch (...) {
    --node->joining_;
    reap_nodes();
    throw;
  }
  --node->joining_;
  reap_nodes();
  return joined;
}

Client* Client::node_holding(const std::string& room_id) {
  for (auto& [url, node] : nodes_) {
    if (std::find(node->rooms_.begin(), node->rooms_.end(), room_id) != node->rooms_.end()) return node.get();
  }
  return nullptr;
}

std::string Client::node_of(const std::string& room_id) const {
  for (const auto& [url, node] : nodes_) {
    if (std::find(node->rooms_.begin(), node->rooms_.end(), room_id) != node->rooms_.end()) return url;
  }
  return "";
}

std::vector<std::string> Client::rooms() const {
  std::vector<std::string> all = rooms_;
  for (const auto& [url, node] : nodes_) all.insert(all.end(), node->rooms_.begin(), node->rooms_.end());
  return all;
}

std::vector<std::string> Client::node_urls() const {
  std::vector<std::string> urls;
  for (const auto& [url, node] : nodes_) urls.push_back(url);
  return urls;
}

std::vector<int> Client::native_handles() const {
  std::vector<int> fds;
  if (fd_ >= 0) fds.push_back(fd_);
  for (const auto& [url, node] : nodes_) {
    if (node->fd_ >= 0) fds.push_back(node->fd_);
  }
  return fds;
}

bool Client::any_open() const { return (fd_ >= 0 && !closed_) || !nodes_.empty(); }

Client::Clock::time_point Client::wake_at(Clock::time_point deadline) const {
  auto wake = deadline;
  if (Clock::time_point due; ack_due(due)) wake = std::min(wake, due);
  if (options_.silence_timeout.count() > 0 && managed() && established_)
    wake = std::min(wake, last_received_ + options_.silence_timeout);
  return wake;
}

bool Client::read_all(std::chrono::milliseconds timeout) {
  if (nodes_.empty()) return read_some(timeout);
  auto deadline = Clock::now() + std::max(timeout, std::chrono::milliseconds(0));
  bool arrived = false;
  std::vector<Client*> open;
  std::vector<pollfd> fds;
  for (;;) {
    open.clear();
    fds.clear();
    auto wake = deadline;
    auto add = [&](Client* c) {
      if (c->fd_ < 0 || c->closed_) return;
      open.push_back(c);
      fds.push_back(pollfd{c->fd_, POLLIN, 0});
      wake = std::min(wake, c->wake_at(deadline));
    };
    add(this);
    for (auto& [url, node] : nodes_) add(node.get());
    if (open.empty()) break;
    int rc = ::poll(fds.data(), fds.size(), poll_ms(wake));
    if (rc < 0 && errno != EINTR) break;
    auto now = Clock::now();
    // Each connection reads (and acks, and notices silence, and resumes) as it does alone;
    // nothing here adds or removes a node connection, so `open` stays valid.
    for (size_t i = 0; i < open.size(); ++i) {
      bool ready = rc > 0 && fds[i].revents != 0;
      if (!ready && open[i]->wake_at(deadline) > now) continue;
      arrived = open[i]->read_some(std::chrono::milliseconds(0)) || arrived;
      // A connection that ended is news too: its rooms are reported below, not at the deadline.
      arrived = arrived || open[i]->closed_;
    }
    if (arrived || now >= deadline) break;
  }
  reap_nodes();
  return arrived;
}

void Client::reap_nodes() {
  std::vector<ConnectionEvent> lost;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    Client& node = *it->second;
    for (auto& e : node.inbox_) {
      // A node's goodbye is not the game's business: node_lost below carries its code.
      if (!e.has_disconnect()) node_inbox_.push_back(std::move(e));
    }
    node.inbox_.clear();
    if (node.joining_ > 0) {
      ++it;
    } else if (node.closed_ || node.fd_ < 0) {
      // Gone for good: resumes (if the session is resumable) have been tried and failed.
      if (!node.rooms_.empty()) {
        ConnectionEvent event;
        event.kind = ConnectionEvent::Kind::node_lost;
        event.node_url = it->first;
        event.close_code = node.close_code_;
        event.error = node.close_reason_;
        event.lost_rooms = node.rooms_;
        for (const auto& room : node.rooms_) node_inbox_.push_back(room_left(room, "node lost"));
        lost.push_back(std::move(event));
      }
      it = nodes_.erase(it);
    } else if (node.rooms_.empty()) {
      node.close();  // what it reads while closing concerns no room of ours
      it = nodes_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& event : lost) emit(event);
}

}  // namespace craft::client
