#!/usr/bin/env python3
"""Turns scripts/bench.sh results (runN.jsonl) into markdown: one table per run, then the
targets of issues 2 and 7 as ratios against the bare proxy of the same run, with the spread
(median [min..max]) across runs.  Usage: bench/report.py bench/results/run*.jsonl"""

import json
import statistics
import sys


def load(path):
    meta, ready, loads, sim = {}, {}, [], None
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if r["kind"] == "meta":
                meta = r
            elif r["kind"] == "ready":
                ready[r["label"]] = r["result"]["ready_ms"]
            elif r["kind"] == "load":
                loads.append(r["result"])
            elif r["kind"] == "sim_stats":
                sim = r["result"]
    return meta, ready, loads, sim


def pick(loads, label, stream, conc, model_paced=False):
    out = [r for r in loads if r["label"] == label and r["stream"] == stream
           and r["concurrency"] == conc and ("rss" in r) == model_paced]
    return out


def fmt(x, nd=0):
    if x is None:
        return "-"
    return f"{x:.{nd}f}"


def analyse(path):
    meta, ready, loads, sim = load(path)
    rows, targets = [], {}
    for stream in (False, True):
        for c in (1, 16, 64):
            d = pick(loads, "direct", stream, c)
            p = pick(loads, "proxy", stream, c)
            s = pick(loads, "switchyard", stream, c)
            if not (d and p and s):
                continue
            # The first switchyard entry at c=64 is the main sweep; later ones are the on/off pairs.
            d, p, s = d[0], p[0], s[0]
            add_p = p["p50_us"] - d["p50_us"]
            add_s = s["p50_us"] - d["p50_us"]
            row = {
                "mode": "stream" if stream else "json", "c": c,
                "rps_d": d["rps"], "rps_p": p["rps"], "rps_s": s["rps"],
                "rps_ratio": s["rps"] / p["rps"] if p["rps"] else None,
                "p50": (d["p50_us"], p["p50_us"], s["p50_us"]),
                "p99": (d["p99_us"], p["p99_us"], s["p99_us"]),
                "add_p": add_p, "add_s": add_s,
                "add_ratio": add_s / add_p if add_p > 0 else None,
                "cpu_p": p.get("cpu_us_per_req"), "cpu_s": s.get("cpu_us_per_req"),
                "util_p": p.get("cpu_util"), "util_s": s.get("cpu_util"),
                "core1_p": (p.get("aux_cpu_util") or 0) + (p.get("load_cpu_util") or 0),
                "core1_s": (s.get("aux_cpu_util") or 0) + (s.get("load_cpu_util") or 0),
                "hwm_p": p.get("vm_hwm_kb"), "hwm_s": s.get("vm_hwm_kb"),
                "errors": d["errors"] + p["errors"] + s["errors"],
            }
            row["cpu_ratio"] = (row["cpu_s"] / row["cpu_p"]) if row["cpu_p"] and row["cpu_s"] else None
            rows.append(row)
    on = [r for r in loads if r["label"] == "switchyard" and not r["stream"] and r["concurrency"] == 64][1:]
    off = [r for r in loads if r["label"] == "switchyard-off"]
    if on and off:
        targets["log_on_off"] = statistics.mean(r["rps"] for r in on) / statistics.mean(r["rps"] for r in off)
        targets["log_on_rps"] = [r["rps"] for r in on]
        targets["log_off_rps"] = [r["rps"] for r in off]
    streams = {}
    for label in ("proxy", "switchyard"):
        r = [x for x in loads if x["label"] == label and "rss" in x]
        if r:
            streams[label] = r[0]
    json64 = next((r for r in rows if r["mode"] == "json" and r["c"] == 64), None)
    json1 = next((r for r in rows if r["mode"] == "json" and r["c"] == 1), None)
    if json64:
        targets["cpu_ratio_c64"] = json64["cpu_ratio"]
        targets["rps_ratio_c64"] = json64["rps_ratio"]
        # Peak RSS over the whole sweep up to and including c=64 (VmHWM is a high-water mark).
        hwm = [r["hwm_s"] for r in rows if r["hwm_s"]]
        targets["hwm_mb_c64"] = max(hwm) / 1024 if hwm else None
    if json1:
        targets["add_ratio_c1"] = json1["add_ratio"]
        targets["cpu_ratio_c1"] = json1["cpu_ratio"]
    # The stack's own floor (bench-stack): what axum + reqwest cost, and with both JSON bodies
    # parsed and re-written, before any gateway work. Informational: the targets are against
    # the bare proxy.
    floor_lines = []
    for c in (1, 64):
        cpu = {}
        for label in ("proxy", "stack-pass", "stack-json", "switchyard"):
            r = pick(loads, label, False, c)
            cpu[label] = r[0].get("cpu_us_per_req") if r else None
        for label in ("stack-pass", "stack-json"):
            if cpu["proxy"] and cpu[label]:
                targets[f"{label}_ratio_c{c}"] = cpu[label] / cpu["proxy"]
        if cpu["stack-json"] and cpu["switchyard"]:
            targets[f"sy_over_stack_c{c}"] = cpu["switchyard"] / cpu["stack-json"]
        if cpu["stack-pass"] and cpu["stack-json"]:
            floor_lines.append(f"Stack floor, JSON c={c}, CPU/req: proxy {fmt(cpu['proxy'], 1)} us, "
                               f"stack-pass {fmt(cpu['stack-pass'], 1)} us, stack-json {fmt(cpu['stack-json'], 1)} us")
    if "switchyard" in ready:
        targets["ready_ms"] = ready["switchyard"]
    if "switchyard" in streams:
        rss = streams["switchyard"]["rss"]
        targets["rss_flat"] = rss["last_over_first"]
    return meta, ready, rows, targets, streams, floor_lines


