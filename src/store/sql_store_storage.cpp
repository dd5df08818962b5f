// Storage objects: versioned, permissioned JSON values keyed by (collection, key, owner).
#include <sodium.h>

#include "auth/sodium.hpp"
#include "store/sql_store.hpp"

namespace craft::store::detail {
namespace {

constexpr const char* kObjectColumns =
    "SELECT collection, object_key, owner, value, version, read_perm, write_perm, create_time, "
    "update_time FROM storage_object ";

StorageObject object_from(const SqlRow& r) {
  StorageObject o;
  o.collection = r.text(0);
  o.key = r.text(1);
  o.owner = r.text(2);
  o.value = r.text(3);
  o.version = r.text(4);
  o.read = static_cast<ReadPermission>(r.integer(5));
  o.write = static_cast<WritePermission>(r.integer(6));
  o.create_time = r.integer(7);
  o.update_time = r.integer(8);
  return o;
}

bool may_read(const Caller& c, const StorageObject& o) {
  if (c.is_server) return true;
  if (o.read == ReadPermission::public_read) return true;
  return o.read == ReadPermission::owner && !c.account_id.empty() && o.owner == c.account_id;
}

// A user may only touch objects it owns; the server may touch any.
void check_owner(const Caller& c, const std::string& owner, int index) {
  if (c.is_server) return;
  if (c.account_id.empty() || owner != c.account_id) {
    fail(Errc::permission_denied, "cannot write another owner's object", index);
  }
}

void check_id(std::string_view collection, std::string_view key, std::string_view owner,
              int index) {
  check_field("collection", collection, kMaxNameBytes, false, index);
  check_field("key", key, kMaxNameBytes, false, index);
  check_field("owner", owner, kMaxNameBytes, true, index);
}

std::string hex(std::string_view s) {
  std::string out(s.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(s.data()),
                 s.size());
  out.pop_back();
  return out;
}

bool unhex(std::string_view h, std::string& out) {
  out.assign(h.size() / 2 + 1, '\0');
  std::size_t n = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), h.data(), h.size(),
                     nullptr, &n, &end) != 0 ||
      end != h.data() + h.size()) {
    return false;
  }
  out.resize(n);
  return true;
}

}  // namespace

Result<std::vector<StorageObject>> SqlStore::read_objects(const Caller& caller,
                                                          const std::vector<ObjectId>& ids) {
  return transact(false, [&] {
    if (ids.size() > options_.max_batch) fail(Errc::invalid, "too many objects in one read");
    std::vector<StorageObject> out;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const ObjectId& id = ids[i];
      check_id(id.collection, id.key, id.owner, static_cast<int>(i));
      auto rows = db().query(std::string(kObjectColumns) +
                                 "WHERE collection = ?1 AND owner = ?2 AND object_key = ?3",
                             {id.collection, id.owner, id.key});
      if (rows.empty()) continue;
      StorageObject o = object_from(rows[0]);
      if (may_read(caller, o)) out.push_back(std::move(o));
    }
    return out;
  });
}

Result<std::vector<ObjectAck>> SqlStore::write_objects(const Caller& caller,
                                                       const std::vector<ObjectWrite>& writes) {
  return transact(true, [&] {
    if (writes.empty()) fail(Errc::invalid, "no objects to write");
    if (writes.size() > options_.max_batch) fail(Errc::invalid, "too many objects in one write");
    const int64_t t = now();
    // Only the server may change an object whose write permission is none; a user may
    // still create one (and so lock it against its own later writes).
    const int64_t any_writer = caller.is_server ? 1 : 0;
    std::vector<ObjectAck> acks;
    for (std::size_t i = 0; i < writes.size(); ++i) {
      const ObjectWrite& w = writes[i];
      const int idx = static_cast<int>(i);
      check_id(w.collection, w.key, w.owner, idx);
      check_field("value", w.value, options_.max_value_bytes, false, idx);
      check_field("version", w.version, kMaxNameBytes, true, idx);
      if (static_cast<int>(w.read) < 0 || static_cast<int>(w.read) > 2 ||
          static_cast<int>(w.write) < 0 || static_cast<int>(w.write) > 1) {
        fail(Errc::invalid, "bad permission value", idx);
      }
      check_owner(caller, w.owner, idx);
      const std::string version = auth::random_hex(16);
      const Params p{w.collection, w.owner, w.key, w.value, version, int64_t{static_cast<int>(w.read)},
                     int64_t{static_cast<int>(w.write)}, t, w.version, any_writer};
      int64_t changed = 0;
      if (w.version == "*") {
        changed = db().exec(
            "INSERT INTO storage_object (collection, owner, object_key, value, version, read_perm, "
            "write_perm, create_time, update_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) "
            "ON CONFLICT (collection, owner, object_key) DO NOTHING",
            Params(p.begin(), p.begin() + 8));
        if (changed == 0) fail(Errc::conflict, "object already exists", idx);
      } else if (w.version.empty()) {
        changed = db().exec(
            "INSERT INTO storage_object (collection, owner, object_key, value, version, read_perm, "
            "write_perm, create_time, update_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) "
            "ON CONFLICT (collection, owner, object_key) DO UPDATE SET value = excluded.value, "
            "version = excluded.version, read_perm = excluded.read_perm, "
            "write_perm = excluded.write_perm, update_time = excluded.update_time "
            "WHERE storage_object.write_perm = 1 OR ?9 = 1",
            {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[9]});
        if (changed == 0) fail(Errc::permission_denied, "object is not writable", idx);
      } else {
        changed = db().exec(
            "UPDATE storage_object SET value = ?4, version = ?5, read_perm = ?6, write_perm = ?7, "
            "update_time = ?8 WHERE collection = ?1 AND owner = ?2 AND object_key = ?3 "
            "AND version = ?9 AND (write_perm = 1 OR ?10 = 1)",
            p);
        if (changed == 0) {
          auto rows = db().query(
              "SELECT version, write_perm FROM storage_object "
              "WHERE collection = ?1 AND owner = ?2 AND object_key = ?3",
              {w.collection, w.owner, w.key});
          if (rows.empty()) fail(Errc::conflict, "object does not exist (version given)", idx);
          if (rows[0].text(0) != w.version) fail(Errc::conflict, "version does not match", idx);
          fail(Errc::permission_denied, "object is not writable", idx);
        }
      }
      acks.push_back(ObjectAck{w.collection, w.key, w.owner, version});
    }
    return acks;
  });
}

