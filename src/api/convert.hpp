// Between the store's structs (JSON as text) and the API's protobuf messages (JSON as
// google.protobuf.Struct), and from store errors to protocol error codes.
#pragma once
#include "api/api_service.hpp"

#include <google/protobuf/struct.pb.h>

#include <optional>
#include <string>
#include <string_view>

namespace craft::api {

inline CallError bad_request(std::string message) { return {v1::BAD_REQUEST, std::move(message)}; }
CallError from_store(const store::Error& e);

// Compact JSON text of an object; "{}" for an empty one.
std::string to_json(const google::protobuf::Struct& s);
// False if `json` is not a JSON object.
bool from_json(std::string_view json, google::protobuf::Struct* out);

void to_proto(const store::Account& a, v1::Account* out);
void to_proto(const store::StorageObject& o, v1::StorageObject* out);
void to_proto(const store::LeaderboardRecord& r, v1::LeaderboardRecord* out);

}  // namespace craft::api
