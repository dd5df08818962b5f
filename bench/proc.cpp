#include "proc.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

namespace craft::bench {

namespace {

bool read_file(const std::string& path, std::string& out) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return false;
  out.clear();
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return true;
}

int64_t status_kb(const std::string& status, const char* key) {
  auto pos = status.find(key);
  if (pos == std::string::npos) return 0;
  return std::strtoll(status.c_str() + pos + std::strlen(key), nullptr, 10);
}

}  // namespace

ProcSample sample_process(int pid, bool count_fds) {
  ProcSample s;
  if (pid <= 0) return s;
  std::string base = "/proc/" + std::to_string(pid);
  std::string status, stat;
  if (!read_file(base + "/status", status) || !read_file(base + "/stat", stat)) return s;
  s.vm_rss = status_kb(status, "\nVmRSS:") * 1024;
  s.rss_anon = status_kb(status, "\nRssAnon:") * 1024;
  s.threads = status_kb(status, "\nThreads:");
  // Fields after the command name (which may hold spaces) start at the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return s;
  const char* p = stat.c_str() + close + 2;  // field 3 (state)
  // utime and stime are fields 14 and 15: skip fields 3..13.
  for (int field = 3; field < 14 && *p; ++field) {
    while (*p && *p != ' ') ++p;
    while (*p == ' ') ++p;
  }
  char* end = nullptr;
  long long utime = std::strtoll(p, &end, 10);
  long long stime = std::strtoll(end, nullptr, 10);
  static const long ticks = sysconf(_SC_CLK_TCK);
  s.cpu_us = (utime + stime) * 1'000'000 / (ticks > 0 ? ticks : 100);
  if (count_fds) {
    if (DIR* d = opendir((base + "/fd").c_str())) {
      s.fds = 0;
      while (dirent* e = readdir(d)) {
        if (e->d_name[0] != '.') ++s.fds;
      }
      closedir(d);
    }
  }
  s.ok = true;
  return s;
}

MachineSample sample_machine() {
  MachineSample m;
  std::string stat;
  if (!read_file("/proc/stat", stat) || !stat.starts_with("cpu ")) return m;
  long long v[8] = {};
  if (std::sscanf(stat.c_str(), "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4],
                  &v[5], &v[6], &v[7]) != 8)
    return m;
  m.busy = v[0] + v[1] + v[2] + v[5] + v[6];
  m.idle = v[3] + v[4];
  m.steal = v[7];
  m.ok = true;
  return m;
}

int64_t self_cpu_us() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return int64_t(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1'000'000 + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
}

}  // namespace craft::bench

namespace craft::bench {

std::string fetch_metrics(const std::string& host, uint16_t port) {
  std::string text;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return text;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  timeval limit{3, 0};  // a server that does not answer must not stop the run
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string request = "GET /metrics HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
    if (::write(fd, request.data(), request.size()) == ssize_t(request.size())) {
      char buf[8192];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, size_t(n));
    }
  }
  ::close(fd);
  return text;
}

double metric_value(const std::string& text, const std::string& name) {
  const std::string key = "\n" + name + ' ';
  auto at = text.find(key);
  if (at == std::string::npos) return NAN;
  return std::strtod(text.c_str() + at + key.size(), nullptr);
}

TickMetrics scrape_tick_metrics(const std::string& host, uint16_t port) {
  TickMetrics m;
  std::string text = fetch_metrics(host, port);
  std::istringstream lines(text);
  std::string line;
  const std::string bucket = "craft_tick_lateness_seconds_bucket{le=\"";
  while (std::getline(lines, line)) {
    if (line.rfind(bucket, 0) == 0) {
      auto end = line.find('"', bucket.size());
      auto bound_text = line.substr(bucket.size(), end - bucket.size());
      double bound = bound_text == "+Inf" ? INFINITY : std::strtod(bound_text.c_str(), nullptr);
      m.lateness_buckets.emplace_back(bound, std::strtoull(line.c_str() + line.rfind(' ') + 1, nullptr, 10));
      m.ok = true;
    } else if (line.rfind("craft_room_ticks_total ", 0) == 0) {
      m.ticks = std::strtoull(line.c_str() + line.rfind(' ') + 1, nullptr, 10);
    } else if (line.rfind("craft_room_ticks_skipped_total ", 0) == 0) {
      m.skipped = std::strtoull(line.c_str() + line.rfind(' ') + 1, nullptr, 10);
    }
  }
  return m;
}

double lateness_quantile_us(const TickMetrics& before, const TickMetrics& after, double q) {
  if (!before.ok || !after.ok || before.lateness_buckets.size() != after.lateness_buckets.size()) return NAN;
  const auto& a = after.lateness_buckets;
  const auto& b = before.lateness_buckets;
  uint64_t total = a.back().second - b.back().second;
  if (total == 0) return NAN;
  auto rank = uint64_t(q * double(total - 1)) + 1;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].second - b[i].second >= rank) return a[i].first * 1e6;
  }
  return INFINITY;
}

}  // namespace craft::bench
