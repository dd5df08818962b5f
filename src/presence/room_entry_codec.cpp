#include "presence/room_entry_codec.hpp"

#include "cluster/node_record.hpp"
#include "net/ws_codec.hpp"

#include <charconv>
#include <cmath>

namespace craft::cluster {

namespace {

constexpr size_t max_type_bytes = 128;
constexpr size_t max_key_bytes = 128;  // what read_filter accepts for a key: longer never matches

void field(std::string& out, std::string_view bytes) {
  out += std::to_string(bytes.size());
  out += ':';
  out += bytes;
}

void number_field(std::string& out, uint64_t n) { field(out, std::to_string(n)); }

// Reads length-prefixed fields off the front of a text; any malformed field fails the reader
// for good (ok() false), so callers check once at the end.
class Fields {
 public:
  explicit Fields(std::string_view text) : rest_(text) {}
  bool ok() const { return ok_; }
  bool empty() const { return rest_.empty(); }

  std::string_view next() {
    if (!ok_) return {};
    // At most 7 digits (lengths are far below 10 MB), then ':'; the length must fit in what
    // is left, so a hostile length never reads past the end.
    size_t colon = rest_.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 7) return fail();
    size_t n = 0;
    auto [end, ec] = std::from_chars(rest_.data(), rest_.data() + colon, n);
    if (ec != std::errc{} || end != rest_.data() + colon || n > rest_.size() - colon - 1) return fail();
    auto out = rest_.substr(colon + 1, n);
    rest_.remove_prefix(colon + 1 + n);
    return out;
  }

  template <typename T>
  T number() {
    auto s = next();
    T value{};
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) fail();
    return value;
  }

  std::string_view fail() {
    ok_ = false;
    rest_ = {};
    return {};
  }

 private:
  std::string_view rest_;
  bool ok_ = true;
};

bool good_text(std::string_view s, size_t max) { return s.size() <= max && ws::is_valid_utf8(s); }

}  // namespace

bool valid_room_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (unsigned char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string encode_room_entry(const StoredEntry& s) {
  const auto& e = s.entry;
  std::string out;
  field(out, "1");
  field(out, e.id);
  field(out, e.type);
  field(out, e.node);
  number_field(out, s.incarnation);
  number_field(out, s.rev);
  number_field(out, e.created);
  number_field(out, e.clients);
  number_field(out, e.max_clients);
  field(out, std::string(e.locked ? "l" : "") + (e.is_private ? "p" : ""));
  field(out, e.label);
  number_field(out, e.metadata.size());
  for (const auto& [key, value] : e.metadata) {
    field(out, key);
    if (auto* text = std::get_if<std::string>(&value)) {
      field(out, "s" + *text);
    } else if (auto* d = std::get_if<double>(&value)) {
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, *d);  // shortest text that reads back exactly
      field(out, "n" + std::string(buf, ec == std::errc{} ? end : buf));
    } else {
      field(out, std::get<bool>(value) ? "b1" : "b0");
    }
  }
  return out;
}

std::optional<StoredEntry> decode_room_entry(std::string_view text, const EntryLimits& limits) {
  if (text.size() > limits.max_bytes) return std::nullopt;
  Fields f(text);
  if (f.next() != "1") return std::nullopt;
  StoredEntry s;
  auto& e = s.entry;
  auto id = f.next(), type = f.next(), node = f.next();
  if (!f.ok() || !valid_room_id(id) || type.empty() || !good_text(type, max_type_bytes) || !valid_node_id(node)) {
    return std::nullopt;
  }
  e.id = std::string(id);
  e.type = std::string(type);
  e.node = std::string(node);
  s.incarnation = f.number<uint64_t>();
  s.rev = f.number<uint64_t>();
  e.created = f.number<uint64_t>();
  e.clients = f.number<uint32_t>();
  e.max_clients = f.number<uint32_t>();
  auto flags = f.next();
  if (flags != "" && flags != "l" && flags != "p" && flags != "lp") return std::nullopt;
  e.locked = flags.find('l') != std::string_view::npos;
  e.is_private = flags.find('p') != std::string_view::npos;
  auto label = f.next();
  if (!good_text(label, limits.max_bytes)) return std::nullopt;
  e.label = std::string(label);
  auto count = f.number<uint32_t>();
  if (!f.ok() || count > limits.max_metadata) return std::nullopt;
  for (uint32_t i = 0; i < count; ++i) {
    auto key = f.next(), value = f.next();
    if (!f.ok() || key.empty() || !good_text(key, max_key_bytes) || value.empty()) return std::nullopt;
    auto body = value.substr(1);
    Value v;
    switch (value[0]) {
      case 's':
        if (!good_text(body, limits.max_bytes)) return std::nullopt;
        v = std::string(body);
        break;
      case 'n': {
        double d = 0;
        auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), d);
        if (body.empty() || ec != std::errc{} || end != body.data() + body.size() || !std::isfinite(d)) {
          return std::nullopt;
        }
        v = d;
        break;
      }
      case 'b':
        if (body != "0" && body != "1") return std::nullopt;
        v = body == "1";
        break;
      default: return std::nullopt;
    }
    if (!e.metadata.emplace(std::string(key), std::move(v)).second) return std::nullopt;  // a key twice
  }
  if (!f.ok() || !f.empty()) return std::nullopt;
  return s;
}

std::vector<std::string> encode_directory_messages(const DirectoryMessage& m, size_t max_bytes) {
  std::vector<std::string> out;
  std::string header;
  field(header, "1");
  number_field(header, m.incarnation);
  std::string current = header;
  auto add = [&](std::string record) {
    std::string f;
    field(f, record);
    if (current.size() > header.size() && current.size() + f.size() > max_bytes) {
      out.push_back(std::move(current));
      current = header;
    }
    current += f;
  };
  for (const auto& id : m.removed) add("r" + id);
  for (const auto& entry : m.changed) add("c" + entry);
  out.push_back(std::move(current));
  return out;
}

std::optional<DirectoryMessage> decode_directory_message(std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes) return std::nullopt;
  Fields f(text);
  if (f.next() != "1") return std::nullopt;
  DirectoryMessage m;
  m.incarnation = f.number<uint64_t>();
  // Every record is at least 3 bytes ("1:r"), so the loop is bounded by the length checked above.
  while (f.ok() && !f.empty()) {
    auto record = f.next();
    if (record.empty()) return std::nullopt;
    auto body = record.substr(1);
    if (record[0] == 'c') {
      m.changed.emplace_back(body);
    } else if (record[0] == 'r' && valid_room_id(body)) {
      m.removed.emplace_back(body);
    } else {
      return std::nullopt;
    }
  }
  if (!f.ok()) return std::nullopt;
  return m;
}

}  // namespace craft::cluster
