// Shared bits for integration tests: clients connected to a CraftdProcess.
#pragma once
#include "craftd_process.hpp"

#include <craft/client.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace craft::testing {

using namespace std::chrono_literals;
using client::Client;
using client::Format;
using client::Transport;

inline std::unique_ptr<Client> connect(const CraftdProcess& server, Transport transport = Transport::websocket,
                                       Format format = Format::binary) {
  client::Options o;
  o.port = transport == Transport::tcp ? server.tcp_port() : server.http_port();
  o.transport = transport;
  o.format = format;
  auto c = std::make_unique<Client>(o);
  c->connect();
  return c;
}

inline std::unique_ptr<Client> hello(const CraftdProcess& server, const std::string& name,
                                     Transport transport = Transport::websocket, Format format = Format::binary) {
  auto c = connect(server, transport, format);
  c->hello(name);
  return c;
}

// The next room_data event, skipping presence and other events.
inline std::optional<v1::RoomData> next_room_data(Client& c, std::chrono::milliseconds timeout = 3000ms) {
  auto e = c.wait_for([](const v1::Envelope& x) { return x.has_room_data(); }, timeout);
  if (!e) return std::nullopt;
  return e->room_data();
}

inline std::optional<v1::Error> next_error(Client& c, std::chrono::milliseconds timeout = 3000ms) {
  auto e = c.wait_for([](const v1::Envelope& x) { return x.has_error(); }, timeout);
  if (!e) return std::nullopt;
  return e->error();
}

// A room of three: `victim` will misbehave, `sender` and `observer` prove the room survives.
struct RoomOfThree {
  std::unique_ptr<Client> victim, sender, observer;
  std::string room_id;

  explicit RoomOfThree(const CraftdProcess& server, Transport victim_transport = Transport::websocket,
                       Format victim_format = Format::binary) {
    sender = hello(server, "sender");
    room_id = sender->create("relay").room_id();
    observer = hello(server, "observer");
    observer->join(room_id);
    victim = hello(server, "victim", victim_transport, victim_format);
    victim->join(room_id);
  }

  // The sender's next message reaches the observer.
  void expect_room_still_works(const std::string& payload = "still here") {
    sender->send(room_id, 9, payload);
    auto got = next_room_data(*observer);
    ASSERT_TRUE(got.has_value()) << "observer received nothing";
    EXPECT_EQ(got->data(), payload);
    EXPECT_EQ(got->sender(), sender->session_id());
  }
};

// A request's reply; an error reply is returned as the error envelope, not thrown.
inline v1::Envelope ask(Client& c, v1::Envelope e) {
  try {
    return c.request(std::move(e));
  } catch (const client::Error& error) {
    v1::Envelope reply;
    reply.mutable_error()->set_code(error.code);
    reply.mutable_error()->set_message(error.what());
    return reply;
  }
}

// matchmaker_add for a duel: 2 players, "+mode:duel", as the match tests queue it.
inline v1::Envelope duel_ticket() {
  v1::Envelope e;
  auto* a = e.mutable_matchmaker_add();
  a->set_min_count(2);
  a->set_max_count(2);
  a->set_query("+mode:duel");
  (*a->mutable_string_properties())["mode"] = "duel";
  return e;
}

}  // namespace craft::testing
