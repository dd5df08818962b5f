#include "api/convert.hpp"

#include <google/protobuf/util/json_util.h>

namespace craft::api {

CallError from_store(const store::Error& e) {
  using store::Errc;
  std::string message = e.message;
  if (e.index >= 0) message = "item " + std::to_string(e.index) + ": " + message;
  switch (e.code) {
    case Errc::not_found: return {v1::NOT_FOUND, message};
    case Errc::conflict: return {v1::VERSION_CONFLICT, message};
    case Errc::already_exists: return {v1::ALREADY_EXISTS, message};
    case Errc::permission_denied: return {v1::PERMISSION_DENIED, message};
    case Errc::invalid: return {v1::BAD_REQUEST, message};
    case Errc::unavailable: return {v1::UNAVAILABLE, "database unavailable"};
  }
  return {v1::INTERNAL, message};
}

std::string to_json(const google::protobuf::Struct& s) {
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(s, &out).ok() || out.empty()) return "{}";
  return out;
}

bool from_json(std::string_view json, google::protobuf::Struct* out) {
  if (json.empty()) {
    out->Clear();
    return true;
  }
  return google::protobuf::util::JsonStringToMessage(std::string(json), out).ok();
}

void to_proto(const store::Account& a, v1::Account* out) {
  out->set_id(a.id);
  out->set_username(a.username);
  out->set_display_name(a.display_name);
  from_json(a.metadata, out->mutable_metadata());
  out->set_email(a.email);
  for (const auto& link : a.links) {
    if (link.kind == "device") out->add_device_ids(link.value);
    if (link.kind == "custom") out->add_custom_ids(link.value);
  }
  out->set_banned(a.banned);
  out->set_create_time(a.create_time);
  out->set_update_time(a.update_time);
}

void to_proto(const store::StorageObject& o, v1::StorageObject* out) {
  out->set_collection(o.collection);
  out->set_key(o.key);
  out->set_owner_id(o.owner);
  from_json(o.value, out->mutable_value());
  out->set_version(o.version);
  out->set_permission_read(static_cast<int32_t>(o.read));
  out->set_permission_write(static_cast<int32_t>(o.write));
  out->set_create_time(o.create_time);
  out->set_update_time(o.update_time);
}

void to_proto(const store::LeaderboardRecord& r, v1::LeaderboardRecord* out) {
  out->set_leaderboard_id(r.leaderboard_id);
  out->set_owner_id(r.owner_id);
  out->set_username(r.username);
  out->set_score(r.score);
  out->set_subscore(r.subscore);
  out->set_num_score(r.num_score);
  from_json(r.metadata, out->mutable_metadata());
  out->set_rank(r.rank);
  out->set_create_time(r.create_time);
  out->set_update_time(r.update_time);
}

}  // namespace craft::api
