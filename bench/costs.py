#!/usr/bin/env python3
"""Summarizes bench/run-costs: server CPU per delivered message for each relay variant (median of
the interleaved runs, and round-by-round ratios), and the held-session memory figures.

Usage: /usr/bin/python3 bench/costs.py FILE.jsonl... (prints Markdown)
A variant is the run name plus the LABEL run-all appended to the label ("relay-1000 @ abc1234
before" -> "relay-1000 before")."""
import json
import statistics
import sys


def variant(label):
    name, _, rest = label.partition(" @ ")
    parts = rest.split(" ", 1)
    return name + (" " + parts[1] if len(parts) > 1 else "")


def main(paths):
    runs = []
    for path in paths:
        with open(path) as f:
            runs += [json.loads(line) for line in f if line.strip()]
    runs.sort(key=lambda r: r["time"])
    relay = {}
    for r in runs:
        if r["scenario"] == "relay" and r.get("server_cpu_us_per_msg") is not None:
            relay.setdefault(variant(r["label"]), []).append(r)
    if relay:
        print("| variant | runs | server CPU µs per delivered message, in run order | median | sent/s (median; intended clients × Hz) | server core % (median) | delivery ratio (min) | failed / dropped |")
        print("|---|---:|---|---:|---:|---:|---:|---|")
        for v, rs in relay.items():
            cpu = [r["server_cpu_us_per_msg"] for r in rs]
            print(f"| {v} | {len(rs)} | {', '.join(f'{x:.2f}' for x in cpu)} | {statistics.median(cpu):.2f} | "
                  f"{statistics.median(r['sent_per_s'] for r in rs):,.0f} ({rs[0]['clients'] * rs[0]['rate_hz']:,.0f}) | "
                  f"{statistics.median(r['server_cpu_pct'] for r in rs):.0f}% | "
                  f"{min(r['delivery_ratio'] for r in rs):.5f} | {sum(r['failed'] for r in rs)} / "
                  f"{sum(r['dropped'] for r in rs)} |")
        print()
        for res in [v for v in relay if v.endswith("-resumable after")]:
            base = res[: -len("-resumable after")]
            pairs = [(base + " after", base + " before", f"{base}: after / before (plain sessions)"),
                     (res, base + " after", f"{base}: resumable / plain (same craftd)"),
                     (res, base + " before", f"{base}: resumable after / plain before")]
            for a, b, title in pairs:
                if a not in relay or b not in relay:
                    continue
                ca = [r["server_cpu_us_per_msg"] for r in relay[a]]
                cb = [r["server_cpu_us_per_msg"] for r in relay[b]]
                rounds = ", ".join(f"{x / y:.2f}" for x, y in zip(ca, cb))
                print(f"- {title}: ratio of medians **{statistics.median(ca) / statistics.median(cb):.3f}**; "
                      f"round by round {rounds}")
        print()
    held = [r for r in runs if r["scenario"] == "held"]
    if held:
        print("| run | held | per connected session (VmRSS / RssAnon) | per held session | per KiB in a held session's replay buffer | per KiB sent to a room | replay KiB per held session | failed / dropped |")
        print("|---|---:|---|---|---|---|---:|---|")
        for r in held:
            def pair(a, b):
                x, y = r.get(a), r.get(b)
                return "n/a" if x is None or y is None else f"{x:,.0f} / {y:,.0f} B"
            s = r.get("samples", [])
            replay = [x for x in s if x["label"].startswith("replay-")]
            kib = replay[-1]["replay_kib"] - replay[0]["replay_kib"] if len(replay) >= 2 else 0
            gauges = [x["gauge"] for x in s if x["label"].startswith("held-")]
            print(f"| {variant(r['label'])} (rooms of {r['room_size']}, {r['feeders']} feeders) | {r['held']:,} "
                  f"(server gauge {gauges[-1] if gauges and gauges[-1] is not None else 'n/a'}) | "
                  f"{pair('connected_session_rss', 'connected_session_rss_anon')} | "
                  f"{pair('held_session_rss', 'held_session_rss_anon')} | "
                  f"{pair('replay_rss_per_kib', 'replay_rss_anon_per_kib')} | "
                  f"{pair('replay_rss_per_sent_kib', 'replay_rss_anon_per_sent_kib')} | {kib:.0f} | "
                  f"{r['failed']} / {r['dropped']} |")
        print()
        for r in held:
            print(f"{variant(r['label'])}: samples (label held live gauge VmRSS-KiB RssAnon-KiB replay-KiB)")
            for x in r.get("samples", []):
                print(f"    {x['label']:<14} {x['held']:>6} {x['live']:>6} {str(x['gauge']):>6} "
                      f"{x['vm_rss'] / 1024:>9.0f} {x['rss_anon'] / 1024:>9.0f} {x['replay_kib']:>6.1f}")
            print()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
