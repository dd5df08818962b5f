// A real, throwaway PostgreSQL server for tests: initdb into a temp dir, pg_ctl start on a free
// loopback port, stop and delete on destruction. When the tests run as root, the server
// runs as the `postgres` user (initdb refuses root) via runuser.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace craft::test {

class PgServer {
 public:
  // The server, or nullptr with `why` set (binaries absent, initdb or start failed).
  static std::unique_ptr<PgServer> start(std::string* why);
  ~PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  int port() const { return port_; }
  // libpq URL for database `db` as the superuser `craft`.
  std::string url(const std::string& db) const;
  // CREATE DATABASE `name` (a fresh one per test keeps tests apart). Empty string on
  // success, else the error.
  std::string create_database(const std::string& name);
  // SIGKILL the postmaster and every process it started (a crash, not a shutdown), then
  // wait until they are gone.
  void kill9();
  // pg_ctl start again (crash recovery runs); false with the log tail in `why` on failure.
  bool restart(std::string* why);
  // Last lines of the server log, for failure messages.
  std::string log_tail() const;

  // Where Debian keeps the PostgreSQL 15 binaries; empty if absent.
  static std::string bin_dir();
  // True when the environment has CI=true: there a missing PostgreSQL must fail the tests
  // that need it, never skip them, so CI cannot pass without running the real server.
  static bool required();
  // The message for a test that cannot run because bin_dir() is empty: a skip outside CI,
  // a failure under CI=true.
  static std::string missing_message();

 private:
  PgServer() = default;
  bool pg_ctl_start(std::string* why);
  int run(const std::vector<std::string>& argv, bool as_postgres) const;

  std::string bin_;
  std::string dir_;   // temp dir: data/, server.log, the socket
  std::string data_;
  int port_ = 0;
  bool running_ = false;
  unsigned uid_ = 0, gid_ = 0;  // owner of the files (postgres when we are root)
  bool as_other_user_ = false;
};

}  // namespace craft::test
