// Between the store's structs and the API's protobuf messages (JSON values are text in
// both, kept byte for byte), and from store errors to protocol error codes.
#pragma once
#include "api/api_service.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace craft::api {

inline CallError bad_request(std::string message) { return {v1::BAD_REQUEST, std::move(message)}; }
CallError from_store(const store::Error& e);

// The text to store for a client's JSON value (storage value, metadata): "{}" for "", else
// `text` itself if it is one strict RFC 8259 JSON object (protocol/json_check.hpp) at most
// `max_depth` deep and `max_bytes` long; else BAD_REQUEST naming `what` and the byte offset.
std::variant<std::string, CallError> json_object_text(std::string_view text, std::string_view what,
                                                      uint32_t max_depth, uint32_t max_bytes);

void to_proto(const store::Account& a, v1::Account* out);
void to_proto(const store::StorageObject& o, v1::StorageObject* out);
void to_proto(const store::LeaderboardRecord& r, v1::LeaderboardRecord* out);

}  // namespace craft::api
