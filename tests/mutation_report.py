"""`make mutate`'s summary: the score per module and the surviving mutants not known to be equivalent.

Reads mutmut's results (mutants/shop/*.py.meta) and tests/mutation-equivalents.txt, whose lines are
``<mutant name>: <why no test can tell it from the original>``. The score is killed / (killed + survived),
with every survivor counted, equivalent or not; the second figure leaves the listed equivalents out.
A mutant no selected test reaches ("no tests") counts as a survivor. Exit status 1 when a survivor is
neither killed nor listed, so the list stays honest.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("stripe_events", "checkout", "catalog", "orders", "config")
EQUIVALENTS = ROOT / "tests" / "mutation-equivalents.txt"
KILLED = {1, 3, 24, -24, 152, 255, 36, -11, -9}  # a failing test, a crash or a timeout: the change was noticed
SURVIVED = {0, 5, 33}  # the tests passed, or no selected test reaches the mutated function


def equivalents() -> dict[str, str]:
    listed = {}
    for line in EQUIVALENTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, why = line.partition(":")
            listed[name.strip()] = why.strip()
    return listed


def main() -> int:
    listed = equivalents()
    total = Counter()
    unexplained, stale = [], set(listed)
    print(f"{'module':<16}{'killed':>8}{'survived':>10}{'equivalent':>12}{'score':>8}{'w/o equiv.':>12}")
    for module in MODULES:
        meta = ROOT / "mutants" / "shop" / f"{module}.py.meta"
        if not meta.exists():
            print(f"{module:<16} not run (mutants/shop/{module}.py.meta is missing)")
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        killed = sum(1 for c in codes.values() if c in KILLED)
        survivors = sorted(name for name, c in codes.items() if c in SURVIVED)
        unchecked = sum(1 for c in codes.values() if c not in KILLED | SURVIVED)
        equivalent = [name for name in survivors if name in listed]
        stale -= set(codes)
        unexplained += [name for name in survivors if name not in listed]
        total.update(killed=killed, survived=len(survivors), equivalent=len(equivalent), unchecked=unchecked)
        print(
            row(module, killed, len(survivors), len(equivalent)) + (f"  ({unchecked} not checked)" if unchecked else "")
        )
    print(row("all five", total["killed"], total["survived"], total["equivalent"]))
    if total["unchecked"]:
        print(f"{total['unchecked']} mutants were not checked (interrupted, skipped or suspicious): run again")
    if stale:
        print(f"{len(stale)} listed equivalents are no longer mutants (the code changed): update {EQUIVALENTS.name}")
    if unexplained:
        print(f"\n{len(unexplained)} surviving mutants are neither killed nor listed as equivalent:")
        for name in unexplained:
            print(f"  {name}    (.venv/bin/mutmut show {name})")
        return 1
    print("\nEvery surviving mutant is listed as equivalent, with its reason, in tests/mutation-equivalents.txt.")
    return 0


def row(name: str, killed: int, survived: int, equivalent: int) -> str:
    if not killed + survived:  # nothing judged yet: no score, not a perfect one
        return f"{name:<16}{killed:>8}{survived:>10}{equivalent:>12}{'-':>8}{'-':>12}"
    score = killed / (killed + survived)
    net = killed / (killed + survived - equivalent) if killed + survived - equivalent else 1.0
    return f"{name:<16}{killed:>8}{survived:>10}{equivalent:>12}{score:>8.1%}{net:>12.1%}"


if __name__ == "__main__":
    sys.exit(main())
