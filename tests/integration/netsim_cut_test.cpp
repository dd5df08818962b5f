// The network simulator's broken networks (tests/integration/netsim.hpp): cut() ends both sides
// at once, blackhole() silences a connection without closing it. Plain sessions, so what the
// server and the client see is the network's doing alone.
#include "helpers.hpp"
#include "netsim.hpp"

using namespace craft;
using namespace craft::testing;

namespace {

std::unique_ptr<Client> hello_via(uint16_t port, const std::string& name, Transport transport) {
  client::Options o;
  o.port = port;
  o.transport = transport;
  auto c = std::make_unique<Client>(o);
  c->connect();
  c->hello(name);
  return c;
}

bool saw_leave(Client& watcher, uint64_t session, std::chrono::milliseconds timeout) {
  return watcher
      .wait_for(
          [&](const v1::Envelope& e) {
            if (!e.has_presence()) return false;
            for (const auto& p : e.presence().leaves())
              if (p.session_id() == session) return true;
            return false;
          },
          timeout)
      .has_value();
}

}  // namespace

TEST(NetSimCut, ACutEndsBothSidesWithoutAGoodbyeAndLaterConnectionsPass) {
  CraftdProcess server;
  auto watcher = hello(server, "watcher");
  auto room = watcher->create("relay").room_id();
  for (auto how : {NetSimProxy::Cut::reset, NetSimProxy::Cut::close}) {
    for (auto t : {Transport::websocket, Transport::tcp}) {
      SCOPED_TRACE(std::string(how == NetSimProxy::Cut::reset ? "reset " : "close ") +
                   (t == Transport::tcp ? "tcp" : "websocket"));
      NetSimProxy net(t == Transport::tcp ? server.tcp_port() : server.http_port(), 0ms, 0ms, 31);
      auto c = hello_via(net.port(), "cut", t);
      c->join(room);
      net.cut(how);
      EXPECT_EQ(c->wait_closed(2s), 0) << "the client heard of the cut from the server";
      EXPECT_TRUE(saw_leave(*watcher, c->session_id(), 2s)) << "the server did not see the connection end";
      auto later = hello_via(net.port(), "later", t);
      EXPECT_NO_THROW(later->ping());
      EXPECT_EQ(net.accepted(), 2);
    }
  }
}

TEST(NetSimCut, ABlackholeForwardsNothingEitherWayAndClosesNothing) {
  CraftdProcess server;
  auto watcher = hello(server, "watcher");
  auto room = watcher->create("relay").room_id();
  for (auto t : {Transport::websocket, Transport::tcp}) {
    SCOPED_TRACE(t == Transport::tcp ? "tcp" : "websocket");
    NetSimProxy net(t == Transport::tcp ? server.tcp_port() : server.http_port(), 0ms, 0ms, 32);
    auto c = hello_via(net.port(), "silent", t);
    c->join(room);
    c->send(room, 1, "before");
    auto before = next_room_data(*watcher);
    ASSERT_TRUE(before);
    EXPECT_EQ(before->data(), "before");

    net.blackhole();
    c->send(room, 1, "into the hole");
    watcher->send(room, 1, "out of reach");
    EXPECT_FALSE(next_room_data(*watcher, 300ms)) << "the blackhole let the client's message through";
    EXPECT_FALSE(c->next_event(300ms)) << "the blackhole let the server's message through";
    EXPECT_FALSE(c->is_closed());
    EXPECT_FALSE(saw_leave(*watcher, c->session_id(), 100ms)) << "the server saw the silent peer go";

    net.cut();  // and the network finally gives up on it
    EXPECT_EQ(c->wait_closed(2s), 0);
    EXPECT_TRUE(saw_leave(*watcher, c->session_id(), 2s));
  }
}
