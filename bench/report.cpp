#include "report.hpp"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <sstream>

namespace craft::bench {

void PipeWriter::line(const std::string& text) {
  std::string s = text + '\n';
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    done += size_t(n);
  }
}

void GeneratorResult::merge(const GeneratorResult& o) {
  ready += o.ready;
  failed += o.failed;
  dropped += o.dropped;
  setup_ns = std::max(setup_ns, o.setup_ns);
  sent += o.sent;
  expected += o.expected;
  delivered_window += o.delivered_window;
  delivered_of_window += o.delivered_of_window;
  errors += o.errors;
  rate_limited += o.rate_limited;
  skipped += o.skipped;
  backlogged += o.backlogged;
  pings += o.pings;
  acks_sent += o.acks_sent;
  acks_piggybacked += o.acks_piggybacked;
  unresumable += o.unresumable;
  held += o.held;
  feeders += o.feeders;
  resumed += o.resumed;
  resume_fresh += o.resume_fresh;
  resume_failed += o.resume_failed;
  replayed += o.replayed;
  replay_expected += o.replay_expected;
  redirects += o.redirects;
  samples.insert(samples.end(), o.samples.begin(), o.samples.end());
  gen_cpu_us += o.gen_cpu_us;
  for (auto& [k, v] : o.reasons) reasons[k] += v;
  latency.merge(o.latency);
  rtt.merge(o.rtt);
  join.merge(o.join);
}

namespace {
#define CRAFT_BENCH_FIELDS(X)                                                                          \
  X(ready) X(failed) X(dropped) X(setup_ns) X(sent) X(expected) X(delivered_window) X(delivered_of_window) \
  X(errors) X(rate_limited) X(skipped) X(backlogged) X(pings) X(gen_cpu_us) X(acks_sent) X(acks_piggybacked) \
  X(unresumable) X(held) X(feeders) X(resumed) X(resume_fresh) X(resume_failed) X(replayed) X(replay_expected) \
  X(redirects)
}  // namespace

void write_result(PipeWriter& out, const GeneratorResult& r) {
  std::string line = "result";
#define X(name) line += " " #name "=" + std::to_string(r.name);
  CRAFT_BENCH_FIELDS(X)
#undef X
  out.line(line);
  for (auto& [text, count] : r.reasons) out.line("reason " + std::to_string(count) + ' ' + text);
  for (auto& x : r.samples) {
    char buf[160];
    std::snprintf(buf, sizeof buf, " %llu %llu %lld %lld %.17g %.17g %.17g", (unsigned long long)x.held,
                  (unsigned long long)x.live, (long long)x.vm_rss, (long long)x.rss_anon, x.gauge, x.replay_kib,
                  x.expired);
    out.line("sample " + x.label + buf);
  }
  out.line("hist latency " + r.latency.serialize());
  out.line("hist rtt " + r.rtt.serialize());
  out.line("hist join " + r.join.serialize());
  out.line("end");
}

