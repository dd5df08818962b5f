#!/usr/bin/python3
"""Plot and table from api-bench JSON lines (bench/api-bench.mjs --json).

    /usr/bin/python3 bench/plot_api.py RESULTS.jsonl [--out FILE.png] [--markdown] [--no-png]

Writes one PNG (default: RESULTS without .jsonl, plus .png) with two panels: calls/s by
scenario, and CPU per call by scenario (craftd; for PostgreSQL also the database processes,
stacked), with a bar for each backend and concurrency. With --markdown, prints the runs as a
Markdown table (what docs/benchmarks.md shows). The last run of each (backend, scenario,
concurrency) wins. Needs matplotlib for the PNG (bench/setup installs Debian's
python3-matplotlib); the table needs nothing.
"""
import sys

from plot import cli, num, pyplot  # bench/plot.py: the same command line and number format

SCENARIOS = ["device-auth", "storage-write", "storage-read", "leaderboard-write", "email-auth"]
BACKENDS = ["sqlite", "postgres"]
BACKEND_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def latest(runs):
    """The last run of each (backend, scenario, concurrency), in backend, scenario, concurrency order."""
    keep = {}
    for r in runs:
        keep[(r.get("backend"), r.get("scenario"), r.get("concurrency"))] = r
    order = lambda k: (BACKENDS.index(k[0]) if k[0] in BACKENDS else 9,
                       SCENARIOS.index(k[1]) if k[1] in SCENARIOS else 9, k[2] or 0)
    return [keep[k] for k in sorted(keep, key=order)]


def markdown(runs):
    out = ["| backend | scenario | in flight | calls/s | p50 ms | p90 ms | p99 ms | max ms | errors "
           "| craftd CPU µs/call (core %) | PostgreSQL CPU µs/call (core %) | generator CPU µs/call (core %) | machine busy |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in latest(runs):
        lat = r.get("latency_ms", {})
        ms = lambda v: num(v, "{:,.2f}") if v is None or v < 100 else num(v, "{:,.0f}")
        cpu = lambda us, pct: "n/a" if us is None else f"{num(us, '{:,.0f}')} ({num(pct)}%)"
        rate = r.get("calls_per_s")
        out.append(
            f"| {BACKEND_NAMES.get(r['backend'], r['backend'])} | {r['scenario']} | {r['concurrency']} "
            f"| {num(rate, '{:,.1f}') if rate is not None and rate < 100 else num(rate)} "
            f"| {ms(lat.get('p50'))} | {ms(lat.get('p90'))} | {ms(lat.get('p99'))} | {ms(lat.get('max'))} | {r.get('errors')} "
            f"| {cpu(r.get('server_cpu_us_per_call'), r.get('server_cpu_pct'))} "
            f"| {cpu(r.get('db_cpu_us_per_call'), r.get('db_cpu_pct'))} "
            f"| {cpu(r.get('gen_cpu_us_per_call'), r.get('gen_cpu_pct'))} | {num(r.get('machine_busy_pct'))}% |")
    return "\n".join(out)


def plot(runs, path):
    plt = pyplot("plot_api.py")
    if plt is None:
        return None
    runs = latest(runs)
    scenarios = [s for s in SCENARIOS if any(r["scenario"] == s for r in runs)]
    scenarios += sorted({r["scenario"] for r in runs} - set(scenarios))
    series = sorted({(r["backend"], r["concurrency"]) for r in runs},
                    key=lambda k: (BACKENDS.index(k[0]) if k[0] in BACKENDS else 9, k[1]))
    by = {(r["backend"], r["scenario"], r["concurrency"]): r for r in runs}
    # SQLite blue, PostgreSQL orange; darker = more calls in flight.
    palettes = {"sqlite": ["#9ecae1", "#3182bd", "#08519c"], "postgres": ["#fdae6b", "#e6550d", "#a63603"]}
    seen = {}
    colors = {}
    for b, c in series:
        k = seen.get(b, 0)
        seen[b] = k + 1
        pal = palettes.get(b, ["#bbbbbb", "#777777", "#333333"])
        colors[(b, c)] = pal[min(k, len(pal) - 1)]

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 8.5), sharex=True)
    n = len(series)
    width = 0.8 / max(1, n)
    xs = range(len(scenarios))
    for j, (b, c) in enumerate(series):
        off = (j - (n - 1) / 2) * width
        label = f"{BACKEND_NAMES.get(b, b)}, {c} in flight"
        rates, server, db = [], [], []
        for s in scenarios:
            r = by.get((b, s, c), {})
            rates.append(r.get("calls_per_s") or 0)
            server.append(r.get("server_cpu_us_per_call") or 0)
            db.append(r.get("db_cpu_us_per_call") or 0)
        pos = [x + off for x in xs]
        bars = ax1.bar(pos, rates, width, color=colors[(b, c)], label=label)
        for bar, v in zip(bars, rates):
            if v:
                ax1.annotate(f"{v:,.0f}" if v >= 100 else f"{v:.1f}", (bar.get_x() + bar.get_width() / 2, v),
                             ha="center", va="bottom", fontsize=6.5, rotation=90, xytext=(0, 2), textcoords="offset points")
        ax2.bar(pos, server, width, color=colors[(b, c)], label=f"{label}: craftd")
        if any(db):
            ax2.bar(pos, db, width, bottom=server, color=colors[(b, c)], alpha=0.45, hatch="///", edgecolor="white",
                    label=f"{label}: + PostgreSQL processes")
        for p, v, d in zip(pos, server, db):
            if v:
                t = v + d
                ax2.annotate(f"{t / 1000:,.0f} ms" if t >= 10000 else f"{t:,.0f}", (p, t), ha="center", va="bottom",
                             fontsize=6.5, rotation=90, xytext=(0, 2), textcoords="offset points")
    ax1.set_yscale("log")
    ax1.set_ylabel("calls/s (log)")
    ax1.margins(y=0.25)
    first = runs[0] if runs else {}
    ax1.set_title(f"craft HTTP API on {first.get('cores', '?')} cores: {first.get('duration_s', '?')} s per run, "
                  f"label {first.get('label', '')}", fontsize=10)
    ax1.grid(True, axis="y", which="both", alpha=0.3)
    ax1.legend(fontsize=8, ncol=2)
    ax2.set_yscale("log")
    ax2.set_ylabel("server CPU µs per call (log)")
    ax2.margins(y=0.25)
    ax2.grid(True, axis="y", which="both", alpha=0.3)
    ax2.legend(fontsize=7, ncol=2, loc="upper left")
    ax2.set_xticks(list(xs))
    ax2.set_xticklabels(scenarios)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main():
    return cli("plot_api.py", __doc__, "JSON lines written by bench/api-bench.mjs --json",
               "the PNG to write (default: RESULTS without .jsonl, plus .png)",
               lambda runs, out, base: [p for p in [plot(runs, out or base + ".png")] if p], markdown)


if __name__ == "__main__":
    sys.exit(main())
