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
  gen_cpu_us += o.gen_cpu_us;
  for (auto& [k, v] : o.reasons) reasons[k] += v;
  latency.merge(o.latency);
  rtt.merge(o.rtt);
}

namespace {
#define CRAFT_BENCH_FIELDS(X)                                                                          \
  X(ready) X(failed) X(dropped) X(setup_ns) X(sent) X(expected) X(delivered_window) X(delivered_of_window) \
  X(errors) X(rate_limited) X(skipped) X(backlogged) X(pings) X(gen_cpu_us)
}  // namespace

void write_result(PipeWriter& out, const GeneratorResult& r) {
  std::string line = "result";
#define X(name) line += " " #name "=" + std::to_string(r.name);
  CRAFT_BENCH_FIELDS(X)
#undef X
  out.line(line);
  for (auto& [text, count] : r.reasons) out.line("reason " + std::to_string(count) + ' ' + text);
  out.line("hist latency " + r.latency.serialize());
  out.line("hist rtt " + r.rtt.serialize());
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
  if (kind == "hist") {
    std::string name, rest;
    in >> name;
    std::getline(in, rest);
    Histogram h;
    if (!h.deserialize(rest)) return false;
    (name == "rtt" ? r.rtt : r.latency) = h;
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

}  // namespace

void print_table(std::FILE* out, const RunReport& r) {
  const auto& o = r.options;
  const auto& t = r.totals;
  Derived d = derive(r);
  auto row = [&](const char* name, const std::string& value) { std::fprintf(out, "  %-28s %s\n", name, value.c_str()); };
  std::fprintf(out, "\ncraft-bench %s over %s: %u clients", scenario_name(o.scenario), transport_name(o.transport),
               o.clients);
  if (o.scenario != Scenario::idle) std::fprintf(out, ", rooms of %u, %.4g Hz, %u-byte payload", o.room_size, o.rate, o.payload);
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
  if (o.scenario != Scenario::idle) {
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
  if (r.server_known) {
    integer("server_pid", o.server_pid);
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
