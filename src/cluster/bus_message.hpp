// The bus's wire format (docs/cluster.md, "Node-to-node messages"): one Redis pub/sub message
// on `craft:to:<node>` or `craft:all`, text, tab-separated:
//   1 \t <type> \t <kind> \t <from> \t <id> \t <payload>
// `1` the format version; <type> `m` (message), `q` (request), `r` (response); <kind> 1-32 of
// [a-z0-9_.]; <from> the sender's node id; <id> a decimal request number (0 for `m`); the
// payload is the rest, opaque, and may itself hold tabs. Everything read back is parsed like
// network input: a message from Redis may come from anything that can PUBLISH.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace craft::cluster {

struct BusMessage {
  enum class Type : char { message = 'm', request = 'q', response = 'r' };
  Type type = Type::message;
  std::string kind;
  std::string from;
  uint64_t id = 0;
  std::string payload;
};

bool valid_bus_kind(std::string_view kind);
std::string encode_bus_message(const BusMessage& m);
// nullopt for anything that is not exactly one message of at most `max_bytes` bytes.
std::optional<BusMessage> decode_bus_message(std::string_view text, size_t max_bytes);

}  // namespace craft::cluster
