#include "backend.hpp"

#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "pg_server.hpp"
#include "store/postgres_store.hpp"
#include "store/sqlite_store.hpp"

namespace fs = std::filesystem;

namespace craft::test {
namespace {

class SqliteBackend final : public Backend {
 public:
  SqliteBackend() {
    char tmpl[] = "/tmp/craft-sqlite-XXXXXX";
    dir_ = mkdtemp(tmpl) ? tmpl : "/tmp";
    path_ = dir_ + "/craft.db";
  }
  ~SqliteBackend() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  store::Result<std::unique_ptr<store::Store>> open(store::StoreOptions o) override {
    return store::open_sqlite_store(path_, o);
  }
  std::string location() const override { return path_; }

 private:
  std::string dir_, path_;
};

// One server per test process, started on first use and stopped at exit.
PgServer* shared_server(std::string* why) {
  static std::string failure;
  static std::unique_ptr<PgServer> server = PgServer::start(&failure);
  if (!server) *why = failure;
  return server.get();
}

class PostgresBackend final : public Backend {
 public:
  explicit PostgresBackend(std::string url) : url_(std::move(url)) {}
  store::Result<std::unique_ptr<store::Store>> open(store::StoreOptions o) override {
    return store::open_postgres_store(url_, o);
  }
  std::string location() const override { return url_; }

 private:
  std::string url_;
};

}  // namespace

std::unique_ptr<Backend> make_backend(const std::string& kind, std::string* skip,
                                      std::string* error) {
  if (kind == "sqlite") return std::make_unique<SqliteBackend>();
  if (kind != "postgres") {
    *error = "unknown backend " + kind;
    return nullptr;
  }
  if (PgServer::bin_dir().empty()) {
    *(PgServer::required() ? error : skip) = PgServer::missing_message();
    return nullptr;
  }
  PgServer* server = shared_server(error);
  if (!server) return nullptr;
  static std::atomic<int> next{0};
  std::string db = std::string("t").append(std::to_string(getpid())).append("_").append(std::to_string(++next));
  std::string err = server->create_database(db);
  if (!err.empty()) {
    *error = "CREATE DATABASE failed: " + err;
    return nullptr;
  }
  return std::make_unique<PostgresBackend>(server->url(db));
}

void StoreTest::SetUp() {
  std::string skip, error;
  backend_ = make_backend(GetParam(), &skip, &error);
  if (!backend_ && !skip.empty()) GTEST_SKIP() << skip;
  ASSERT_TRUE(backend_) << error;
  auto s = backend_->open(options());
  ASSERT_TRUE(s.ok()) << s.error().message;
  store_ = std::move(s).value();
}

void StoreTest::reopen() {
  store_.reset();
  auto s = backend_->open(options());
  ASSERT_TRUE(s.ok()) << s.error().message;
  store_ = std::move(s).value();
}

std::string backend_test_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

}  // namespace craft::test
