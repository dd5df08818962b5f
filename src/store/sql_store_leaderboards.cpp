// Leaderboards: one record per (leaderboard, owner); ranks follow score, then subscore, then
// owner id, in the board's sort order.
#include <algorithm>
#include <limits>

#include "store/sql_store.hpp"

namespace craft::store::detail {
namespace {

constexpr const char* kRecordColumns =
    "SELECT leaderboard_id, owner_id, username, score, subscore, num_score, metadata, "
    "create_time, update_time FROM leaderboard_record ";

LeaderboardRecord record_from(const SqlRow& r) {
  LeaderboardRecord x;
  x.leaderboard_id = r.text(0);
  x.owner_id = r.text(1);
  x.username = r.text(2);
  x.score = r.integer(3);
  x.subscore = r.integer(4);
  x.num_score = r.integer(5);
  x.metadata = r.text(6);
  x.create_time = r.integer(7);
  x.update_time = r.integer(8);
  return x;
}

// "better than" comparison operator and ORDER BY for a board.
const char* better(SortOrder s) { return s == SortOrder::descending ? ">" : "<"; }
std::string order_by(SortOrder s) {
  const char* dir = s == SortOrder::descending ? "DESC" : "ASC";
  return std::string(" ORDER BY score ") + dir + ", subscore " + dir + ", owner_id ASC";
}

bool add_overflows(int64_t a, int64_t b) {
  return (b > 0 && a > std::numeric_limits<int64_t>::max() - b) ||
         (b < 0 && a < std::numeric_limits<int64_t>::min() - b);
}

void check_limit(int limit, int max) {
  if (limit < 1 || limit > max) fail(Errc::invalid, "limit must be 1.." + std::to_string(max));
}

}  // namespace

Leaderboard SqlStore::must_load_leaderboard(std::string_view id) {
  auto rows = db().query(
      "SELECT id, sort_order, operator, reset_schedule, metadata, create_time, authoritative "
      "FROM leaderboard WHERE id = ?1",
      {std::string(id)});
  if (rows.empty()) fail(Errc::not_found, "no such leaderboard");
  const SqlRow& r = rows[0];
  return Leaderboard{r.text(0), static_cast<SortOrder>(r.integer(1)),
                     static_cast<ScoreOperator>(r.integer(2)), r.text(3), r.text(4),
                     r.integer(5), r.integer(6) != 0};
}

int64_t SqlStore::rank_of(const Leaderboard& lb, const LeaderboardRecord& r) {
  const std::string b = better(lb.sort);
  auto rows = db().query(
      "SELECT COUNT(*) FROM leaderboard_record WHERE leaderboard_id = ?1 AND (score " + b +
          " ?2 OR (score = ?2 AND subscore " + b +
          " ?3) OR (score = ?2 AND subscore = ?3 AND owner_id < ?4))",
      {lb.id, r.score, r.subscore, r.owner_id});
  return rows.at(0).integer(0) + 1;
}

std::vector<LeaderboardRecord> SqlStore::page(const Leaderboard& lb, int limit, int64_t offset) {
  std::vector<LeaderboardRecord> out;
  auto rows = db().query(std::string(kRecordColumns) + "WHERE leaderboard_id = ?1" +
                             order_by(lb.sort) + " LIMIT ?2 OFFSET ?3",
                         {lb.id, int64_t{limit}, offset});
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out.push_back(record_from(rows[i]));
    out.back().rank = offset + 1 + static_cast<int64_t>(i);
  }
  return out;
}

Status SqlStore::create_leaderboard(const Leaderboard& lb) {
  return transact(true, [&] {
    check_field("leaderboard id", lb.id, kMaxNameBytes);
    check_field("reset schedule", lb.reset_schedule, kMaxShortBytes, true);
    check_field("metadata", lb.metadata, options_.max_value_bytes);
    int sort = static_cast<int>(lb.sort), op = static_cast<int>(lb.op);
    if (sort < 0 || sort > 1) fail(Errc::invalid, "bad sort order");
    if (op < 0 || op > 2) fail(Errc::invalid, "bad operator");
    if (!db().query("SELECT 1 FROM leaderboard WHERE id = ?1", {lb.id}).empty()) {
      fail(Errc::already_exists, "leaderboard exists");
    }
    db().exec(
        "INSERT INTO leaderboard (id, sort_order, operator, reset_schedule, metadata, create_time, "
        "authoritative) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        {lb.id, int64_t{sort}, int64_t{op}, lb.reset_schedule, lb.metadata, now(),
         int64_t{lb.authoritative ? 1 : 0}});
    return Unit{};
  });
}

Result<Leaderboard> SqlStore::get_leaderboard(std::string_view id) {
  return transact(false, [&] { return must_load_leaderboard(id); });
}

Status SqlStore::delete_leaderboard(std::string_view id) {
  return transact(true, [&] {
    if (db().exec("DELETE FROM leaderboard WHERE id = ?1", {std::string(id)}) == 0) {
      fail(Errc::not_found, "no such leaderboard");
    }
    return Unit{};
  });
}

