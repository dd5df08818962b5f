// Storage objects: the caller writes and deletes its own objects and reads what permissions
// allow; versions give optimistic concurrency; batches are one transaction.
#include "api/api_service.hpp"
#include "api/convert.hpp"

#include <map>
#include <string_view>

namespace craft::api {

namespace {

std::optional<CallError> check_batch(int size, uint32_t max) {
  if (size == 0) return bad_request("no objects given");
  if (static_cast<uint32_t>(size) > max) return bad_request("more than store.max_batch (" + std::to_string(max) + ") objects");
  return std::nullopt;
}

}  // namespace

CallResult ApiService::storage_write(const v1::StorageWriteRequest& r, const CallContext& c) {
  auto who = caller(c);
  if (auto* e = std::get_if<CallError>(&who)) return *e;
  if (auto e = check_batch(r.objects_size(), config_.store.max_batch)) return *e;
  const auto& owner = std::get<Identity>(who).account_id;
  std::vector<store::ObjectWrite> writes;
  // Two writes of one object in a batch would both be acknowledged while only the last can be
  // read back: refuse the batch (a write is acknowledged only if its value reads back).
  std::map<std::pair<std::string_view, std::string_view>, int> seen;
  for (int i = 0; i < r.objects_size(); ++i) {
    const auto& o = r.objects(i);
    auto [at, fresh] = seen.emplace(std::pair<std::string_view, std::string_view>(o.collection(), o.key()), i);
    if (!fresh)
      return bad_request("item " + std::to_string(i) + ": the same collection and key as item " +
                         std::to_string(at->second) + " (one write per object in a batch)");
    int read = o.has_permission_read() ? o.permission_read().value() : 1;
    int write = o.has_permission_write() ? o.permission_write().value() : 1;
    if (read < 0 || read > 2 || write < 0 || write > 1)
      return bad_request("item " + std::to_string(i) + ": permissionRead is 0-2, permissionWrite 0-1");
    auto value = json_value(o.value(), "item " + std::to_string(i) + ": value");
    if (auto* e = std::get_if<CallError>(&value)) return *e;
    writes.push_back({o.collection(), o.key(), owner, std::move(std::get<std::string>(value)), o.version(),
                      static_cast<store::ReadPermission>(read), static_cast<store::WritePermission>(write)});
  }
  auto acks = store_->write_objects(store::Caller::user(owner), writes);
  if (!acks) return from_store(acks.error());
  v1::ApiResponse response;
  auto* out = response.mutable_storage_acks();
  for (const auto& a : *acks) {
    auto* ack = out->add_acks();
    ack->set_collection(a.collection);
    ack->set_key(a.key);
    ack->set_owner_id(a.owner);
    ack->set_version(a.version);
  }
  return response;
}

CallResult ApiService::storage_read(const v1::StorageReadRequest& r, const CallContext& c) {
  auto who = caller(c);
  if (auto* e = std::get_if<CallError>(&who)) return *e;
  if (auto e = check_batch(r.ids_size(), config_.store.max_batch)) return *e;
  const auto& me = std::get<Identity>(who).account_id;
  std::vector<store::ObjectId> ids;
  for (const auto& id : r.ids()) ids.push_back({id.collection(), id.key(), id.owner_id().empty() ? me : id.owner_id()});
  auto objects = store_->read_objects(store::Caller::user(me), ids);
  if (!objects) return from_store(objects.error());
  v1::ApiResponse response;
  for (const auto& o : *objects) to_proto(o, response.mutable_storage_objects()->add_objects());
  response.mutable_storage_objects();
  return response;
}

CallResult ApiService::storage_delete(const v1::StorageDeleteRequest& r, const CallContext& c) {
  auto who = caller(c);
  if (auto* e = std::get_if<CallError>(&who)) return *e;
  if (auto e = check_batch(r.ids_size(), config_.store.max_batch)) return *e;
  const auto& me = std::get<Identity>(who).account_id;
  std::vector<store::ObjectDelete> deletes;
  for (const auto& id : r.ids()) {
    if (!id.owner_id().empty() && id.owner_id() != me)
      return CallError{v1::PERMISSION_DENIED, "item " + std::to_string(deletes.size()) + ": not your object"};
    deletes.push_back({id.collection(), id.key(), me, id.version()});
  }
  if (auto done = store_->delete_objects(store::Caller::user(me), deletes); !done) return from_store(done.error());
  v1::ApiResponse response;
  response.mutable_empty();
  return response;
}

CallResult ApiService::storage_list(const v1::StorageListRequest& r, const CallContext& c) {
  auto who = caller(c);
  if (auto* e = std::get_if<CallError>(&who)) return *e;
  int limit = r.limit() == 0 ? 20 : r.limit();
  std::optional<std::string> owner;
  if (!r.owner_id().empty()) owner = r.owner_id();
  auto list = store_->list_objects(store::Caller::user(std::get<Identity>(who).account_id), r.collection(), owner,
                                   limit, r.cursor());
  if (!list) return from_store(list.error());
  v1::ApiResponse response;
  auto* out = response.mutable_storage_objects();
  for (const auto& o : list->objects) to_proto(o, out->add_objects());
  out->set_cursor(list->cursor);
  return response;
}

}  // namespace craft::api
