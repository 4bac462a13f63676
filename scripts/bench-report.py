#!/usr/bin/env python3
"""Turns the side-by-side bench tables under target/bench/ into PERFORMANCE.md.

Each bench lives beside the crate it measures and writes its table to the workspace's
target/bench/ (or $CARGO_TARGET_DIR/bench/). Run after the benches, from the workspace root:
    cargo bench -p llm-telemetry-core --bench core
    cargo bench -p llm-telemetry-prometheus --bench prometheus
    cargo bench -p llm-telemetry-otel --bench otel
    cargo bench -p llm-telemetry-cost --bench cost
    cargo bench -p llm-telemetry-log --bench log
    cargo bench -p llm-telemetry --bench full_stack
    python3 scripts/bench-report.py > PERFORMANCE.md
Each table case runs ours and the peer in alternating rounds; the table shows the median ratio
(the one judged against the target) and its spread over the rounds (min–max).
(`python3 scripts/bench-report.py --commands` prints those bench commands.)
"""
import json
import os
import platform
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BENCH = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "bench")
# Bench name -> the crate whose benches/ holds it.
BENCHES = {
    "core": "llm-telemetry-core",
    "prometheus": "llm-telemetry-prometheus",
    "otel": "llm-telemetry-otel",
    "cost": "llm-telemetry-cost",
    "log": "llm-telemetry-log",
    "full_stack": "llm-telemetry",
}
TABLES = list(BENCHES)


def command(name):
    return f"cargo bench -p {BENCHES[name]} --bench {name}"


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.2f} ns"


def main():
    if sys.argv[1:] == ["--commands"]:
        print("\n".join(command(name) for name in TABLES))
        return
    out = ["# Performance", ""]
    out.append(
        "Each bench runs ours and the named peer in one process, on the same machine, and "
        "reports ratio = ours / peer (lower is better), in alternating rounds of each side (at "
        "least 5): the ratio shown is the median of the rounds' ratios, judged against the "
        "target, with its spread (min–max over the rounds); a case below ~2 ns per call is "
        "timed in batches of 64 calls with the bare loop's time subtracted (marked †). "
        "The machine is a small shared VM "
        f"({os.cpu_count()} cores, {platform.machine()}), so the ratios matter, not the absolute "
        "times. Regenerate with `cargo bench -p <crate> --bench <name>` for each bench ("
        + ", ".join(f"`{command(name)}`" for name in TABLES)
        + ") then `python3 scripts/bench-report.py > PERFORMANCE.md`."
    )
    out.append("")
    out.append("| bench | case | ours | peer | ratio (median) | spread (min–max) | rounds | target | met | peer is |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    missing = []
    for name in TABLES:
        path = os.path.join(BENCH, f"{name}.json")
        if not os.path.exists(path):
            missing.append(name)
            continue
        for row in json.load(open(path)):
            met = "yes" if row.get("meets_target", row["ratio"] <= row.get("target", float("inf"))) else "**no**"
            ratio = row.get("ratio_median", row["ratio"])
            spread = (
                f"{row['ratio_min']:.2f}–{row['ratio_max']:.2f}" if "ratio_min" in row else "-"
            )
            batched = " †" if row.get("batched") else ""
            out.append(
                f"| {name} | `{row['case']}`{batched} | {fmt_ns(row['ours_ns'])} | {fmt_ns(row['peer_ns'])} | "
                f"{ratio:.2f} | {spread} | {row.get('rounds', 1)} | ≤ {row.get('target', '-')} | {met} | {row['peer']} |"
            )
    extras = sorted(f for f in os.listdir(BENCH) if f.endswith(".json") and f[:-5] not in TABLES) if os.path.isdir(BENCH) else []
    for extra in extras:
        out += ["", f"## {extra[:-5]}", "", "```json", json.dumps(json.load(open(os.path.join(BENCH, extra))), indent=1), "```"]
    if missing:
        print(
            f"missing bench tables: {', '.join(missing)} (run: "
            + "; ".join(command(name) for name in missing)
            + ")",
            file=sys.stderr,
        )
    print("\n".join(out))


if __name__ == "__main__":
    main()
