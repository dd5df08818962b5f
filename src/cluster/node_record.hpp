// What one node says about itself in Redis (key craft:node:<id>, docs/cluster.md "Keys"):
// one line of tab-separated fields, so every reader parses it without a JSON parser and
// `redis-cli GET` shows it as it is. Values read back from Redis are checked like any
// input from the network: a record that does not parse is skipped, never trusted.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace craft::cluster {

struct NodeRecord {
  std::string id;            // cluster.node_id
  std::string advertise;     // cluster.advertise: where clients reach this node
  int64_t started_ms = 0;    // wall time the node started, ms since the Unix epoch
  uint64_t rooms = 0;        // rooms alive on the node at its last heartbeat
  uint64_t connections = 0;  // open connections at its last heartbeat
  // Server::drain() has begun: send no new rooms or players here (docs/cluster.md).
  bool draining = false;
};

constexpr size_t max_node_id_bytes = 64;
constexpr size_t max_advertise_bytes = 512;

// Node ids: 1-64 of [A-Za-z0-9._-] (they are part of Redis keys and channel messages).
bool valid_node_id(std::string_view id);
// An advertise URL: 1-512 printable ASCII characters, no spaces.
bool valid_advertise(std::string_view url);

// "1\t<id>\t<advertise>\t<started_ms>\t<rooms>\t<connections>" plus "\tdraining" while the
// node drains (the leading 1 is the format's version; a reader skips versions it does not know).
std::string encode_node_record(const NodeRecord& r);
std::optional<NodeRecord> decode_node_record(std::string_view text);

}  // namespace craft::cluster
