#!/usr/bin/python3
"""Plots and tables from craft-bench JSON lines.

    /usr/bin/python3 bench/plot.py RESULTS.jsonl [--out PREFIX] [--markdown]

Writes PREFIX-latency.png (relay latency percentiles vs clients), PREFIX-cpu.png (server and
generator CPU per delivered message vs clients) and PREFIX-memory.png (idle RSS per connection
vs connections); PREFIX defaults to the input path without .jsonl. With --markdown, prints the
runs as Markdown tables (what docs/benchmarks.md shows). Needs matplotlib for the PNGs
(bench/setup installs Debian's python3-matplotlib); the tables need nothing.
"""
import argparse
import json
import os
import sys


def load(path, tool="plot.py"):
    runs = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                runs.append(json.loads(line))
            except json.JSONDecodeError as e:
                print(f"{tool}: {path}:{n}: skipped, not JSON ({e})", file=sys.stderr)
    return runs


def latest(runs, scenario):
    """The last run of each configuration of one scenario, sorted by clients."""
    keep = {}
    for r in runs:
        if r.get("scenario") != scenario:
            continue
        name = r.get("label", "").split(" @ ")[0]
        key = (r.get("transport"), r.get("clients"), r.get("room_size"), r.get("rate_hz"), r.get("payload"), name)
        keep[key] = r
    return sorted(keep.values(), key=lambda r: (r.get("transport", ""), r.get("clients", 0)))


def num(v, fmt="{:,.0f}"):
    if v is None or (isinstance(v, float) and v != v):
        return "n/a"
    return fmt.format(v)


