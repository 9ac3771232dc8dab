#!/usr/bin/env python3
"""Merges the parts of `scripts/gpu-dip-bench.sh` runs: OUTDIR/parts/NAME-SKIP.json (or, for a
part cut short, the images its log reports as finished) into OUTDIR/NAME.json with the fields of
`strata --json eval restore`, and prints one summary line per run.
Usage: dip-bench-merge.py OUTDIR NAME=EXPECTED_IMAGES...
Exits 1 when a run has fewer images than expected."""
import json
import os
import re
import sys

# One finished image in the log: see run_eval_restore in src/cli/cmd_restore.cpp.
LOG_ROW = re.compile(r"\[eval restore\] (\S+): input ([\d.]+) dB -> ([\d.]+) dB after (\d+) "
                     r"iterations( \(auto stop\))? \(best ([\d.]+) at (\d+)\), ([\d.]+) s"
                     r"(?:, on Y ([\d.]+) -> ([\d.]+) dB)?"
                     r"(?:, λ ([\d.]+)(?: \(noise σ ≈ ([\d.]+)\))?)?")


def part_rows(json_path):
    """The rows and the run's fields (device, task, network) of one part, from its JSON or else
    its log (rows only)."""
    try:
        with open(json_path) as f:
            j = json.load(f)
        return j["rows"], {k: j[k] for k in ("device", "task", "network") if k in j}
    except (OSError, ValueError, KeyError):
        rows = []
        with open(json_path[:-len(".json")] + ".log", errors="replace") as f:
            for m in LOG_ROW.finditer(f.read()):
                rows.append({"id": m[1], "degraded_psnr": float(m[2]), "psnr": float(m[3]),
                             "iterations": int(m[4]), "auto_stopped": bool(m[5]),
                             "best_psnr": float(m[6]), "best_iteration": int(m[7]),
                             "seconds": float(m[8])})
                if m[9]:  # sr
                    rows[-1].update(degraded_luma_psnr=float(m[9]), luma_psnr=float(m[10]))
                rows[-1]["lambda"] = float(m[11]) if m[11] else None
                rows[-1]["noise_sigma"] = float(m[12]) if m[12] else None
        return rows, {}


def merge(out, name, expected):
    part = re.compile(re.escape(name) + r"-(\d+)\.log")  # one log per part started
    skips = sorted(int(m[1]) for m in (part.fullmatch(p) for p in
                                       os.listdir(os.path.join(out, "parts"))) if m)
    rows, fields, seen = [], {}, set()
    for skip in skips:
        r, f = part_rows(os.path.join(out, "parts", f"{name}-{skip}.json"))
        rows += [x for x in r if x["id"] not in seen]
        seen.update(x["id"] for x in r)
        fields = {**f, **fields}  # the first part's that has them
    if not rows:
        return f"{name}: no finished images", False
    n = len(rows)
    mean = lambda k: sum(r[k] for r in rows) / n
    result = {"command": "eval restore", "run": name, "task": fields.get("task"),
              "network": fields.get("network"), "images": n, "expected_images": expected,
              "input_psnr": mean("degraded_psnr"), "psnr": mean("psnr"),
              "best_psnr": mean("best_psnr"), "iterations": mean("iterations"),
              "seconds": mean("seconds"),
              "ms_per_iteration": 1000 * sum(r["seconds"] for r in rows) /
                                  sum(r["iterations"] for r in rows),
              "rows": rows, "device": fields.get("device", "")}
    if all("luma_psnr" in r for r in rows):  # sr: PSNR on Y as the thesis's tables
        result["input_luma_psnr"] = mean("degraded_luma_psnr")
        result["luma_psnr"] = mean("luma_psnr")
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(result, f, indent=1)
    luma = (f" Y {result['input_luma_psnr']:.2f} -> {result['luma_psnr']:.2f}"
            if "luma_psnr" in result else "")
    return (f"{name}: n {n}/{expected}{'' if n == expected else ' (INCOMPLETE)'} "
            f"input {result['input_psnr']:.2f} "
            f"psnr {result['psnr']:.2f} best {result['best_psnr']:.2f}{luma} "
            f"iters {result['iterations']:.0f} s/img {result['seconds']:.1f} "
            f"ms/it {result['ms_per_iteration']:.2f}"), n == expected


if __name__ == "__main__":
    complete = True
    for arg in sys.argv[2:]:
        name, expected = arg.rsplit("=", 1)
        line, whole = merge(sys.argv[1], name, int(expected))
        print(line)
        complete = complete and whole
    sys.exit(0 if complete else 1)
