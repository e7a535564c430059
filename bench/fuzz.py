"""Schemathesis at scale: the CI fuzz test (tests/test_service_fuzz.py) with many more generated
cases per operation, positive and negative. Prints cases per operation, status counts and the
number of server errors, which must be 0.

    python -m bench.fuzz [--examples 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--examples", type=int, default=60, help="Hypothesis examples per operation and mode."
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "fuzz.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "fuzz.json"
        env = {
            **os.environ,
            "VERIRAG_FUZZ_EXAMPLES": str(args.examples),
            "VERIRAG_FUZZ_REPORT": str(report),
            "HF_HUB_OFFLINE": "1",
        }
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/test_service_fuzz.py",
            ],
            cwd=REPO,
            env=env,
            check=False,
        )
        seconds = time.perf_counter() - started
        figures = json.loads(report.read_text()) if report.exists() else {"cases": {}}
    cases = sum(figures["cases"].values())
    server_errors = sum(v for k, v in figures.get("statuses", {}).items() if k.startswith("5"))
    for operation, count in sorted(figures["cases"].items()):
        print(f"{count:6d}  {operation}")
    print(f"cases: {cases} in {seconds:.0f}s; statuses: {figures.get('statuses')}")
    print(f"server errors: {server_errors} (pytest exit {done.returncode})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({**figures, "total_cases": cases, "seconds": round(seconds, 1)}, indent=2)
    )
    return 0 if done.returncode == 0 and server_errors == 0 and cases >= 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
