// A tiny helper for rooms that speak JSON to their clients (chat messages, snapshots):
// appends `text` to `out` as a quoted, escaped JSON string. Invalid UTF-8 is passed through;
// validate text from players first (the chat room does).
#pragma once
#include <cstdio>
#include <string>
#include <string_view>

namespace craft::json {

inline void append_string(std::string& out, std::string_view text) {
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace craft::json
