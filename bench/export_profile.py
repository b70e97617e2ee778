"""Profile one chunk of an export format on the export benchmark's project (CPU clock).

    .venv/bin/python bench/export_profile.py label_studio csv --tasks 2000 --top 25

Reads the first `--tasks` tasks of the project `bench/export_bench.py` sets up (run it once
first; the same DATABASE_URL) with `ExportReader` and writes them in each format into memory,
once to warm up, once timed and once under cProfile timed by `time.process_time` (CPU, not
wall: the machine is shared). Prints the CPU seconds of the reading alone (`rows()`), of the
whole export without and with the profiler (which weighs Python calls several times over), and
the functions that took the most time of their own.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import export_bench  # sets the environment the benchmark's database needs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("formats", nargs="+")
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    export_bench._setup()
    from exports.driver import gc_relaxed
    from exports.reader import ExportFilters, ExportReader
    from formats import export_format_get
    from labeling.models import Task
    from projects.models import Project

    project = Project.objects.get(name=export_bench.PROJECT_NAME)
    last = Task.objects.filter(project=project).order_by("pk").values_list("pk", flat=True)[args.tasks - 1]
    reader = ExportReader(project=project, filters=ExportFilters(), pk_upto=last)
    with gc_relaxed():
        started = time.process_time()
        for _ in reader.rows():
            pass
        print(f"reading {args.tasks} tasks (rows()): {time.process_time() - started:.3f} s CPU")
        for name in args.formats:
            fmt = export_format_get(name=name)
            for _ in fmt.write(reader, io.BytesIO()):  # warm up
                pass
            started = time.process_time()
            for _ in fmt.write(reader, io.BytesIO()):
                pass
            print(f"\n{name}: {time.process_time() - started:.3f} s CPU without the profiler")
            profile = cProfile.Profile(time.process_time)
            out = io.BytesIO()
            started = time.process_time()
            profile.enable()
            for _ in fmt.write(reader, out):
                pass
            profile.disable()
            cpu = time.process_time() - started
            print(f"\n== {name}: {cpu:.3f} s CPU under the profiler, {len(out.getvalue())} bytes")
            stats = pstats.Stats(profile)
            stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
