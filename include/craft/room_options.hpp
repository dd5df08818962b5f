// Reading a room's options — the text a client sends in room_create, room_join and
// room_join_or_create, JSON by convention — without trusting it. A linear-time size and
// nesting check runs before a real JSON parser (protobuf's), and each value is checked for
// type and range; nothing here throws, recurses on the input or uses a regex.
//
//   void on_create(std::string_view text) override {
//     craft::RoomOptions options(text);
//     auto rate = options.whole_number("tickRate", 1, 240);  // nullopt when absent
//     if (!options.ok()) return reject_create(options.error());
//     set_tick_rate(rate.value_or(30));
//   }
#pragma once
#include <craft/value.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace google::protobuf {
class Struct;
class Value;
}

namespace craft {

class RoomOptions {
 public:
  static constexpr size_t max_bytes = 4096;  // longer options are refused before parsing
  static constexpr size_t max_depth = 8;     // nested objects/arrays, the outer object included

  // Empty or all-blank text is an empty object. Anything else must be one JSON object;
  // protobuf's parser also lets through a trailing comma and unquoted keys (harmless here:
  // the values read are still exactly typed), single quotes are refused.
  explicit RoomOptions(std::string_view json);
  ~RoomOptions();
  RoomOptions(RoomOptions&&) noexcept;
  RoomOptions& operator=(RoomOptions&&) noexcept;

  bool ok() const { return error_.empty(); }
  // The first problem found, for Room::reject_create, e.g.
  // "option tickRate must be a whole number from 1 to 240".
  const std::string& error() const { return error_; }
  bool has(std::string_view key) const;

  // Each getter: nullopt when the key is absent (or the text did not parse). A value of the
  // wrong type or out of range records an error (first one wins) and also gives nullopt.
  // Whole numbers are limited to ±2^53, where a JSON number is still exact.
  std::optional<int64_t> whole_number(std::string_view key, int64_t min, int64_t max);
  std::optional<double> number(std::string_view key, double min, double max);
  std::optional<std::string> text(std::string_view key, size_t max_text_bytes);
  std::optional<bool> boolean(std::string_view key);
  // Text (at most max_text_bytes), a finite number or a boolean, as a craft::Value; an
  // object, array or null records an error (join_or_create's filter keys use this).
  std::optional<Value> scalar(std::string_view key, size_t max_text_bytes);

 private:
  const google::protobuf::Value* find(std::string_view key) const;
  void set_error(std::string message);

  std::unique_ptr<google::protobuf::Struct> fields_;
  std::string error_;
};

}  // namespace craft
