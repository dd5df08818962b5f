// SQLite durability beyond a crash of the process: every acknowledged write was flushed to
// the disk (fdatasync of the WAL file) before the call returned, which is what
// synchronous=FULL promises in WAL mode and what survives power loss. The kill -9 test in
// durability_test.cpp cannot show this: after kill -9 the kernel's page cache still holds
// unsynced writes, so it passes with synchronous=OFF as well.
//
// How: this test binary defines fdatasync() and fsync() itself. libsqlite3.so calls
// fdatasync through the dynamic linker, which binds it to the executable's definition first,
// so every sync SQLite makes passes through the counter below on its way to the real system
// call. Only the store's own connections run here; nothing is mocked.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "store/sqlite_store.hpp"

namespace {
std::atomic<int> wal_syncs{0};  // syncs of a file whose name ends in "-wal"
std::atomic<int> all_syncs{0};

void count_sync(int fd) {
  all_syncs.fetch_add(1);
  char target[4096];
  auto n = readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), target, sizeof target - 1);
  if (n <= 0) return;
  std::string path(target, static_cast<size_t>(n));
  if (path.ends_with("-wal")) wal_syncs.fetch_add(1);
}
}  // namespace

extern "C" int fdatasync(int fd) {
  count_sync(fd);
  return static_cast<int>(syscall(SYS_fdatasync, fd));
}

extern "C" int fsync(int fd) {
  count_sync(fd);
  return static_cast<int>(syscall(SYS_fsync, fd));
}

namespace craft::test {
namespace {

using namespace craft::store;

TEST(SqliteDurability, EveryAcknowledgedWriteIsSyncedToDiskFirst) {
  char tmpl[] = "/tmp/craft-sqlite-sync-XXXXXX";
  ASSERT_TRUE(mkdtemp(tmpl));
  const std::string dir = tmpl;
  {
    auto s = open_sqlite_store(dir + "/craft.db");
    ASSERT_TRUE(s.ok()) << s.error().message;
    int synced_writes = 0;
    constexpr int kWrites = 20;
    for (int i = 0; i < kWrites; ++i) {
      int before = wal_syncs.load();
      // Appended, not "lit" + std::string: GCC 12 -O3 raises a -Wrestrict false positive there.
      std::string key = "k", value = "{\"i\":";
      key += std::to_string(i);
      value += std::to_string(i);
      value += '}';
      ObjectWrite w{"sync", key, "", value, "", ReadPermission::public_read, WritePermission::owner};
      ASSERT_TRUE((*s)->write_objects(Caller::server(), {w}).ok());
      // The acknowledgement came after at least one fdatasync of the WAL: with
      // synchronous=NORMAL a WAL commit is not synced, with OFF nothing ever is.
      if (wal_syncs.load() > before) ++synced_writes;
    }
    EXPECT_EQ(synced_writes, kWrites) << "acknowledged writes not synced to disk (" << all_syncs.load()
                                      << " syncs in all, " << wal_syncs.load() << " of the WAL)";
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace craft::test
