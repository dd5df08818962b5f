#!/usr/bin/env python3
"""The cluster benchmark's summary (bench/run-cluster): one Markdown table from craft-bench's
JSON lines, the once-a-second Redis INFO commandstats samples and each phase's window."""
import argparse
import json
import os


def load_samples(path):
    """[(unix time, {command: calls})], INFO itself left out (the sampler's own calls)."""
    out = []
    with open(path) as f:
        for line in f:
            ts, _, rest = line.rstrip("\n").partition("\t")
            try:
                t = float(ts)
            except ValueError:
                continue
            calls = {}
            for item in rest.split():
                name, _, n = item.partition("=")
                if name and n.isdigit() and name != "info":
                    calls[name] = int(n)
            out.append((t, calls))
    return out


def delta(samples, start, end):
    """Commands between the first sample at/after start and the last at/before end:
    (seconds, total, {command: calls}); None when fewer than two samples fall inside."""
    inside = [s for s in samples if start <= s[0] <= end]
    if len(inside) < 2:
        return None
    (t0, a), (t1, b) = inside[0], inside[-1]
    per = {k: b.get(k, 0) - a.get(k, 0) for k in set(a) | set(b)}
    per = {k: v for k, v in per.items() if v}
    return t1 - t0, sum(per.values()), per


def read_pair(path):
    try:
        with open(path) as f:
            parts = f.read().split()
        return float(parts[0]), float(parts[1])
    except (OSError, ValueError, IndexError):
        return None


def fmt_cmds(per, seconds):
    top = sorted(per.items(), key=lambda kv: -kv[1])[:6]
    return ", ".join(f"{k} {v / seconds:.1f}" for k, v in top) or "none"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jsonl", required=True)
    ap.add_argument("--redis", required=True)
    ap.add_argument("--logs", required=True)
    ap.add_argument("--phases", default="idle join relay")
    a = ap.parse_args()
    runs = {}
    if os.path.exists(a.jsonl):
        with open(a.jsonl) as f:
            for line in f:
                r = json.loads(line)
                runs[r["label"].split()[0].removeprefix("cluster-")] = r
    samples = load_samples(a.redis)

    def window(name):
        return read_pair(os.path.join(a.logs, f"{name}-window"))

    def span(name):
        return read_pair(os.path.join(a.logs, f"{name}-span"))

    baseline = None  # Redis commands/s with every connection idle: the cluster's own upkeep
    rows = []
    for name in a.phases.split():
        r = runs.get(name)
        if not r:
            rows.append(f"| {name} | no result (see the craft-bench output) |")
            continue
        head = (f"| {name} | {r['clients']:,} | {r['ready']:,} | {r['failed']} / {r['dropped']} | "
                f"{r.get('connect_per_s', 0):,.0f} |")
        # The hold/measure window as the generators' progress lines showed it (a second's
        # slack: the lines come once a second); the whole phase when it was too short.
        w = window(name)
        steady = delta(samples, w[0] - 1, w[1] + 1) if w else None
        if not steady and name == "idle" and span(name):
            steady = delta(samples, *span(name))
        steady_txt = (f"{steady[1] / steady[0]:.1f}/s ({fmt_cmds(steady[2], steady[0])})"
                      if steady and steady[0] > 0 else "-")
        if name == "idle" and steady and steady[0] > 0:
            baseline = steady[1] / steady[0]
        if r["scenario"] == "idle":
            mem = (f"{(r['server_rss_before']) / 1048576:.1f} → {(r['server_rss_after']) / 1048576:.1f} MiB; "
                   f"{r['rss_per_conn']:,.0f} B VmRSS, {r['rss_anon_per_conn']:,.0f} B RssAnon per conn")
        else:
            mem = "-"
        join = r.get("join_us")
        join_txt = (f"p50 {join['p50']:,.0f} µs, p99 {join['p99']:,.0f} µs ({r['joins']:,} joins)"
                    if join else "-")
        per_join = "-"
        s = span(name)
        if join and s and baseline is not None:
            d = delta(samples, s[0], s[1])
            if d and r["joins"]:
                extra = d[1] - baseline * d[0]
                per_join = f"{max(0.0, extra) / r['joins']:.3f} ({d[1]:,} in {d[0]:.0f} s)"
        if r["scenario"] == "relay":
            relay = (f"{r['delivered_per_s']:,.0f} delivered/s of {r['sent_per_s']:,.0f} sent/s, ratio "
                     f"{r['delivery_ratio']:.4f}; p50 {r['latency_us']['p50']:,.0f} µs, p99 "
                     f"{r['latency_us']['p99']:,.0f} µs; nodes {r['server_cpu_us_per_msg']:.2f} µs CPU/msg "
                     f"({r['server_cpu_pct']:.0f}% of a core), generators {r['gen_cpu_us_per_msg']:.2f} µs/msg, "
                     f"machine {r['machine_busy_pct']:.0f}% busy")
        else:
            relay = "-"
        cpu = read_pair(os.path.join(a.logs, f"{name}-cpu"))
        cpu_txt = f"{(cpu[1] - cpu[0]) * 1e6 / r['ready']:,.0f} µs" if cpu and r["ready"] else "-"
        reasons = "; ".join(f"{v} × {k}" for k, v in r.get("reasons", {}).items())
        rows.append(f"{head} {mem} | {cpu_txt} | {join_txt} | {per_join} | {steady_txt} | {relay} | {reasons or '-'} |")
    for name in a.phases.split():
        try:
            with open(os.path.join(a.logs, f"{name}-load")) as f:
                print(f"- {name}: started {f.read().strip()}")
        except OSError:
            pass
    print()
    print("| phase | clients | ready | failed / dropped | connects/s | nodes' RSS before → after; per connection "
          "| nodes' CPU per client, whole phase | join latency | Redis commands per join | Redis commands/s at steady state (top commands) "
          "| relay | failure reasons |")
    print("|---|---:|---:|---|---:|---|---:|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
