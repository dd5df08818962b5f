// Leaderboards: created by an admin (or room code), written and listed by players.
// A reset schedule is applied lazily: before a board is read or written, records last
// written before the current period began are dropped. No timer, so it is deterministic
// under an injected clock, and a board nobody touches costs nothing.
#include "api/api_service.hpp"
#include "api/convert.hpp"

#include <chrono>

namespace craft::api {

namespace {

// Unix seconds at which the period holding `now` began; 0 for no schedule.
int64_t period_start(const std::string& schedule, int64_t now) {
  using namespace std::chrono;
  const sys_days today = floor<days>(sys_seconds{seconds{now}});
  sys_days start;
  if (schedule == "daily") start = today;
  else if (schedule == "weekly") start = today - (weekday{today} - Monday);
  else if (schedule == "monthly") {
    year_month_day ymd{today};
    start = sys_days{ymd.year() / ymd.month() / 1};
  } else return 0;
  return duration_cast<seconds>(start.time_since_epoch()).count();
}

bool valid_schedule(const std::string& s) { return s.empty() || s == "daily" || s == "weekly" || s == "monthly"; }

}  // namespace

store::Result<store::Leaderboard> load_current_board(store::Store& store, std::string_view id, int64_t now_s) {
  auto board = store.get_leaderboard(id);
  if (!board) return board;
  if (int64_t since = period_start(board->reset_schedule, now_s); since != 0) {
    if (auto dropped = store.delete_records_before(board->id, since); !dropped) return dropped.error();
  }
  return board;
}

store::Result<store::LeaderboardRecord> write_current_score(store::Store& store, const store::ScoreWrite& write,
                                                            int64_t now_s, bool from_player) {
  auto board = load_current_board(store, write.leaderboard_id, now_s);
  if (!board) return board.error();
  if (board->authoritative && from_player)
    return store::make_error(store::Errc::permission_denied, "scores on this leaderboard come from the game server only");
  return store.write_score(write);
}

CallResult ApiService::leaderboard_create(const v1::LeaderboardCreateRequest& r, const CallContext& c) {
  if (!is_admin(c))
    return CallError{v1::PERMISSION_DENIED, "creating leaderboards needs Authorization: Bearer <auth.admin_key>"};
  if (!valid_schedule(r.reset_schedule())) return bad_request("resetSchedule is \"\", daily, weekly or monthly");
  store::Leaderboard board;
  board.id = r.id();
  board.sort = r.sort() == v1::ASCENDING ? store::SortOrder::ascending : store::SortOrder::descending;
  board.op = r.operator_() == v1::SET         ? store::ScoreOperator::set
             : r.operator_() == v1::INCREMENT ? store::ScoreOperator::incr
                                              : store::ScoreOperator::best;
  board.reset_schedule = r.reset_schedule();
  board.authoritative = r.authoritative();
  auto metadata = json_value(r.metadata(), "metadata");
  if (auto* e = std::get_if<CallError>(&metadata)) return *e;
  board.metadata = std::move(std::get<std::string>(metadata));
  if (auto done = store_->create_leaderboard(board); !done) return from_store(done.error());
  v1::ApiResponse response;
  response.mutable_empty();
  return response;
}

CallResult ApiService::leaderboard_write(const v1::LeaderboardWriteRequest& r, const CallContext& c) {
  auto who = caller(c);
  if (auto* e = std::get_if<CallError>(&who)) return *e;
  const auto& id = std::get<Identity>(who);
  auto metadata = json_value(r.metadata(), "metadata");
  if (auto* e = std::get_if<CallError>(&metadata)) return *e;
  store::ScoreWrite write{r.leaderboard_id(), id.account_id, id.username, r.score(), r.subscore(),
                          std::move(std::get<std::string>(metadata))};
  auto record = write_current_score(*store_, write, now_s(), /*from_player=*/true);
  if (!record) return from_store(record.error());
  v1::ApiResponse response;
  to_proto(*record, response.mutable_leaderboard_record());
  return response;
}

CallResult ApiService::leaderboard_list(const v1::LeaderboardListRequest& r, const CallContext& c) {
  auto who = caller(c);
  if (auto* e = std::get_if<CallError>(&who)) return *e;
  // The request's own fields first (docs/http-api.md §8): a limit outside 1-100 or a
  // negative offset is 400 BAD_REQUEST whether or not the board exists.
  int limit = r.limit() == 0 ? 10 : r.limit();
  if (limit < 1 || limit > store::StoreOptions{}.max_list_limit)
    return bad_request("limit must be 1-" + std::to_string(store::StoreOptions{}.max_list_limit));
  if (r.offset() < 0) return bad_request("offset must not be negative");
  auto board = load_current_board(*store_, r.leaderboard_id(), now_s());
  if (!board) return from_store(board.error());
  auto records = r.owner_id().empty() ? store_->top_records(board->id, limit, r.offset())
                                      : store_->records_around(board->id, r.owner_id(), limit);
  if (!records) return from_store(records.error());
  auto total = store_->count_records(board->id);
  if (!total) return from_store(total.error());
  v1::ApiResponse response;
  auto* out = response.mutable_leaderboard_records();
  for (const auto& record : *records) to_proto(record, out->add_records());
  out->set_total(*total);
  return response;
}

}  // namespace craft::api
