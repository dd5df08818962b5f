// Acknowledged writes survive kill -9: of the writing process (SQLite), and of the database
// server (PostgreSQL). A writer in a forked child reports each committed write over a pipe;
// after the kill, every write it acknowledged must be there.
// A kill -9 leaves the kernel's page cache intact, so for SQLite this proves that a write is
// in the file (WAL) before it is acknowledged, not that it is on the disk: it would pass
// with synchronous=OFF too. sqlite_fsync_test.cpp proves the sync to disk.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <utility>

#include "pg_server.hpp"
#include "store/postgres_store.hpp"
#include "store/sqlite_store.hpp"

namespace craft::test {
namespace {

using namespace craft::store;
namespace fs = std::filesystem;

constexpr int kWrites = 400;

ObjectWrite numbered(int i) {
  return ObjectWrite{"crash", std::string("k").append(std::to_string(i)), "",
                     std::string("{\"i\":").append(std::to_string(i)).append("}"), "",
                     ReadPermission::public_read, WritePermission::owner};
}

// In a forked child: opens a store with `open`, writes objects 0..kWrites-1 one transaction
// each and after each commit writes its number to `fd`; then waits to be killed.
template <class Open>
[[noreturn]] void child_writer(Open open, int fd) {
  auto s = open();
  if (!s.ok()) _exit(2);
  for (int i = 0; i < kWrites; ++i) {
    if (!(*s)->write_objects(Caller::server(), {numbered(i)}).ok()) break;
    if (write(fd, &i, sizeof i) != sizeof i) _exit(3);
  }
  for (;;) pause();
}

// Forks a child_writer; returns its pid (-1 on failure) and the read end of its pipe.
template <class Open>
std::pair<pid_t, int> start_writer(Open open) {
  int fds[2];
  if (pipe(fds) != 0) return {-1, -1};
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    child_writer(open, fds[1]);
  }
  close(fds[1]);
  return {pid, fds[0]};
}

void create_account_before(Store& s) {
  NewAccount a;
  a.username = "before";
  a.links = {{"device", "d"}};
  ASSERT_TRUE(s.create_account(a).ok());
}

// Reads acknowledgements until `kill_after` have arrived, calls `kill`, then drains the pipe.
// Returns the highest acknowledged write, or -1.
template <class Kill>
int read_acks(int fd, int kill_after, Kill kill) {
  int last = -1, n = 0, got = 0;
  bool killed = false;
  while (read(fd, &got, sizeof got) == sizeof got) {
    last = got;
    if (++n == kill_after && !killed) {
      kill();
      killed = true;
    }
  }
  if (!killed) kill();
  return last;
}

void expect_all_written(Store& s, int last) {
  ASSERT_GE(last, 0) << "the writer acknowledged nothing";
  std::vector<ObjectId> ids;
  for (int i = 0; i <= last; ++i) ids.push_back({"crash", std::string("k").append(std::to_string(i)), ""});
  for (std::size_t start = 0; start < ids.size(); start += 100) {
    std::vector<ObjectId> batch(ids.begin() + static_cast<std::ptrdiff_t>(start),
                                ids.begin() + static_cast<std::ptrdiff_t>(std::min(start + 100, ids.size())));
    auto r = s.read_objects(Caller::server(), batch);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->size(), batch.size()) << "acknowledged writes lost in " << start << "..";
  }
}

TEST(SqliteDurability, AcknowledgedWritesAreInTheFileWhenTheWriterIsKilled9) {
  char tmpl[] = "/tmp/craft-sqlite-crash-XXXXXX";
  ASSERT_TRUE(mkdtemp(tmpl));
  const std::string dir = tmpl, path = dir + "/craft.db";

  // Written and closed by this process first.
  {
    auto s = open_sqlite_store(path);
    ASSERT_TRUE(s.ok()) << s.error().message;
    create_account_before(**s);
  }
  auto parent = open_sqlite_store(path);  // stays open across the child's crash
  ASSERT_TRUE(parent.ok()) << parent.error().message;

  auto [pid, acks] = start_writer([&] { return open_sqlite_store(path); });
  ASSERT_GE(pid, 0);
  int last = read_acks(acks, 50, [&, pid = pid] { kill(pid, SIGKILL); });
  close(acks);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the writer was not killed";
  ASSERT_LT(last, kWrites - 1) << "the writer finished before the kill; the test proves nothing";
  EXPECT_TRUE(fs::exists(path + "-wal")) << "expected a WAL file left by the killed writer";

  // The connection that stayed open sees the writes, and so does a fresh one.
  expect_all_written(**parent, last);
  parent = make_error(Errc::unavailable, "closed");
  auto reopened = open_sqlite_store(path);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  expect_all_written(**reopened, last);
  EXPECT_TRUE((*reopened)->find_account_by_username("before").ok());
  reopened = make_error(Errc::unavailable, "closed");
  fs::remove_all(dir);
}

TEST(PostgresDurability, AcknowledgedWritesSurviveKill9OfTheServer) {
  if (PgServer::bin_dir().empty()) {
    if (PgServer::required()) FAIL() << PgServer::missing_message();
    GTEST_SKIP() << PgServer::missing_message();
  }
  std::string why;
  auto server = PgServer::start(&why);
  ASSERT_TRUE(server) << why;
  ASSERT_EQ(server->create_database("crash"), "");
  const std::string url = server->url("crash");
  auto s = open_postgres_store(url);  // stays open across the crash; must reconnect
  ASSERT_TRUE(s.ok()) << s.error().message;
  create_account_before(**s);

  auto [pid, acks] = start_writer([&] { return open_postgres_store(url); });
  ASSERT_GE(pid, 0);
  // Kill the server under the writer, then the writer (which then stops acknowledging).
  int last = read_acks(acks, 50, [&, pid = pid] {
    server->kill9();
    kill(pid, SIGKILL);
  });
  close(acks);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_LT(last, kWrites - 1) << "the writer finished before the kill; the test proves nothing";

  // While the server is down, calls fail cleanly.
  auto down = (*s)->get_account("x");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.code(), Errc::unavailable) << down.error().message;

  ASSERT_TRUE(server->restart(&why)) << why;
  // The old store reconnects by itself ...
  expect_all_written(**s, last);
  EXPECT_TRUE((*s)->find_account_by_username("before").ok());
  // ... and a new one sees the same.
  auto fresh = open_postgres_store(url);
  ASSERT_TRUE(fresh.ok()) << fresh.error().message;
  expect_all_written(**fresh, last);
}

}  // namespace
}  // namespace craft::test
