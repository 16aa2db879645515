"""What every bench shares: where files go, the machine, timing statistics, tables, JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
CACHE_DIR = BENCH_DIR / "cache"
SHARED_DATA = PROJECT_DIR.parent / "shared" / "data"
SEED_QA = PROJECT_DIR / "tests" / "data" / "seed_qa.jsonl"


def machine() -> dict:
    """Cores, RAM and load: figures from a busy machine are not figures from an idle one."""
    try:
        import psutil

        memory_gib = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def stats(seconds: list[float]) -> dict:
    """Median, p95, min, max in milliseconds."""
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    ms = lambda s: round(1000 * s, 2)  # noqa: E731
    return {"runs": len(ordered), "median_ms": ms(statistics.median(ordered)), "p95_ms": ms(p95),
            "min_ms": ms(ordered[0]), "max_ms": ms(ordered[-1])}


class Timer:
    """`with Timer() as t: ...` then t.seconds (wall) and t.cpu (this process's CPU seconds)."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A plain-text table of `rows` (dicts), one column per key."""
    if not rows:
        return "(no rows)"
    columns = columns or list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    line = lambda values: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths)))  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def write_results(name: str, data: dict, results_dir: Path | None = None) -> Path:
    """bench/results/NAME.json, with the machine it ran on."""
    results_dir = Path(results_dir or RESULTS_DIR)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps({"bench": name, "machine": machine(), **data}, indent=2, ensure_ascii=False) + "\n")
    return path


def offline() -> None:
    from assistant.embeddings import offline_environment

    offline_environment()


def stop(process) -> None:
    """End a server started with subprocess.Popen: terminate, then kill if it lingers."""
    import subprocess

    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