bool read_result_line(const std::string& line, GeneratorResult& r) {
  std::istringstream in(line);
  std::string kind;
  in >> kind;
  if (kind == "result") {
    std::string item;
    while (in >> item) {
      auto eq = item.find('=');
      if (eq == std::string::npos) continue;
      auto key = item.substr(0, eq);
      auto value = std::strtoll(item.c_str() + eq + 1, nullptr, 10);
#define X(name) \
  if (key == #name) r.name = static_cast<decltype(r.name)>(value);
      CRAFT_BENCH_FIELDS(X)
#undef X
    }
    return true;
  }
  if (kind == "reason") {
    uint64_t count = 0;
    in >> count;
    std::string text;
    std::getline(in, text);
    if (!text.empty() && text.front() == ' ') text.erase(0, 1);
    r.reasons[text] += count;
    return true;
  }
  if (kind == "sample") {
    HeldSample x;
    std::string gauge, expired;
    in >> x.label >> x.held >> x.live >> x.vm_rss >> x.rss_anon >> gauge >> x.replay_kib >> expired;
    x.gauge = std::strtod(gauge.c_str(), nullptr);  // "nan" when the server has no such metric
    x.expired = std::strtod(expired.c_str(), nullptr);
    r.samples.push_back(x);
    return true;
  }
  if (kind == "hist") {
    std::string name, rest;
    in >> name;
    std::getline(in, rest);
    Histogram h;
    if (!h.deserialize(rest)) return false;
    (name == "rtt" ? r.rtt : name == "join" ? r.join : r.latency) = h;
    return true;
  }
  return false;
}

namespace {

double us(uint64_t ns) { return double(ns) / 1000.0; }

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out;
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  return fmt("%.6g", v);
}

std::string percentiles_json(const Histogram& h, double scale) {
  std::string s = "{\"count\":" + std::to_string(h.count());
  const std::pair<const char*, double> qs[] = {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p999", 0.999}};
  for (auto& [name, q] : qs) s += std::string(",\"") + name + "\":" + json_number(us(h.quantile(q)) * scale);
  s += ",\"max\":" + json_number(us(h.max()) * scale);
  s += ",\"mean\":" + json_number(h.mean() / 1000.0 * scale);
  return s + "}";
}

struct Derived {
  double sent_per_s = 0, delivered_per_s = 0, ratio = NAN;
  double server_cpu_per_msg = NAN, server_cpu_pct = NAN, gen_cpu_per_msg = NAN, gen_cpu_pct = NAN;
  double rss_per_conn = NAN, anon_per_conn = NAN;
};

Derived derive(const RunReport& r) {
  Derived d;
  const auto& t = r.totals;
  if (r.window_s > 0) {
    d.sent_per_s = double(t.sent) / r.window_s;
    d.delivered_per_s = double(t.delivered_window) / r.window_s;
    if (r.server_known) d.server_cpu_pct = 100.0 * double(r.server_cpu_us) / (r.window_s * 1e6);
    d.gen_cpu_pct = 100.0 * double(t.gen_cpu_us) / (r.window_s * 1e6);
  }
  if (t.expected) d.ratio = double(t.delivered_of_window) / double(t.expected);
  if (t.delivered_window) {
    if (r.server_known) d.server_cpu_per_msg = double(r.server_cpu_us) / double(t.delivered_window);
    d.gen_cpu_per_msg = double(t.gen_cpu_us) / double(t.delivered_window);
  }
  if (r.server_known && t.ready) {
    d.rss_per_conn = double(r.rss_after - r.rss_before) / double(t.ready);
    d.anon_per_conn = double(r.anon_after - r.anon_before) / double(t.ready);
  }
  return d;
}

// held: bytes per session and per KiB of replay buffer, from the generator's samples.
struct HeldDerived {
  double connected_vm = NAN, connected_anon = NAN;  // per connected session in a room (first batch)
  double held_vm = NAN, held_anon = NAN;            // per held session: growth from the first held sample to the last
  uint64_t held_from = 0, held_to = 0;
  double first_vm = NAN, first_anon = NAN;          // (first held sample - start) / its held sessions
  double kib_vm = NAN, kib_anon = NAN;              // per KiB in one held session's replay buffer
  double sent_kib_vm = NAN, sent_kib_anon = NAN;    // per KiB a feeder sent (each reaches every held member)
  double replay_kib = 0;                            // KiB per held session between the replay samples
};

HeldDerived derive_held(const RunReport& r) {
  HeldDerived d;
  const auto& s = r.totals.samples;
  auto find = [&](const std::string& label) -> const HeldSample* {
    for (auto& x : s) {
      if (x.label == label) return &x;
    }
    return nullptr;
  };
  const HeldSample* start = find("start");
  const HeldSample* connected = find("connected-1");
  std::vector<const HeldSample*> held, replay;
  for (auto& x : s) {
    if (x.label.starts_with("held-")) held.push_back(&x);
    if (x.label.starts_with("replay-")) replay.push_back(&x);
  }
  if (start && connected && connected->live) {
    d.connected_vm = double(connected->vm_rss - start->vm_rss) / double(connected->live);
    d.connected_anon = double(connected->rss_anon - start->rss_anon) / double(connected->live);
  }
  if (start && !held.empty() && held[0]->held) {
    d.first_vm = double(held[0]->vm_rss - start->vm_rss) / double(held[0]->held);
    d.first_anon = double(held[0]->rss_anon - start->rss_anon) / double(held[0]->held);
  }
  if (held.size() >= 2 && held.back()->held > held[0]->held) {
    d.held_from = held[0]->held;
    d.held_to = held.back()->held;
    auto n = double(d.held_to - d.held_from);
    d.held_vm = double(held.back()->vm_rss - held[0]->vm_rss) / n;
    d.held_anon = double(held.back()->rss_anon - held[0]->rss_anon) / n;
  }
  if (replay.size() >= 2 && replay.back()->held && r.totals.feeders) {
    d.replay_kib = replay.back()->replay_kib - replay[0]->replay_kib;
    if (d.replay_kib > 0) {
      double dv = double(replay.back()->vm_rss - replay[0]->vm_rss);
      double da = double(replay.back()->rss_anon - replay[0]->rss_anon);
      double per_session = double(replay.back()->held) * d.replay_kib;
      double per_sent = double(r.totals.feeders) * d.replay_kib;
      d.kib_vm = dv / per_session, d.kib_anon = da / per_session;
      d.sent_kib_vm = dv / per_sent, d.sent_kib_anon = da / per_sent;
    }
  }
  return d;
}

void print_held(std::FILE* out, const RunReport& r) {
  auto row = [&](const char* name, const std::string& value) { std::fprintf(out, "  %-28s %s\n", name, value.c_str()); };
  const auto& t = r.totals;
  row("held (cut, no goodbye)", std::to_string(t.held) + (r.options.cut == Cut::rst ? " (TCP reset)" : " (close, FIN)"));
  if (t.unresumable) row("WARNING", std::to_string(t.unresumable) + " welcomes without a resume token (no resume support?)");
  std::fprintf(out, "  %-14s %8s %8s %10s %8s %12s %12s %10s\n", "sample", "held", "live", "srv held", "expired",
               "VmRSS KiB", "RssAnon KiB", "KiB/held");
  for (auto& x : t.samples) {
    std::fprintf(out, "  %-14s %8llu %8llu %10s %8s %12.0f %12.0f %10.1f\n", x.label.c_str(),
                 (unsigned long long)x.held, (unsigned long long)x.live,
                 std::isfinite(x.gauge) ? fmt("%.0f", x.gauge).c_str() : "-",
                 std::isfinite(x.expired) ? fmt("%.0f", x.expired).c_str() : "-", double(x.vm_rss) / 1024,
                 double(x.rss_anon) / 1024, x.replay_kib);
  }
  if (t.resumed || t.resume_fresh || t.resume_failed) {
    row("resume check", std::to_string(t.resumed) + " resumed, " + std::to_string(t.resume_fresh) + " fresh, " +
                            std::to_string(t.resume_failed) + " refused; room_data replayed " +
                            std::to_string(t.replayed) + " of " + std::to_string(t.replay_expected));
  }
  HeldDerived d = derive_held(r);
  row("per connected session", fmt("%.0f B VmRSS", d.connected_vm) + fmt(", %.0f B RssAnon (first batch, in rooms)", d.connected_anon));
  row("per held (first batch)", fmt("%.0f B VmRSS", d.first_vm) + fmt(", %.0f B RssAnon (incl. connection high-water)", d.first_anon));
  if (std::isfinite(d.held_vm)) {
    row("per held session", fmt("%.0f B VmRSS", d.held_vm) + fmt(", %.0f B RssAnon", d.held_anon) + " (held " +
                                std::to_string(d.held_from) + " -> " + std::to_string(d.held_to) + ")");
  }
  if (std::isfinite(d.kib_vm)) {
    row("per KiB of replay buffer", fmt("%.0f B VmRSS", d.kib_vm) + fmt(", %.0f B RssAnon", d.kib_anon) +
                                        fmt(" (%.1f KiB into each held session)", d.replay_kib));
    row("per KiB sent to a room", fmt("%.0f B VmRSS", d.sent_kib_vm) + fmt(", %.0f B RssAnon", d.sent_kib_anon) + " (" +
                                      std::to_string(t.feeders) + " feeders)");
  }
}

}  // namespace

void print_table(std::FILE* out, const RunReport& r) {
  const auto& o = r.options;
  const auto& t = r.totals;
  Derived d = derive(r);
  auto row = [&](const char* name, const std::string& value) { std::fprintf(out, "  %-28s %s\n", name, value.c_str()); };
  std::fprintf(out, "\ncraft-bench %s over %s: %u clients", scenario_name(o.scenario), transport_name(o.transport),
               o.clients);
  if (o.scenario != Scenario::idle) std::fprintf(out, ", rooms of %u, %.4g Hz, %u-byte payload", o.room_size, o.rate, o.payload);
  if (o.resumable) std::fprintf(out, ", resumable");
  std::fprintf(out, ", %u process%s%s%s\n", r.processes, r.processes == 1 ? "" : "es", o.label.empty() ? "" : ", label ",
               o.label.c_str());
  std::fprintf(out, "  %-28s %s\n", "metric", "value");
  std::fprintf(out, "  %-28s %s\n", "----------------------------", "--------------------");
  row("clients ready", std::to_string(t.ready) + " of " + std::to_string(o.clients));
  row("failed / dropped", std::to_string(t.failed) + " / " + std::to_string(t.dropped));
  row("setup time", fmt("%.2f s", r.setup_s) + fmt(" (%.0f clients/s)", r.setup_s > 0 ? double(t.ready) / r.setup_s : 0));
  if (r.server_known) {
    row("server VmRSS before / after", fmt("%.1f MiB", double(r.rss_before) / 1048576) + fmt(" / %.1f MiB", double(r.rss_after) / 1048576));
    if (o.scenario == Scenario::idle) {
      row("RSS per connection (VmRSS)", fmt("%.0f bytes", d.rss_per_conn));
      row("RSS per connection (anon)", fmt("%.0f bytes", d.anon_per_conn));
    }
    row("server threads / fds", std::to_string(r.server_threads) + " / " + std::to_string(r.server_fds));
  }
  if (t.join.count()) {
    row("join latency us", fmt("p50 %.0f", us(t.join.quantile(0.5))) + fmt("  p90 %.0f", us(t.join.quantile(0.9))) +
                               fmt("  p99 %.0f", us(t.join.quantile(0.99))) + fmt("  max %.0f", us(t.join.max())) +
                               " (" + std::to_string(t.join.count()) + " joins)");
  }
  if (o.cross_node) row("redirects followed", std::to_string(t.redirects));
  if (o.targets.size() > 1) row("servers", std::to_string(o.targets.size()) + " targets, " + std::to_string(o.server_pids.size()) + " pids summed");
  if (o.scenario == Scenario::held) {
    print_held(out, r);
  } else if (o.scenario != Scenario::idle) {
    row("measured window", fmt("%.2f s", r.window_s));
    row("sent", fmt("%.0f msg/s", d.sent_per_s) + " (" + std::to_string(t.sent) + ")");
    row("delivered", fmt("%.0f msg/s", d.delivered_per_s) + " (" + std::to_string(t.delivered_window) + ")");
    if (o.scenario != Scenario::tick) {
      row("delivery ratio", fmt("%.5f", d.ratio) + " (" + std::to_string(t.delivered_of_window) + " of " +
                                std::to_string(t.expected) + ")");
    }
    const Histogram& h = o.scenario == Scenario::echo ? t.rtt : t.latency;
    const char* title = o.scenario == Scenario::echo ? "round trip"
                        : o.scenario == Scenario::tick ? "input to ack" : "latency";
    auto pct = [&](const Histogram& x, double scale) {
      return fmt("p50 %.0f", us(x.quantile(0.5)) * scale) + fmt("  p90 %.0f", us(x.quantile(0.9)) * scale) +
             fmt("  p99 %.0f", us(x.quantile(0.99)) * scale) + fmt("  p99.9 %.0f", us(x.quantile(0.999)) * scale) +
             fmt("  max %.0f", us(x.max()) * scale);
    };
    row((std::string(title) + " us").c_str(), pct(h, 1.0));
    if (o.scenario == Scenario::tick) {
      row("snapshot age us (ms clock)", pct(t.rtt, 1.0));
      if (r.tick_known) {
        row("server ticks / skipped", std::to_string(r.ticks) + " / " + std::to_string(r.ticks_skipped));
        row("server tick lateness us", fmt("p50 <= %.0f", r.tick_lateness_p50_us) +
                                           fmt("  p99 <= %.0f", r.tick_lateness_p99_us) +
                                           fmt("  max <= %.0f", r.tick_lateness_max_us));
      }
    }
    if (o.scenario == Scenario::echo) {
      row("one way = RTT/2 us", pct(t.rtt, 0.5));
      row("one way A->B measured us", pct(t.latency, 1.0));
    }
    if (r.server_known) {
      row("server CPU per delivered msg", fmt("%.2f us", d.server_cpu_per_msg) + fmt(" (%.0f%% of a core)", d.server_cpu_pct));
    }
    row("generator CPU per delivered", fmt("%.2f us", d.gen_cpu_per_msg) + fmt(" (%.0f%% of a core)", d.gen_cpu_pct));
    if (r.machine_busy_pct >= 0) {
      row("machine CPU busy (all cores)", fmt("%.0f%%", r.machine_busy_pct) + fmt(" (steal %.1f%%)", r.machine_steal_pct));
    }
    row("errors (rate limited)", std::to_string(t.errors) + " (" + std::to_string(t.rate_limited) + ")");
    if (o.resumable) {
      row("acks piggybacked / alone", std::to_string(t.acks_piggybacked) + " / " + std::to_string(t.acks_sent) +
                                          (t.unresumable ? ", " + std::to_string(t.unresumable) + " not resumable" : ""));
    }
    if (t.skipped || t.backlogged) {
      row("sends skipped / backlogged", std::to_string(t.skipped) + " / " + std::to_string(t.backlogged));
    }
  } else if (o.duration > 0) {
    row("held for", fmt("%.1f s", r.window_s) + ", " + std::to_string(t.pings) + " pings");
  }
  for (auto& [text, count] : t.reasons) row("  reason", std::to_string(count) + " x " + text);
  if (!r.children_ok) row("WARNING", "a generator process ended without a result");
  std::fflush(out);
}

std::string json_line(const RunReport& r) {
  const auto& o = r.options;
  const auto& t = r.totals;
  Derived d = derive(r);
  std::string s = "{";
  auto field = [&](const char* k, const std::string& raw) {
    if (s.size() > 1) s += ',';
    s += '"';
    s += k;
    s += "\":";
    s += raw;
  };
  auto str = [&](const char* k, const std::string& v) { field(k, std::string("\"").append(json_escape(v)).append("\"")); };
  auto num = [&](const char* k, double v) { field(k, json_number(v)); };
  auto integer = [&](const char* k, int64_t v) { field(k, std::to_string(v)); };
  str("time", r.time);
  str("label", o.label);
  str("scenario", scenario_name(o.scenario));
  str("transport", transport_name(o.transport));
  integer("clients", o.clients);
  integer("processes", r.processes);
  integer("room_size", o.scenario == Scenario::idle ? 0 : o.room_size);
  num("rate_hz", o.scenario == Scenario::idle ? 0 : o.rate);
  integer("payload", o.payload);
  num("duration_s", o.duration);
  num("window_s", r.window_s);
  integer("ready", static_cast<int64_t>(t.ready));
  integer("failed", static_cast<int64_t>(t.failed));
  integer("dropped", static_cast<int64_t>(t.dropped));
  num("setup_s", r.setup_s);
  num("connect_per_s", r.setup_s > 0 ? double(t.ready) / r.setup_s : NAN);
  if (t.join.count()) {
    field("join_us", percentiles_json(t.join, 1.0));
    integer("joins", static_cast<int64_t>(t.join.count()));
  }
  if (!o.join_or_create.empty()) str("join_or_create", o.join_or_create);
  if (!o.targets.empty()) integer("targets", static_cast<int64_t>(o.targets.size()));
  if (o.cross_node) {
    field("cross_node", "true");
    integer("redirects", static_cast<int64_t>(t.redirects));
  }
  if (r.server_known) {
    integer("server_pid", o.server_pid);
    integer("server_count", static_cast<int64_t>(o.server_pids.size()));
    integer("server_rss_before", r.rss_before);
    integer("server_rss_after", r.rss_after);
    integer("server_rss_anon_before", r.anon_before);
    integer("server_rss_anon_after", r.anon_after);
    integer("server_rss_end", r.rss_end);
    integer("server_threads", r.server_threads);
    integer("server_fds", r.server_fds);
    num("rss_per_conn", d.rss_per_conn);
    num("rss_anon_per_conn", d.anon_per_conn);
    integer("server_cpu_us", r.server_cpu_us);
    num("server_cpu_us_per_msg", d.server_cpu_per_msg);
    num("server_cpu_pct", d.server_cpu_pct);
  }
  num("machine_busy_pct", r.machine_busy_pct >= 0 ? r.machine_busy_pct : NAN);
  num("machine_steal_pct", r.machine_steal_pct >= 0 ? r.machine_steal_pct : NAN);
  integer("sent", static_cast<int64_t>(t.sent));
  integer("expected", static_cast<int64_t>(t.expected));
  integer("delivered", static_cast<int64_t>(t.delivered_window));
  integer("delivered_of_sent", static_cast<int64_t>(t.delivered_of_window));
  num("sent_per_s", d.sent_per_s);
  num("delivered_per_s", d.delivered_per_s);
  num("delivery_ratio", d.ratio);
  if (o.scenario == Scenario::echo) {
    field("rtt_us", percentiles_json(t.rtt, 1.0));
    field("one_way_us", percentiles_json(t.rtt, 0.5));
    field("a_to_b_us", percentiles_json(t.latency, 1.0));
    field("latency_us", percentiles_json(t.rtt, 0.5));
  } else {
    field("latency_us", percentiles_json(t.latency, 1.0));
  }
  if (o.scenario == Scenario::tick) {
    field("snapshot_age_us", percentiles_json(t.rtt, 1.0));
    str("room_options", o.room_options);
    if (r.tick_known) {
      num("tick_lateness_p50_us", r.tick_lateness_p50_us);
      num("tick_lateness_p99_us", r.tick_lateness_p99_us);
      num("tick_lateness_max_us", r.tick_lateness_max_us);
      integer("ticks", static_cast<int64_t>(r.ticks));
      integer("ticks_skipped", static_cast<int64_t>(r.ticks_skipped));
    }
  }
  field("resumable", o.resumable ? "true" : "false");
  if (o.resumable) {
    integer("acks_piggybacked", static_cast<int64_t>(t.acks_piggybacked));
    integer("acks_sent", static_cast<int64_t>(t.acks_sent));
    integer("unresumable", static_cast<int64_t>(t.unresumable));
  }
  if (o.scenario == Scenario::held) {
    HeldDerived h = derive_held(r);
    integer("held", static_cast<int64_t>(t.held));
    integer("feeders", static_cast<int64_t>(t.feeders));
    integer("batch", o.batch);
    str("cut", o.cut == Cut::rst ? "rst" : "fin");
    integer("replay_kb", o.replay_kb);
    integer("resumed", static_cast<int64_t>(t.resumed));
    integer("resume_fresh", static_cast<int64_t>(t.resume_fresh));
    integer("resume_failed", static_cast<int64_t>(t.resume_failed));
    integer("replayed", static_cast<int64_t>(t.replayed));
    integer("replay_expected", static_cast<int64_t>(t.replay_expected));
    num("connected_session_rss", h.connected_vm);
    num("connected_session_rss_anon", h.connected_anon);
    num("held_first_rss", h.first_vm);
    num("held_first_rss_anon", h.first_anon);
    num("held_session_rss", h.held_vm);
    num("held_session_rss_anon", h.held_anon);
    num("replay_rss_per_kib", h.kib_vm);
    num("replay_rss_anon_per_kib", h.kib_anon);
    num("replay_rss_per_sent_kib", h.sent_kib_vm);
    num("replay_rss_anon_per_sent_kib", h.sent_kib_anon);
    std::string samples = "[";
    for (auto& x : t.samples) {
      if (samples.size() > 1) samples += ',';
      samples += "{\"label\":\"" + json_escape(x.label) + "\",\"held\":" + std::to_string(x.held) +
                 ",\"live\":" + std::to_string(x.live) + ",\"vm_rss\":" + std::to_string(x.vm_rss) +
                 ",\"rss_anon\":" + std::to_string(x.rss_anon) + ",\"gauge\":" + json_number(x.gauge) + ",\"expired\":" + json_number(x.expired) +
                 ",\"replay_kib\":" + json_number(x.replay_kib) + "}";
    }
    field("samples", samples + "]");
  }
  integer("gen_cpu_us", t.gen_cpu_us);
  num("gen_cpu_us_per_msg", d.gen_cpu_per_msg);
  num("gen_cpu_pct", d.gen_cpu_pct);
  integer("errors", static_cast<int64_t>(t.errors));
  integer("rate_limited", static_cast<int64_t>(t.rate_limited));
  integer("skipped_sends", static_cast<int64_t>(t.skipped));
  integer("backlogged_sends", static_cast<int64_t>(t.backlogged));
  std::string reasons = "{";
  for (auto& [text, count] : t.reasons) {
    if (reasons.size() > 1) reasons += ',';
    reasons.append("\"").append(json_escape(text)).append("\":").append(std::to_string(count));
  }
  field("reasons", reasons + "}");
  field("complete", r.children_ok ? "true" : "false");
  return s + "}";
}

}  // namespace craft::bench
