#include "redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace craft::testing {

namespace {

constexpr const char* redis_server_path = "/usr/bin/redis-server";

uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace

bool RedisServer::installed() { return access(redis_server_path, X_OK) == 0; }

RedisServer::RedisServer() {
  if (!installed()) return;
  port_ = free_port();
  start();
}

RedisServer::~RedisServer() { kill9(); }

void RedisServer::start() {
  std::vector<std::string> args = {redis_server_path, "--port",     std::to_string(port_), "--bind", "127.0.0.1",
                                   "--save",          "",           "--appendonly",        "no",     "--daemonize",
                                   "no",              "--loglevel", "warning",             "--dir",  "/tmp"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  if (posix_spawn(&pid_, redis_server_path, &actions, nullptr, argv.data(), environ) != 0) {
    posix_spawn_file_actions_destroy(&actions);
    throw std::runtime_error("cannot start redis-server");
  }
  posix_spawn_file_actions_destroy(&actions);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = command({"PING"});
    if (!r.empty() && r[0] == "PONG") return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill9();
  throw std::runtime_error("redis-server did not answer PING on port " + std::to_string(port_));
}

void RedisServer::kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGCONT);
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void RedisServer::signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

std::vector<std::string> RedisServer::command(const std::vector<std::string>& args) const {
  timeval timeout{1, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, timeout);
  std::vector<std::string> out;
  if (!c || c->err) {
    if (c) redisFree(c);
    return out;
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
  auto text = [](const redisReply* e) -> std::string {
    if (e->type == REDIS_REPLY_INTEGER) return std::to_string(e->integer);
    if (e->type == REDIS_REPLY_NIL) return "(nil)";
    return std::string(e->str ? e->str : "", e->len);
  };
  if (r) {
    if (r->type == REDIS_REPLY_ARRAY) {
      for (size_t i = 0; i < r->elements; ++i) out.push_back(text(r->element[i]));
    } else if (r->type != REDIS_REPLY_ERROR) {
      out.push_back(text(r));
    }
    freeReplyObject(r);
  }
  redisFree(c);
  return out;
}

long RedisServer::info(const std::string& field) const {
  auto r = command({"INFO"});
  if (r.empty()) return -1;
  auto at = r[0].find("\n" + field + ":");
  if (at == std::string::npos) return -1;
  return std::stol(r[0].substr(at + field.size() + 2));
}

}  // namespace craft::testing
