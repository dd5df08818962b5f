// The shared room directory's text formats (docs/cluster.md, "The room directory"): one room's
// entry as stored in Redis (hash craft:rooms:<node>, field = room id), and the "dir" bus
// message that carries entries and removals to every node.
//
// Labels and metadata are free text (tabs and newlines included), so every field is
// length-prefixed: `<decimal length>:<bytes>`, one after another, no separators. What is read
// back may come from anything that can write to Redis: lengths are checked against what is
// left before anything is copied, counts before anything loops, numbers go through
// from_chars, text must be UTF-8, and anything that does not parse is refused whole.
#pragma once
#include "presence/room_directory.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace craft::cluster {

// An entry as it travels: the listing, plus who wrote it and in which order.
struct StoredEntry {
  presence::RoomEntry entry;    // entry.node: the owner
  uint64_t incarnation = 0;     // the owner's process start: a restarted node's old rooms are dropped
  uint64_t rev = 0;             // the owner's write order: an older read never replaces a newer entry
};

struct EntryLimits {
  size_t max_bytes = 36'864;    // cluster.max_room_entry_bytes: one encoded entry
  uint32_t max_metadata = 32;   // rooms.max_metadata
};

// Room ids as the directory accepts them: 1-64 of [A-Za-z0-9_-] (World makes 12 alphanumerics).
bool valid_room_id(std::string_view id);

// Fields: version "1", id, type, node, incarnation, rev, created, clients, max_clients, flags
// ("l" locked, "p" private), label, metadata count, then per key: key, kind ('s' text,
// 'n' number, 'b' boolean) followed by the value.
std::string encode_room_entry(const StoredEntry& e);
std::optional<StoredEntry> decode_room_entry(std::string_view text, const EntryLimits& limits);

// A "dir" bus message: version "1", the sender's incarnation, then records: "c" + an encoded
// entry (changed or new), or "r" + a room id (removed). The sender is the bus message's
// `from`, which every entry's node must equal.
struct DirectoryMessage {
  uint64_t incarnation = 0;
  std::vector<std::string> changed;  // encoded entries
  std::vector<std::string> removed;  // room ids
};
// Splits into messages of at most `max_bytes` each (one entry always fits: max_bytes is
// checked against cluster.max_room_entry_bytes at start). Always at least one message, so
// an empty message still announces the incarnation.
std::vector<std::string> encode_directory_messages(const DirectoryMessage& m, size_t max_bytes);
// nullopt for anything malformed; entries inside are still undecoded (decode_room_entry).
std::optional<DirectoryMessage> decode_directory_message(std::string_view text, size_t max_bytes);

}  // namespace craft::cluster