Result<LeaderboardRecord> SqlStore::write_score(const ScoreWrite& w) {
  return transact(true, [&] {
    check_field("owner id", w.owner_id, kMaxNameBytes);
    check_field("username", w.username, kMaxNameBytes, true);
    check_field("metadata", w.metadata, options_.max_value_bytes);
    const Leaderboard lb = must_load_leaderboard(w.leaderboard_id);
    const std::string where = "WHERE leaderboard_id = ?1 AND owner_id = ?2";
    if (lb.op == ScoreOperator::incr) {
      auto rows = db().query(std::string(kRecordColumns) + where, {lb.id, w.owner_id});
      if (!rows.empty()) {
        LeaderboardRecord old = record_from(rows[0]);
        if (add_overflows(old.score, w.score) || add_overflows(old.subscore, w.subscore)) {
          fail(Errc::invalid, "score would overflow");
        }
      }
    }
    std::string set;
    switch (lb.op) {
      case ScoreOperator::set:
        set = "score = excluded.score, subscore = excluded.subscore, metadata = excluded.metadata";
        break;
      case ScoreOperator::incr:
        set = "score = leaderboard_record.score + excluded.score, "
              "subscore = leaderboard_record.subscore + excluded.subscore, "
              "metadata = excluded.metadata";
        break;
      case ScoreOperator::best: {
        const std::string b = better(lb.sort);
        const std::string improves = "(excluded.score " + b +
                                     " leaderboard_record.score OR (excluded.score = "
                                     "leaderboard_record.score AND excluded.subscore " +
                                     b + " leaderboard_record.subscore))";
        for (const char* col : {"score", "subscore", "metadata"}) {
          if (!set.empty()) set += ", ";
          set += std::string(col) + " = CASE WHEN " + improves + " THEN excluded." + col +
                 " ELSE leaderboard_record." + col + " END";
        }
        break;
      }
    }
    db().exec(
        "INSERT INTO leaderboard_record (leaderboard_id, owner_id, username, score, subscore, "
        "num_score, metadata, create_time, update_time) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?7) "
        "ON CONFLICT (leaderboard_id, owner_id) DO UPDATE SET " +
            set +
            ", username = excluded.username, num_score = leaderboard_record.num_score + 1, "
            "update_time = excluded.update_time",
        {lb.id, w.owner_id, w.username, w.score, w.subscore, w.metadata, now()});
    auto rows = db().query(std::string(kRecordColumns) + where, {lb.id, w.owner_id});
    LeaderboardRecord r = record_from(rows.at(0));
    r.rank = rank_of(lb, r);
    return r;
  });
}

Status SqlStore::delete_score(std::string_view leaderboard_id, std::string_view owner_id) {
  return transact(true, [&] {
    must_load_leaderboard(leaderboard_id);
    if (db().exec("DELETE FROM leaderboard_record WHERE leaderboard_id = ?1 AND owner_id = ?2",
                  {std::string(leaderboard_id), std::string(owner_id)}) == 0) {
      fail(Errc::not_found, "no record for this owner");
    }
    return Unit{};
  });
}

Result<std::vector<LeaderboardRecord>> SqlStore::top_records(std::string_view leaderboard_id,
                                                             int limit, int64_t offset) {
  return transact(false, [&] {
    check_limit(limit, options_.max_list_limit);
    if (offset < 0) fail(Errc::invalid, "offset is negative");
    return page(must_load_leaderboard(leaderboard_id), limit, offset);
  });
}

Result<std::vector<LeaderboardRecord>> SqlStore::records_around(std::string_view leaderboard_id,
                                                                std::string_view owner_id,
                                                                int limit) {
  return transact(false, [&] {
    check_limit(limit, options_.max_list_limit);
    const Leaderboard lb = must_load_leaderboard(leaderboard_id);
    auto rows = db().query(std::string(kRecordColumns) +
                               "WHERE leaderboard_id = ?1 AND owner_id = ?2",
                           {lb.id, std::string(owner_id)});
    if (rows.empty()) fail(Errc::not_found, "no record for this owner");
    const int64_t rank = rank_of(lb, record_from(rows[0]));
    const int64_t total = db().query("SELECT COUNT(*) FROM leaderboard_record "
                                     "WHERE leaderboard_id = ?1",
                                     {lb.id})
                              .at(0)
                              .integer(0);
    // First rank of the page: the owner in the middle, shifted to keep the page full.
    int64_t first = rank - (limit - 1) / 2;
    first = std::min(first, total - limit + 1);
    first = std::max<int64_t>(first, 1);
    return page(lb, limit, first - 1);
  });
}

Result<LeaderboardRecord> SqlStore::get_record(std::string_view leaderboard_id,
                                               std::string_view owner_id) {
  return transact(false, [&] {
    const Leaderboard lb = must_load_leaderboard(leaderboard_id);
    auto rows = db().query(std::string(kRecordColumns) +
                               "WHERE leaderboard_id = ?1 AND owner_id = ?2",
                           {lb.id, std::string(owner_id)});
    if (rows.empty()) fail(Errc::not_found, "no record for this owner");
    LeaderboardRecord r = record_from(rows[0]);
    r.rank = rank_of(lb, r);
    return r;
  });
}

Result<int64_t> SqlStore::count_records(std::string_view leaderboard_id) {
  return transact(false, [&] {
    const Leaderboard lb = must_load_leaderboard(leaderboard_id);
    return db().query("SELECT COUNT(*) FROM leaderboard_record WHERE leaderboard_id = ?1",
                      {lb.id})
        .at(0)
        .integer(0);
  });
}

Result<int64_t> SqlStore::delete_records_before(std::string_view leaderboard_id, int64_t time) {
  return transact(true, [&] {
    const Leaderboard lb = must_load_leaderboard(leaderboard_id);
    return db().exec("DELETE FROM leaderboard_record WHERE leaderboard_id = ?1 AND update_time < ?2",
                     {lb.id, time});
  });
}

}  // namespace craft::store::detail