def markdown(runs):
    out = []
    idle = latest(runs, "idle")
    if idle:
        out += ["### Idle connections", "",
                "| transport | connections | ready | failed | dropped | connect rate /s | server RSS before → after | RSS per conn (VmRSS) | RSS per conn (RssAnon) |",
                "|---|---:|---:|---:|---:|---:|---|---:|---:|"]
        for r in idle:
            mib = lambda b: num((b or 0) / 1048576, "{:.1f}")
            out.append(f"| {r['transport']} | {num(r['clients'])} | {num(r['ready'])} | {r['failed']} | {r['dropped']} "
                       f"| {num(r.get('connect_per_s'))} | {mib(r.get('server_rss_before'))} → {mib(r.get('server_rss_after'))} MiB "
                       f"| {num(r.get('rss_per_conn'))} B | {num(r.get('rss_anon_per_conn'))} B |")
        out.append("")
    echo = latest(runs, "echo")
    if echo:
        out += ["### Echo between two clients", "",
                "| transport | rate Hz | round trips | one way p50 (RTT/2) | one way p99 (RTT/2) | RTT p50 | RTT p99 | RTT max | A→B measured p50 / p99 | rate limited |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in echo:
            rtt, ow, ab = r.get("rtt_us", {}), r.get("one_way_us", {}), r.get("a_to_b_us", {})
            us = lambda v: num(v, "{:,.0f} µs")
            out.append(f"| {r['transport']} | {num(r['rate_hz'], '{:g}')} | {num(rtt.get('count'))} | {us(ow.get('p50'))} | {us(ow.get('p99'))} "
                       f"| {us(rtt.get('p50'))} | {us(rtt.get('p99'))} | {us(rtt.get('max'))} "
                       f"| {us(ab.get('p50'))} / {us(ab.get('p99'))} | {r.get('rate_limited', 0)} |")
        out.append("")
    relay = latest(runs, "relay")
    if relay:
        out += ["### Relay rooms", "",
                "| run | transport | clients | room | Hz | sent/s | delivered/s | delivery ratio | p50 | p90 | p99 | p99.9 | max | server CPU µs/msg (core %) | generator CPU µs/msg | machine busy | failed / dropped |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in relay:
            lat = r.get("latency_us", {})
            us = lambda v: num(v, "{:,.0f} µs")
            out.append(f"| {r.get('label', '').split(' @ ')[0]} | {r['transport']} | {num(r['clients'])} | {r['room_size']} | {num(r['rate_hz'], '{:g}')} "
                       f"| {num(r.get('sent_per_s'))} | {num(r.get('delivered_per_s'))} | {num(r.get('delivery_ratio'), '{:.4f}')} "
                       f"| {us(lat.get('p50'))} | {us(lat.get('p90'))} | {us(lat.get('p99'))} | {us(lat.get('p999'))} | {us(lat.get('max'))} "
                       f"| {num(r.get('server_cpu_us_per_msg'), '{:.2f}')} ({num(r.get('server_cpu_pct'))}%) "
                       f"| {num(r.get('gen_cpu_us_per_msg'), '{:.2f}')} | {num(r.get('machine_busy_pct'))}% | {r['failed']} / {r['dropped']} |")
        out.append("")
    tick = latest(runs, "tick")
    if tick:
        out += ["### Ticking rooms (movement2d)", "",
                "| run | rooms × bots | tick rate | inputs/s per bot | snapshots/s | snapshot age p50 / p99 | input→ack p50 / p99 | server tick lateness p50 / p99 / max | ticks skipped | server CPU (core %) | failed / dropped |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in tick:
            age, ack = r.get("snapshot_age_us", {}), r.get("latency_us", {})
            ms = lambda v: num(None if v is None else v / 1000, "{:,.1f} ms")
            us = lambda v: num(v, "≤ {:,.0f} µs")
            rate = r.get("room_options", "")
            out.append(f"| {r.get('label', '').split(' @ ')[0]} | {num(r['clients'] / max(1, r['room_size']))} × {r['room_size']} | {rate} "
                       f"| {num(r['rate_hz'], '{:g}')} | {num(r.get('delivered_per_s'))} | {ms(age.get('p50'))} / {ms(age.get('p99'))} "
                       f"| {ms(ack.get('p50'))} / {ms(ack.get('p99'))} "
                       f"| {us(r.get('tick_lateness_p50_us'))} / {us(r.get('tick_lateness_p99_us'))} / {us(r.get('tick_lateness_max_us'))} "
                       f"| {r.get('ticks_skipped', 'n/a')} | {num(r.get('server_cpu_pct'))}% | {r['failed']} / {r['dropped']} |")
        out.append("")
    return "\n".join(out)


def pyplot(tool):
    """matplotlib.pyplot drawing to files, or None (with a hint) when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        print(f"{tool}: matplotlib is missing (run bench/setup, then use /usr/bin/python3); no PNG written",
              file=sys.stderr)
        return None


def plots(runs, prefix):
    plt = pyplot("plot.py")
    if plt is None:
        return []
    written = []
    # Lines over clients use the default server settings only (runs named like "relay-1000").
    relay = [r for r in latest(runs, "relay") if "flush" not in r.get("label", "") and r.get("rate_hz") == 20]
    transports = sorted({r["transport"] for r in relay})
    styles = {"ws": "-", "tcp": "--"}

    if relay:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for t in transports:
            rs = [r for r in relay if r["transport"] == t]
            xs = [r["clients"] for r in rs]
            for q, label in (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9")):
                ax.plot(xs, [r["latency_us"][q] for r in rs], styles.get(t, "-"), marker="o", label=f"{t} {label}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("clients (rooms of %s)" % ", ".join(sorted({str(r["room_size"]) for r in relay})))
        ax.set_ylabel("latency, send → receive (µs)")
        ax.set_title("craft relay: latency percentiles vs clients")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(prefix + "-latency.png", dpi=110)
        plt.close(fig)
        written.append(prefix + "-latency.png")

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for t in transports:
            rs = [r for r in relay if r["transport"] == t]
            xs = [r["clients"] for r in rs]
            ys = [r.get("server_cpu_us_per_msg") for r in rs]
            if any(y is not None for y in ys):
                ax.plot(xs, ys, styles.get(t, "-"), marker="o", label=f"{t} server")
            ax.plot(xs, [r.get("gen_cpu_us_per_msg") for r in rs], styles.get(t, "-"), marker="x", alpha=0.6,
                    label=f"{t} generator")
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("clients")
        ax.set_ylabel("CPU µs per delivered message")
        ax.set_title("craft relay: CPU per delivered message vs clients")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(prefix + "-cpu.png", dpi=110)
        plt.close(fig)
        written.append(prefix + "-cpu.png")

    idle = [r for r in latest(runs, "idle") if r.get("rss_per_conn") is not None]
    if idle:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for t in sorted({r["transport"] for r in idle}):
            rs = [r for r in idle if r["transport"] == t]
            xs = [r["clients"] for r in rs]
            ax.plot(xs, [r["rss_per_conn"] for r in rs], styles.get(t, "-"), marker="o", label=f"{t} VmRSS")
            ax.plot(xs, [r.get("rss_anon_per_conn") for r in rs], styles.get(t, "-"), marker="x", label=f"{t} RssAnon")
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("idle connections")
        ax.set_ylabel("server RSS per connection (bytes)")
        ax.set_title("craft: server memory per idle connection")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(prefix + "-memory.png", dpi=110)
        plt.close(fig)
        written.append(prefix + "-memory.png")

    tick = latest(runs, "tick")
    if tick:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        names = [r.get("label", "").split(" @ ")[0] for r in tick]
        xs = range(len(tick))
        width = 0.25
        series = (("server tick lateness p99 (≤)", [r.get("tick_lateness_p99_us") or 0 for r in tick]),
                  ("snapshot age p50", [r.get("snapshot_age_us", {}).get("p50", 0) for r in tick]),
                  ("snapshot age p99", [r.get("snapshot_age_us", {}).get("p99", 0) for r in tick]))
        for k, (label, ys) in enumerate(series):
            ax.bar([x + (k - 1) * width for x in xs], [y / 1000 for y in ys], width, label=label)
        ax.set_xticks(list(xs))
        ax.set_xticklabels(names, fontsize=8)
        ax.set_ylabel("milliseconds")
        ax.set_title("craft movement2d rooms: tick lateness and snapshot age")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(prefix + "-tick.png", dpi=110)
        plt.close(fig)
        written.append(prefix + "-tick.png")
    return written


def cli(tool, doc, results_help, out_help, write_pngs, tables):
    """The command line the plotters share: RESULTS [--out X] [--markdown] [--no-png].
    write_pngs(runs, out, base) returns the paths it wrote; base is RESULTS without .jsonl."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("results", help=results_help)
    ap.add_argument("--out", help=out_help)
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables of the runs")
    ap.add_argument("--no-png", action="store_true", help="tables only")
    args = ap.parse_args()
    runs = load(args.results, tool)
    if not runs:
        print(f"{tool}: no runs in {args.results}", file=sys.stderr)
        return 1
    if not args.no_png:
        for path in write_pngs(runs, args.out, os.path.splitext(args.results)[0]):
            print(f"{tool}: wrote {path}", file=sys.stderr)
    if args.markdown:
        print(tables(runs))
    return 0


def main():
    return cli("plot.py", __doc__, "JSON lines written by craft-bench --json",
               "prefix of the PNG files (default: RESULTS without .jsonl)",
               lambda runs, out, base: plots(runs, out or base), markdown)


if __name__ == "__main__":
    sys.exit(main())
