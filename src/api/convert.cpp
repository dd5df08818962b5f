#include "api/convert.hpp"

#include "protocol/json_check.hpp"

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

std::variant<std::string, CallError> json_object_text(std::string_view text, std::string_view what,
                                                      uint32_t max_depth, uint32_t max_bytes) {
  if (text.empty()) return std::string("{}");
  if (text.size() > max_bytes)
    return bad_request(std::string(what) + ": larger than store.max_value_bytes (" + std::to_string(max_bytes) + ")");
  auto checked = protocol::check_json(text, max_depth);
  if (!checked)
    return bad_request(std::string(what) + ": " + checked.error + " at byte " + std::to_string(checked.offset) +
                       " (strict JSON, at most limits.max_json_depth = " + std::to_string(max_depth) + " deep)");
  if (checked.top != '{') return bad_request(std::string(what) + ": must be a JSON object");
  return std::string(text);
}

void to_proto(const store::Account& a, v1::Account* out) {
  out->set_id(a.id);
  out->set_username(a.username);
  out->set_display_name(a.display_name);
  out->set_metadata(a.metadata);
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
  out->set_value(o.value);
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
  out->set_metadata(r.metadata);
  out->set_rank(r.rank);
  out->set_create_time(r.create_time);
  out->set_update_time(r.update_time);
}

}  // namespace craft::api
