#include <craft/room_options.hpp>

#include "protocol/json_check.hpp"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace craft {

namespace {

constexpr double max_exact = 9007199254740992.0;  // 2^53

bool is_blank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
  }
  return true;
}

struct Shape {
  size_t depth = 0;         // the deepest nesting of objects and arrays outside strings
  bool single_quote = false;  // protobuf's parser takes 'text'; JSON does not
};

// One pass, no recursion, before any parser sees the text.
Shape shape_of(std::string_view s) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false, single_quote = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '\'') {
      single_quote = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return {deepest, single_quote};
}

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

RoomOptions::RoomOptions(std::string_view json) : fields_(std::make_unique<google::protobuf::Struct>()) {
  // The size first: 40,000 blanks are as much work as 40,000 of anything else.
  if (json.size() > max_bytes) {
    set_error("options are limited to " + std::to_string(max_bytes) + " bytes");
    return;
  }
  if (is_blank(json)) return;
  auto shape = shape_of(json);
  if (shape.depth > max_depth) {
    set_error("options are limited to " + std::to_string(max_depth) + " levels of nesting");
    return;
  }
  // Strict RFC 8259 (protocol/json_check.hpp) before protobuf's parser, which would also take
  // trailing commas and unquoted keys.
  if (shape.single_quote || !protocol::check_json(json, max_depth)) {
    set_error("options are not a valid JSON object");
    return;
  }
  auto status = google::protobuf::util::JsonStringToMessage(google::protobuf::StringPiece(json.data(), json.size()),
                                                            fields_.get());
  if (!status.ok()) {
    fields_->Clear();
    set_error("options are not a valid JSON object");
  }
}

RoomOptions::~RoomOptions() = default;
RoomOptions::RoomOptions(RoomOptions&&) noexcept = default;
RoomOptions& RoomOptions::operator=(RoomOptions&&) noexcept = default;

void RoomOptions::set_error(std::string message) {
  if (error_.empty()) error_ = std::move(message);
}

const google::protobuf::Value* RoomOptions::find(std::string_view key) const {
  const auto& map = fields_->fields();
  auto it = map.find(std::string(key));
  return it == map.end() ? nullptr : &it->second;
}

bool RoomOptions::has(std::string_view key) const { return find(key) != nullptr; }

std::optional<int64_t> RoomOptions::whole_number(std::string_view key, int64_t min, int64_t max) {
  auto* v = find(key);
  if (!v) return std::nullopt;
  double d = v->kind_case() == google::protobuf::Value::kNumberValue ? v->number_value() : NAN;
  // Compared as doubles before any conversion, so no value can overflow the cast.
  double lo = std::max(static_cast<double>(min), -max_exact), hi = std::min(static_cast<double>(max), max_exact);
  if (!std::isfinite(d) || std::floor(d) != d || d < lo || d > hi) {
    set_error("option " + std::string(key) + " must be a whole number from " + std::to_string(min) + " to " +
              std::to_string(max));
    return std::nullopt;
  }
  return static_cast<int64_t>(d);
}

std::optional<double> RoomOptions::number(std::string_view key, double min, double max) {
  auto* v = find(key);
  if (!v) return std::nullopt;
  double d = v->kind_case() == google::protobuf::Value::kNumberValue ? v->number_value() : NAN;
  if (!std::isfinite(d) || d < min || d > max) {
    set_error("option " + std::string(key) + " must be a number from " + format_number(min) + " to " +
              format_number(max));
    return std::nullopt;
  }
  return d;
}

std::optional<std::string> RoomOptions::text(std::string_view key, size_t max_text_bytes) {
  auto* v = find(key);
  if (!v) return std::nullopt;
  if (v->kind_case() != google::protobuf::Value::kStringValue || v->string_value().size() > max_text_bytes) {
    set_error("option " + std::string(key) + " must be a string of at most " + std::to_string(max_text_bytes) +
              " bytes");
    return std::nullopt;
  }
  return v->string_value();
}

std::optional<bool> RoomOptions::boolean(std::string_view key) {
  auto* v = find(key);
  if (!v) return std::nullopt;
  if (v->kind_case() != google::protobuf::Value::kBoolValue) {
    set_error("option " + std::string(key) + " must be true or false");
    return std::nullopt;
  }
  return v->bool_value();
}

}  // namespace craft

namespace craft {

std::optional<Value> RoomOptions::scalar(std::string_view key, size_t max_text_bytes) {
  auto* v = find(key);
  if (!v) return std::nullopt;
  switch (v->kind_case()) {
    case google::protobuf::Value::kStringValue:
      if (v->string_value().size() <= max_text_bytes) return Value{v->string_value()};
      break;
    case google::protobuf::Value::kNumberValue:
      if (std::isfinite(v->number_value())) return Value{v->number_value()};
      break;
    case google::protobuf::Value::kBoolValue: return Value{v->bool_value()};
    default: break;
  }
  set_error("option " + std::string(key) + " must be a string of at most " + std::to_string(max_text_bytes) +
            " bytes, a finite number or true/false");
  return std::nullopt;
}

}  // namespace craft
