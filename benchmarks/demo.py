"""Wall time of the main job, `python -m metaflow_ode demo`, against its 60 s target.

Runs the demo in fresh interpreters (so import and compilation are included, as a user sees
them) in a temporary folder, `--repeat` times, and prints a table.

    python benchmarks/demo.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

TARGET_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import jax

    times = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "metaflow_ode", "demo"],
                cwd=folder,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            times.append(time.perf_counter() - start)
            assert os.path.getsize(os.path.join(folder, "demo.png")) > 0
    print(f"# python -m metaflow_ode demo (breast preset, 10 years), {args.repeat} fresh runs")
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}")
    print("| quantity | value |")
    print("|---|---|")
    print(f"| best wall time (s) | {min(times):.1f} |")
    print(f"| worst wall time (s) | {max(times):.1f} |")
    print(f"| target (s) | {TARGET_S:.0f} |")
    print(f"| worst / target | {max(times) / TARGET_S:.2f} |")


if __name__ == "__main__":
    main()
