"""Benchmark of cost-based quadrature-point balancing (``[parallel] balance``) on an uneven case.

Run (inside the software stack; about 2-3 minutes on 2 idle cores)::

    docker/env python3 bench/balance.py [--case bench/cases/strip_bending.toml] [--ranks 2]
                                        [--wait-idle S] [--json build/bench/balance.json]

The default case is a cantilever strip clamped at one end and deflected at the other
(bench/cases/strip_bending.toml): the bending moment, and with it the plasticity, is largest at
the clamp, and a 2-rank partition cuts the strip across its length, so one rank gets the plastic
points (several micro Newton iterations and refactorizations each) and the other the elastic ones
(one iteration, the factorization reused). The case runs twice on the same ranks, with
``balance`` off and on (the same worker as bench/fe2_demo.py: fe2.app.run.run with every dispatcher
call recorded per rank), and the script prints both profiles, then:

- the imbalance of the micro work without/with balancing: max/mean over ranks of the seconds
  spent in micro solves, summed over the run, and Σ_calls max_r / Σ_calls mean_r (each call ends
  in a synchronization, so this is the stretch of the micro phase by waiting);
- the speed-up of the summed step wall time and of the micro phase;
- per dispatcher call, max/mean of the solve seconds without and with balancing (the plan of a
  call uses the costs measured in the previous call);
- the largest difference of the reaction curves relative to the largest reaction: balancing
  only changes who solves a point, so it must be at most 1e-10 (exit status 1 otherwise).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fe2_demo import ROOT, SCRATCH, profile, reaction_difference, run_case, table

CASE = ROOT / "bench" / "cases" / "strip_bending.toml"
TOLERANCE = 1e-10  # reaction curves with and without balancing (same solves, other ranks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", type=Path, default=CASE, help="the FE² case (TOML)")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="S",
                        help="before each run wait up to S seconds for an idle machine")
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "bench" / "balance.json")
    args = parser.parse_args()
    case = args.case.resolve()
    print(f"case {case.relative_to(ROOT) if case.is_relative_to(ROOT) else case}, "
          f"{args.ranks} ranks, balance off then on")
    records = {}
    for balance in (False, True):
        name = "on" if balance else "off"
        records[name] = run_case(case, args.ranks, SCRATCH / f"{case.stem}_balance_{name}",
                                 balance=balance, wait_idle=args.wait_idle)
        print(f"  balance {name}: {records[name].elapsed:.1f} s", flush=True)
    off, on = (profile(records[k]) for k in ("off", "on"))
    difference = reaction_difference(records["off"].summary, records["on"].summary)
    print()
    print(table([off, on], ["balance off", "balance on"]))
    per_call = {k: r.calls[:, :, 0].max(axis=0) / r.calls[:, :, 0].mean(axis=0)
                for k, r in records.items()}
    print("\nper call, max/mean over ranks of the solve seconds (off | on):")
    print("  off " + " ".join(f"{v:.2f}" for v in per_call["off"]))
    print("  on  " + " ".join(f"{v:.2f}" for v in per_call["on"]))
    print(f"\nimbalance (summed solve seconds, max/mean): {off['imbalance_total']:.3f} → "
          f"{on['imbalance_total']:.3f}; per call Σmax/Σmean: {off['imbalance_calls']:.3f} → "
          f"{on['imbalance_calls']:.3f}")
    print(f"speed-up of the step wall time {off['wall_s'] / on['wall_s']:.2f}, of the micro phase "
          f"{off['micro_s'] / on['micro_s']:.2f}; points moved in all: {on['points_moved']}")
    print(f"reaction curves differ by at most {difference:.2e} (relative to the largest "
          f"reaction; must be ≤ {TOLERANCE:.0e})")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "case": str(case), "profiles": {"off": off, "on": on},
        "per_call_imbalance": {k: v.tolist() for k, v in per_call.items()},
        "reaction_difference": difference}, indent=1))
    print(f"wrote {args.json}")
    if not difference <= TOLERANCE:
        sys.exit(1)


if __name__ == "__main__":
    main()
