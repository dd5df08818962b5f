// The tally room in a real server, in this process, on a free loopback port: two players
// over WebSocket (JSON text frames), then the graceful stop on SIGTERM.
#include "../tally_room.hpp"
#include "ws_client.hpp"

#include <craft/builtin_rooms.hpp>
#include <craft/server.hpp>
#include <craft/signals.hpp>

#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

using tally::test::WsClient;

namespace {

int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

craft::ServerConfig test_config() {
  craft::ServerConfig config;  // defaults: loopback, nothing written to disk
  config.http_port = 0;        // a free port; Server::http_port() says which
  config.tcp_enabled = false;
  config.shards = 1;
  config.log_level = "warn";
  return config;
}

// hello, then join (or create) the tally room; returns the room id.
std::string join(WsClient& ws, const std::string& name, std::string* state = nullptr) {
  ws.send_text(R"({"cid":1,"hello":{"name":")" + name + R"("}})");
  CHECK(ws.receive_until("\"welcome\"").has_value());
  ws.send_text(R"({"cid":2,"roomJoinOrCreate":{"type":"tally"}})");
  auto joined = ws.receive_until("\"roomJoined\"");
  CHECK(joined.has_value());
  if (!joined) return "";
  if (state) *state = tally::test::unbase64(tally::test::json_string(*joined, "state"));
  return tally::test::json_string(*joined, "roomId");
}

void add(WsClient& ws, const std::string& room, int cid, const std::string& number) {
  ws.send_text(R"({"cid":)" + std::to_string(cid) + R"(,"roomData":{"roomId":")" + room +
               R"(","op":1,"data":")" + tally::test::base64(number) + R"("}})");
}

// The total carried by the next room_data with op 2.
std::string next_total(WsClient& ws) {
  auto data = ws.receive_until("\"roomData\"");
  CHECK(data.has_value());
  if (!data) return "";
  CHECK(data->find("\"op\":2") != std::string::npos);
  return tally::test::unbase64(tally::test::json_string(*data, "data"));
}

void players_share_a_total() {
  craft::Server server(test_config());
  craft::define_builtin_rooms(server);
  server.define_room<tally::TallyRoom>("tally");
  server.start();
  {
    WsClient ann(server.http_port()), bob(server.http_port());
    std::string room = join(ann, "ann");
    CHECK(!room.empty());
    add(ann, room, 3, "5");
    CHECK(next_total(ann) == "5");

    std::string state;
    CHECK(join(bob, "bob", &state) == room);
    CHECK(state == "5");  // join state: the total so far
    add(bob, room, 3, "-2");
    CHECK(next_total(ann) == "3");
    CHECK(next_total(bob) == "3");

    add(bob, room, 4, "12abc");  // hostile input: refused, the total unchanged
    auto error = bob.receive_until("\"error\"");
    CHECK(error && error->find("BAD_REQUEST") != std::string::npos && error->find("\"cid\":4") != std::string::npos);

    server.stop();  // graceful: every client gets close code 1001
    CHECK(!ann.receive_until("never sent"));
    CHECK(ann.close_code() == 1001);
  }
  server.wait();
}

void sigterm_stops_run_until_signal() {
  // Blocked here first, so the server thread is born with SIGTERM blocked and the signal
  // waits for its sigwait however early it is sent.
  craft::SignalWaiter block_here({SIGTERM});
  int result = 0;
  craft::Server server(test_config());
  server.define_room<tally::TallyRoom>("tally");
  std::thread runner([&] { result = craft::run_until_signal(server); });
  pthread_kill(runner.native_handle(), SIGTERM);
  runner.join();  // hangs (and ctest's timeout fails the test) if the signal is not taken
  CHECK(result == SIGTERM);
}

}  // namespace

int main() {
  players_share_a_total();
  sigterm_stops_run_until_signal();
  std::printf("%s\n", failures == 0 ? "tally_test: all checks passed" : "tally_test: FAILED");
  return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
