#include "pg_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

namespace fs = std::filesystem;

namespace craft::test {
namespace {

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

// Children of `pid`, from /proc.
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    auto close_paren = line.rfind(')');
    if (close_paren == std::string::npos) continue;
    std::istringstream rest(line.substr(close_paren + 2));
    char state;
    pid_t ppid;
    if (rest >> state >> ppid && ppid == pid) out.push_back(std::stoi(name));
  }
  return out;
}

bool alive(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return false;
  auto close_paren = line.rfind(')');
  return close_paren != std::string::npos && line.size() > close_paren + 2 &&
         line[close_paren + 2] != 'Z';
}

}  // namespace

std::string PgServer::bin_dir() {
  const char* env = std::getenv("CRAFT_PG_BIN");
  std::string dir = env && *env ? env : "/usr/lib/postgresql/15/bin";
  if (access((dir + "/initdb").c_str(), X_OK) != 0 || access((dir + "/pg_ctl").c_str(), X_OK) != 0) {
    return "";
  }
  return dir;
}

bool PgServer::required() {
  const char* ci = std::getenv("CI");
  return ci && std::string_view(ci) == "true";
}

std::string PgServer::missing_message() {
  std::string m = "PostgreSQL binaries not found (Debian package postgresql, /usr/lib/postgresql/15/bin, "
                  "or set CRAFT_PG_BIN)";
  return required() ? m + ". CI=true: the PostgreSQL tests must run, not be skipped"
                    : m + ": PostgreSQL tests skipped (with CI=true this fails)";
}

int PgServer::run(const std::vector<std::string>& argv, bool as_postgres) const {
  std::vector<std::string> full;
  if (as_postgres && as_other_user_) full = {"runuser", "-u", "postgres", "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  pid_t pid = fork();
  if (pid == 0) {
    int log = open((dir_ + "/commands.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log >= 0) {
      dup2(log, 1);
      dup2(log, 2);
    }
    std::vector<char*> args;
    for (auto& s : full) args.push_back(const_cast<char*>(s.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::unique_ptr<PgServer> PgServer::start(std::string* why) {
  std::unique_ptr<PgServer> s(new PgServer());
  s->bin_ = bin_dir();
  if (s->bin_.empty()) {
    *why = "PostgreSQL binaries not found in /usr/lib/postgresql/15/bin (set CRAFT_PG_BIN); "
           "install Debian's postgresql package to run the PostgreSQL tests";
    return nullptr;
  }
  // pg_ctl leaves the postmaster orphaned; as a subreaper we inherit it (and its children
  // after a kill -9) and can reap them, so no zombie keeps postmaster.pid looking alive.
  prctl(PR_SET_CHILD_SUBREAPER, 1);

  char tmpl[] = "/tmp/craft-pg-XXXXXX";
  if (!mkdtemp(tmpl)) {
    *why = "mkdtemp failed";
    return nullptr;
  }
  s->dir_ = tmpl;
  s->data_ = s->dir_ + "/data";
  if (geteuid() == 0) {
    passwd* pw = getpwnam("postgres");
    if (!pw) {
      *why = "running as root and there is no postgres user to run the server as";
      return nullptr;
    }
    s->as_other_user_ = true;
    s->uid_ = pw->pw_uid;
    s->gid_ = pw->pw_gid;
    if (chown(s->dir_.c_str(), s->uid_, s->gid_) != 0) {
      *why = "chown of the temp dir failed";
      return nullptr;
    }
  }
  chmod(s->dir_.c_str(), 0755);
  if (s->run({s->bin_ + "/initdb", "-D", s->data_, "-A", "trust", "-U", "craft", "-E", "UTF8",
              "--locale=C", "--no-sync", "--no-instructions"},
             true) != 0) {
    *why = "initdb failed; see " + s->dir_ + "/commands.log";
    return nullptr;
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    s->port_ = free_port();
    if (s->pg_ctl_start(why)) return s;
  }
  return nullptr;
}

bool PgServer::pg_ctl_start(std::string* why) {
  std::string opts = "-p " + std::to_string(port_) + " -k " + dir_ +
                     " -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on";
  if (run({bin_ + "/pg_ctl", "-D", data_, "-l", dir_ + "/server.log", "-o", opts, "-w", "-t",
           "60", "start"},
          true) != 0) {
    if (why) *why = "pg_ctl start failed:\n" + log_tail();
    return false;
  }
  running_ = true;
  return true;
}

bool PgServer::restart(std::string* why) { return pg_ctl_start(why); }

PgServer::~PgServer() {
  if (running_) {
    run({bin_ + "/pg_ctl", "-D", data_, "-m", "fast", "-w", "stop"}, true);
  }
  // Reap whatever of the server's processes were handed to us.
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string PgServer::url(const std::string& db) const {
  return "postgresql://craft@127.0.0.1:" + std::to_string(port_) + "/" + db +
         "?connect_timeout=10";
}

std::string PgServer::create_database(const std::string& name) {
  PGconn* c = PQconnectdb(url("postgres").c_str());
  std::string err;
  if (PQstatus(c) != CONNECTION_OK) {
    err = PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, ("CREATE DATABASE \"" + name + "\"").c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK) err = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  return err;
}

void PgServer::kill9() {
  std::ifstream f(data_ + "/postmaster.pid");
  pid_t pm = 0;
  if (!(f >> pm) || pm <= 0) return;
  std::vector<pid_t> kids = children_of(pm);
  kill(pm, SIGKILL);
  // A child forked just before the kill was not in the list; orphans come to us (we are a
  // subreaper), so take every postgres process that is now our child as well.
  for (pid_t k : children_of(getpid())) {
    std::ifstream comm("/proc/" + std::to_string(k) + "/comm");
    std::string c;
    if (std::getline(comm, c) && c.rfind("postgres", 0) == 0) kids.push_back(k);
  }
  for (pid_t k : kids) kill(k, SIGKILL);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    bool any = alive(pm);
    for (pid_t k : kids) any = any || alive(k);
    if (!any || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  running_ = false;
}

std::string PgServer::log_tail() const {
  std::ifstream f(dir_ + "/server.log");
  std::string line, out;
  std::vector<std::string> lines;
  while (std::getline(f, line)) lines.push_back(line);
  for (std::size_t i = lines.size() > 20 ? lines.size() - 20 : 0; i < lines.size(); ++i) {
    out += lines[i] + "\n";
  }
  return out;
}

}  // namespace craft::test