def run_table(path):
    meta, ready, rows, targets, streams, floor_lines = analyse(path)
    out = [f"### {path}: {meta.get('date')} on {meta.get('host')} ({meta.get('cpu')}, {meta.get('nproc')} cores, "
           f"load average at start {meta.get('loadavg')}), commit {meta.get('commit')}, "
           f"{meta.get('duration_s')} s per point after {meta.get('warmup_s')} s warm-up", ""]
    out.append("| mode | c | rps direct | rps proxy | rps switchyard | sy/proxy rps | p50 d/p/sy us | p99 d/p/sy us "
               "| added p50 proxy/sy us | added ratio | CPU/req proxy/sy us | CPU ratio | core0 busy p/sy | core1 busy p/sy | errors |")
    out.append("|" + "---|" * 15)
    for r in rows:
        out.append(
            f"| {r['mode']} | {r['c']} | {fmt(r['rps_d'])} | {fmt(r['rps_p'])} | {fmt(r['rps_s'])} | {fmt(r['rps_ratio'], 2)} "
            f"| {r['p50'][0]}/{r['p50'][1]}/{r['p50'][2]} | {r['p99'][0]}/{r['p99'][1]}/{r['p99'][2]} "
            f"| {r['add_p']}/{r['add_s']} | {fmt(r['add_ratio'], 2)} | {fmt(r['cpu_p'], 1)}/{fmt(r['cpu_s'], 1)} "
            f"| {fmt(r['cpu_ratio'], 2)} | {fmt(r['util_p'], 2)}/{fmt(r['util_s'], 2)} | {fmt(r['core1_p'], 2)}/{fmt(r['core1_s'], 2)} | {r['errors']} |")
    out.append("")
    out.append(f"Time to ready (ms): " + ", ".join(f"{k} {v}" for k, v in ready.items()))
    if "log_on_off" in targets:
        out.append(f"Logging+metrics on vs off at c=64 (json): on {targets['log_on_rps']} rps, off {targets['log_off_rps']} rps, "
                   f"ratio {targets['log_on_off']:.3f}")
    out.extend(floor_lines)
    for label, r in streams.items():
        rss = r["rss"]
        out.append(f"{r['concurrency']} concurrent streams via {label}: {r['rps']} streams/s, p50 {r['p50_us']} us, errors {r['errors']}; "
                   f"RSS peak {rss['peak_kb'] / 1024:.1f} MB, first third {rss['first_third_peak_kb'] / 1024:.1f} MB, "
                   f"last third {rss['last_third_peak_kb'] / 1024:.1f} MB (x{rss['last_over_first']}), "
                   f"after {fmt((rss['after_kb'] or 0) / 1024, 1)} MB, VmHWM {r['vm_hwm_kb'] / 1024:.1f} MB")
    out.append("")
    return "\n".join(out), targets


TARGETS = [
    ("cpu_ratio_c64", "CPU per request, switchyard / proxy, c=64 json", "<= 1.5", lambda v: v <= 1.5),
    ("cpu_ratio_c1", "CPU per request, switchyard / proxy, c=1 json", "<= 1.5", lambda v: v <= 1.5),
    ("add_ratio_c1", "added p50 latency, switchyard / proxy, c=1 json", "<= 1.5", lambda v: v <= 1.5),
    ("rps_ratio_c64", "throughput, switchyard / proxy, c=64 json", ">= 0.85", lambda v: v >= 0.85),
    ("hwm_mb_c64", "peak RSS (VmHWM) through c=64, MB", "<= 32", lambda v: v <= 32),
    ("rss_flat", "RSS last third / first third, 1,000 streams", "<= 1.10", lambda v: v <= 1.10),
    ("ready_ms", "start to ready, ms", "<= 100", lambda v: v <= 100),
    ("log_on_off", "throughput log+metrics on / off, c=64", ">= 0.90", lambda v: v >= 0.90),
]

# The stack's own floor, for reading the CPU ratio: no target of its own.
FLOORS = [
    ("stack-pass_ratio_c64", "CPU per request, stack-pass / proxy, c=64 json"),
    ("stack-json_ratio_c64", "CPU per request, stack-json / proxy, c=64 json"),
    ("sy_over_stack_c64", "CPU per request, switchyard / stack-json, c=64 json"),
    ("stack-pass_ratio_c1", "CPU per request, stack-pass / proxy, c=1 json"),
    ("stack-json_ratio_c1", "CPU per request, stack-json / proxy, c=1 json"),
    ("sy_over_stack_c1", "CPU per request, switchyard / stack-json, c=1 json"),
]


def main(paths):
    tables, all_targets = [], []
    for p in paths:
        t, targets = run_table(p)
        tables.append(t)
        all_targets.append(targets)
    print("\n".join(tables))
    print("### Targets (median [min..max] over runs)\n")
    print("| figure | target | measured | met in |")
    print("|---|---|---|---|")
    for key, name, target, ok in TARGETS:
        vals = [t[key] for t in all_targets if t.get(key) is not None]
        if not vals:
            print(f"| {name} | {target} | - | - |")
            continue
        met = sum(1 for v in vals if ok(v))
        spread = f"{statistics.median(vals):.2f} [{min(vals):.2f}..{max(vals):.2f}]"
        print(f"| {name} | {target} | {spread} | {met}/{len(vals)} runs |")
    for key, name in FLOORS:
        vals = [t[key] for t in all_targets if t.get(key) is not None]
        if vals:
            print(f"| {name} | - | {statistics.median(vals):.2f} [{min(vals):.2f}..{max(vals):.2f}] | - |")


if __name__ == "__main__":
    main(sys.argv[1:])
