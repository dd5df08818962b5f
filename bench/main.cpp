// craft-bench: the coordinating parent. It forks the generator processes, tells them when
// the measured window starts and ends, samples the server from /proc at the window's edges,
// shows progress, merges the children's results and prints the table and the JSON line.
#include "generator.hpp"
#include "options.hpp"
#include "proc.hpp"
#include "report.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

using namespace craft::bench;

namespace {

struct Child {
  pid_t pid = -1;
  int up = -1;    // read: its lines
  int down = -1;  // write: "go"
  uint32_t count = 0;
  std::string buffer;
  bool ready = false, ended = false, got_end = false;
  // last progress
  uint64_t ready_n = 0, failed = 0, dropped = 0, sent = 0, delivered = 0, p99 = 0, connected = 0;
  std::string phase = "setup";
  int64_t setup_ns = 0;
  GeneratorResult result;
};

// Client counts per process. Rooms never span processes, so whole rooms are dealt out and
// a last, smaller room (clients % room_size) goes to the last process.
std::vector<uint32_t> split(const Options& o) {
  std::vector<uint32_t> counts;
  uint32_t unit = o.scenario == Scenario::idle ? 1 : o.room_size;
  uint32_t full = o.clients / unit, rest = o.clients % unit;
  for (uint32_t k = 0; k < o.processes; ++k) {
    uint32_t groups = full / o.processes + (k < full % o.processes ? 1 : 0);
    counts.push_back(groups * unit + (k + 1 == o.processes ? rest : 0));
  }
  std::erase(counts, 0u);
  return counts;
}

std::string source_for(const Options& o, uint32_t k, size_t processes) {
  if (processes <= 1) return {};
  in_addr a{};
  if (inet_pton(AF_INET, o.source_base.c_str(), &a) != 1) return {};
  a.s_addr = htonl(ntohl(a.s_addr) + k);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void handle_line(Child& c, const std::string& line) {
  if (line.starts_with("progress ")) {
    char phase[16] = {};
    unsigned long long v[7] = {};
    if (std::sscanf(line.c_str(), "progress %llu %llu %llu %llu %llu %llu %15s %llu", &v[0], &v[1], &v[2], &v[3],
                    &v[4], &v[5], phase, &v[6]) == 8) {
      c.ready_n = v[0], c.failed = v[1], c.dropped = v[2], c.sent = v[3], c.delivered = v[4], c.p99 = v[5];
      c.connected = v[6];
      c.phase = phase;
    }
  } else if (line.starts_with("ready ")) {
    unsigned long long r = 0, f = 0;
    long long ns = 0;
    if (std::sscanf(line.c_str(), "ready %llu %llu %lld", &r, &f, &ns) == 3) {
      c.ready = true;
      c.ready_n = r;
      c.connected = std::max<uint64_t>(c.connected, r);
      c.failed = f;
      c.setup_ns = ns;
    }
  } else if (line.starts_with("note ")) {
    std::fprintf(stderr, "\ncraft-bench: %s\n", line.c_str() + 5);
  } else if (line == "end") {
    c.got_end = true;
  } else {
    read_result_line(line, c.result);
  }
}

void read_child(Child& c) {
  char buf[65536];
  ssize_t n = ::read(c.up, buf, sizeof buf);
  if (n <= 0) {
    c.ended = true;
    c.ready = true;  // a dead child will not get any readier
    ::close(c.up);
    c.up = -1;
    return;
  }
  c.buffer.append(buf, size_t(n));
  size_t nl;
  while ((nl = c.buffer.find('\n')) != std::string::npos) {
    handle_line(c, c.buffer.substr(0, nl));
    c.buffer.erase(0, nl + 1);
  }
}

void show_progress(const Options& o, std::vector<Child>& children, double elapsed, bool tty) {
  uint64_t ready = 0, failed = 0, dropped = 0, sent = 0, delivered = 0, p99 = 0, connected = 0;
  std::string phase = children.empty() ? "" : children[0].phase;
  for (auto& c : children) {
    ready += c.ready_n, failed += c.failed, dropped += c.dropped, sent += c.sent, delivered += c.delivered;
    connected += c.connected;
    p99 = std::max(p99, c.p99);
  }
  std::fprintf(stderr, "%s[%s %5.1fs %-7s] connected %llu ready %llu/%u failed %llu dropped %llu sent %llu delivered %llu p99 %.0f us%s",
               tty ? "\r" : "", scenario_name(o.scenario), elapsed, phase.c_str(), (unsigned long long)connected,
               (unsigned long long)ready, o.clients, (unsigned long long)failed, (unsigned long long)dropped,
               (unsigned long long)sent, (unsigned long long)delivered, double(p99) / 1000.0, tty ? "   " : "\n");
  std::fflush(stderr);
}

// Every server's /proc sample summed: several cluster nodes are measured as one server.
ProcSample sample_servers(const Options& o, bool count_fds = false) {
  ProcSample sum;
  if (o.server_pids.empty()) return sum;
  sum.ok = true;
  sum.fds = 0;
  for (int pid : o.server_pids) {
    ProcSample one = sample_process(pid, count_fds);
    if (!one.ok) {
      sum.ok = false;
      continue;
    }
    sum.vm_rss += one.vm_rss;
    sum.rss_anon += one.rss_anon;
    sum.cpu_us += one.cpu_us;
    sum.threads += one.threads;
    sum.fds = (sum.fds < 0 || one.fds < 0) ? -1 : sum.fds + one.fds;
  }
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_options(argc, argv);
  std::signal(SIGPIPE, SIG_IGN);
  auto counts = split(o);
  RunReport report;
  report.options = o;
  report.time = utc_now();
  report.processes = static_cast<uint32_t>(counts.size());

  ProcSample before = sample_servers(o);
  if (o.server_pid && !before.ok) {
    std::fprintf(stderr, "craft-bench: cannot read /proc of every --server-pid\n");
    return 2;
  }
  report.server_known = before.ok;
  report.rss_before = before.vm_rss;
  report.anon_before = before.rss_anon;

  std::vector<Child> children(counts.size());
  for (size_t k = 0; k < counts.size(); ++k) {
    int up[2], down[2];
    if (pipe2(up, O_CLOEXEC) != 0 || pipe2(down, O_CLOEXEC) != 0) {
      std::perror("craft-bench: pipe");
      return 2;
    }
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
      std::perror("craft-bench: fork");
      return 2;
    }
    if (pid == 0) {
      ::close(up[0]);
      ::close(down[1]);
      for (size_t j = 0; j < k; ++j) {
        ::close(children[j].up);
        ::close(children[j].down);
      }
      GeneratorPlan plan;
      plan.index = static_cast<uint32_t>(k);
      plan.count = counts[k];
      plan.source = source_for(o, plan.index, counts.size());
      plan.up_fd = up[1];
      plan.down_fd = down[0];
      // Several nodes: this process talks to one of them (and, cross-node, joins on the next).
      Options mine = o;
      if (!o.targets.empty()) {
        const size_t t = k % o.targets.size();
        mine.host = o.targets[t].host;
        mine.port = o.targets[t].port;
        mine.join_target = o.targets[(t + 1) % o.targets.size()];
      }
      int status = run_generator(mine, plan);
      std::fflush(nullptr);
      _exit(status);
    }
    ::close(up[1]);
    ::close(down[0]);
    children[k].pid = pid;
    children[k].up = up[0];
    children[k].down = down[1];
    children[k].count = counts[k];
  }

  const bool tty = isatty(2) && !o.quiet;
  const int64_t start = mono_ns();
  int64_t next_progress = start + 1'000'000'000;
  enum class Phase { setup, settle, running, finishing } phase = Phase::setup;
  int64_t settle_until = 0, t0 = 0, t1 = 0, deadline = INT64_MAX;
  ProcSample at_t0, at_t1;
  MachineSample machine_t0, machine_t1;
  bool sampled_t0 = false, sampled_t1 = false;
  TickMetrics ticks_t0;

  while (true) {
    std::vector<pollfd> fds;
    for (auto& c : children) {
      if (c.up >= 0) fds.push_back({c.up, POLLIN, 0});
    }
    if (fds.empty()) break;
    int64_t now = mono_ns();
    int64_t wake = std::min(next_progress, now + 50'000'000);
    if (phase == Phase::settle) wake = std::min(wake, settle_until);
    if (phase == Phase::running) wake = std::min(wake, sampled_t0 ? t1 : t0);
    int timeout = int(std::max<int64_t>(0, wake - now + 999'999) / 1'000'000);
    ::poll(fds.data(), fds.size(), timeout);
    for (auto& c : children) {
      if (c.up < 0) continue;
      for (auto& p : fds) {
        if (p.fd == c.up && (p.revents & (POLLIN | POLLHUP | POLLERR))) read_child(c);
      }
    }
    now = mono_ns();
    if (phase == Phase::setup && std::all_of(children.begin(), children.end(), [](auto& c) { return c.ready; })) {
      int64_t setup_ns = 0;
      for (auto& c : children) setup_ns = std::max(setup_ns, c.setup_ns);
      report.setup_s = double(setup_ns) / 1e9;
      phase = Phase::settle;
      settle_until = now + (o.scenario == Scenario::idle ? int64_t(o.settle * 1e9) : 0);
    }
    if (phase == Phase::settle && now >= settle_until) {
      ProcSample after = sample_servers(o, true);
      report.rss_after = after.vm_rss;
      report.anon_after = after.rss_anon;
      report.server_threads = after.threads;
      report.server_fds = after.fds;
      uint64_t ready = 0;
      for (auto& c : children) ready += c.ready_n;
      // Nobody to measure: end at once instead of waiting out the window.
      // held measured everything itself before saying ready.
      const bool untimed = o.scenario == Scenario::idle || o.scenario == Scenario::held;
      t0 = now + (untimed || !ready ? 0 : int64_t(o.warmup * 1e9));
      t1 = t0 + (ready && o.scenario != Scenario::held ? int64_t(o.duration * 1e9) : 0);
      deadline = t1 + 20'000'000'000;
      std::string go = "go " + std::to_string(t0) + ' ' + std::to_string(t1) + '\n';
      for (auto& c : children) {
        if (!c.ended && ::write(c.down, go.data(), go.size()) < 0) c.ended = true;
      }
      phase = Phase::running;
    }
    if (phase == Phase::running && !sampled_t0 && now >= t0) {
      if (o.scenario == Scenario::tick) ticks_t0 = scrape_tick_metrics(o.host, o.port);
      at_t0 = sample_servers(o, true);  // every client is still connected here
      machine_t0 = sample_machine();
      sampled_t0 = true;
    }
    if (phase == Phase::running && !sampled_t1 && now >= t1) {
      if (o.scenario == Scenario::tick) {
        auto ticks_t1 = scrape_tick_metrics(o.host, o.port);
        if (ticks_t0.ok && ticks_t1.ok) {
          report.tick_known = true;
          report.tick_lateness_p50_us = lateness_quantile_us(ticks_t0, ticks_t1, 0.5);
          report.tick_lateness_p99_us = lateness_quantile_us(ticks_t0, ticks_t1, 0.99);
          report.tick_lateness_max_us = lateness_quantile_us(ticks_t0, ticks_t1, 1.0);
          report.ticks = ticks_t1.ticks - ticks_t0.ticks;
          report.ticks_skipped = ticks_t1.skipped - ticks_t0.skipped;
        }
      }
      at_t1 = sample_servers(o, true);
      machine_t1 = sample_machine();
      sampled_t1 = true;
      report.window_s = double(t1 - t0) / 1e9;  // the children stamp sends and receptions against [T0, T1)
      phase = Phase::finishing;
    }
    if (now >= deadline) {
      std::fprintf(stderr, "\ncraft-bench: generator processes did not finish; stopping them\n");
      for (auto& c : children) {
        if (c.up >= 0) kill(c.pid, SIGKILL);
      }
      deadline = INT64_MAX;
    }
    if (now >= next_progress) {
      if (!o.quiet) show_progress(o, children, double(now - start) / 1e9, tty);
      next_progress += 1'000'000'000;
      if (next_progress <= now) next_progress = now + 1'000'000'000;
    }
  }
  if (tty) std::fputc('\n', stderr);
  for (auto& c : children) {
    int status = 0;
    waitpid(c.pid, &status, 0);
    if (!c.got_end || !WIFEXITED(status) || WEXITSTATUS(status) != 0) report.children_ok = false;
    report.totals.merge(c.result);
    if (c.down >= 0) ::close(c.down);
  }
  if (report.server_known) {
    if (!sampled_t1) at_t1 = sample_servers(o, true);
    report.rss_end = at_t1.vm_rss;
    if (o.scenario != Scenario::idle && sampled_t0) {  // idle: counted at "after", before "go"
      report.server_threads = at_t0.threads;
      report.server_fds = at_t0.fds;
    }
    if (sampled_t0 && at_t0.ok && at_t1.ok) report.server_cpu_us = at_t1.cpu_us - at_t0.cpu_us;
    if (o.scenario != Scenario::idle) {
      // Only idle measures memory between "before" and "after"; for traffic runs keep the
      // same fields meaning "before connecting" and "at the end of the window".
      report.rss_after = at_t1.vm_rss;
      report.anon_after = at_t1.rss_anon;
    }
  }
  if (machine_t0.ok && machine_t1.ok && machine_t1.total() > machine_t0.total()) {
    double total = double(machine_t1.total() - machine_t0.total());
    report.machine_busy_pct = 100.0 * double(machine_t1.busy - machine_t0.busy) / total;
    report.machine_steal_pct = 100.0 * double(machine_t1.steal - machine_t0.steal) / total;
  }
  print_table(stdout, report);
  if (!o.json.empty()) {
    std::FILE* f = std::fopen(o.json.c_str(), "a");
    if (!f) {
      std::perror(("craft-bench: " + o.json).c_str());
      return 2;
    }
    std::fprintf(f, "%s\n", json_line(report).c_str());
    std::fclose(f);
  }
  return report.totals.ready > 0 && report.children_ok ? 0 : 1;
}