Status SqlStore::delete_objects(const Caller& caller, const std::vector<ObjectDelete>& deletes) {
  return transact(true, [&] {
    if (deletes.size() > options_.max_batch) fail(Errc::invalid, "too many objects in one delete");
    const int64_t any_writer = caller.is_server ? 1 : 0;
    for (std::size_t i = 0; i < deletes.size(); ++i) {
      const ObjectDelete& d = deletes[i];
      const int idx = static_cast<int>(i);
      check_id(d.collection, d.key, d.owner, idx);
      check_owner(caller, d.owner, idx);
      auto rows = db().query(
          "SELECT version, write_perm FROM storage_object "
          "WHERE collection = ?1 AND owner = ?2 AND object_key = ?3",
          {d.collection, d.owner, d.key});
      if (rows.empty()) {
        if (!d.version.empty()) fail(Errc::conflict, "object does not exist (version given)", idx);
        continue;
      }
      if (!d.version.empty() && rows[0].text(0) != d.version) {
        fail(Errc::conflict, "version does not match", idx);
      }
      if (rows[0].integer(1) != 1 && any_writer == 0) {
        fail(Errc::permission_denied, "object is not writable", idx);
      }
      // The version check again in the DELETE itself, in case of a concurrent writer.
      int64_t n = db().exec(
          "DELETE FROM storage_object WHERE collection = ?1 AND owner = ?2 AND object_key = ?3 "
          "AND version = ?4",
          {d.collection, d.owner, d.key, rows[0].text(0)});
      if (n == 0) fail(Errc::conflict, "object changed while deleting", idx);
    }
    return Unit{};
  });
}

Result<ObjectList> SqlStore::list_objects(const Caller& caller, std::string_view collection,
                                          const std::optional<std::string>& owner, int limit,
                                          std::string_view cursor) {
  return transact(false, [&] {
    check_field("collection", collection, kMaxNameBytes);
    if (owner) check_field("owner", *owner, kMaxNameBytes, true);
    if (limit < 1 || limit > options_.max_list_limit) {
      fail(Errc::invalid, "limit must be 1.." + std::to_string(options_.max_list_limit));
    }
    // The cursor is hex(owner) "." hex(key) of the last object returned.
    std::string after_owner, after_key;
    bool has_cursor = !cursor.empty();
    if (has_cursor) {
      auto dot = cursor.find('.');
      if (dot == std::string_view::npos || !unhex(cursor.substr(0, dot), after_owner) ||
          !unhex(cursor.substr(dot + 1), after_key)) {
        fail(Errc::invalid, "bad cursor");
      }
    }
    std::string sql = std::string(kObjectColumns) + "WHERE collection = ?1";
    Params p;
    p.reserve(6);
    p.emplace_back(std::string(collection));
    if (owner) {
      p.emplace_back(*owner);
      sql += " AND owner = ?" + std::to_string(p.size());
    }
    if (has_cursor) {
      p.emplace_back(after_owner);
      p.emplace_back(after_key);
      sql += " AND (owner > ?" + std::to_string(p.size() - 1) + " OR (owner = ?" +
             std::to_string(p.size() - 1) + " AND object_key > ?" + std::to_string(p.size()) + "))";
    }
    if (!caller.is_server) {
      p.emplace_back(caller.account_id);
      sql += " AND (read_perm = 2 OR (read_perm = 1 AND owner = ?" + std::to_string(p.size()) +
             " AND owner <> ''))";
    }
    p.emplace_back(std::in_place_type<int64_t>, int64_t{limit} + 1);
    sql += " ORDER BY owner, object_key LIMIT ?" + std::to_string(p.size());

    ObjectList out;
    for (const SqlRow& r : db().query(sql, p)) out.objects.push_back(object_from(r));
    if (out.objects.size() > static_cast<std::size_t>(limit)) {
      out.objects.pop_back();
      const StorageObject& last = out.objects.back();
      out.cursor = hex(last.owner) + "." + hex(last.key);
    }
    return out;
  });
}

}  // namespace craft::store::detail
