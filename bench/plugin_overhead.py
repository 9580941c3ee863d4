"""Per-test overhead of the users_api fixture (median), and the plugin's import cost.

Runs N empty tests that use ``users_api`` and N that do not, in a pytest subprocess each, and prints
the median per-test wall time of each (from --durations, setup+call+teardown) and the difference.
Usage: python bench/plugin_overhead.py [N]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300

PLUGIN = '''
import time, pytest
TIMES = []
@pytest.fixture(autouse=True)
def _clock():
    started = time.perf_counter()
    yield
    TIMES.append(time.perf_counter() - started)
def pytest_sessionfinish(session):
    import statistics
    print("\\nMEDIAN_US", round(statistics.median(TIMES[1:]) * 1e6, 1))
'''


def median_us(body: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "conftest.py").write_text(PLUGIN)
        Path(tmp, "test_bench.py").write_text(body)
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", tmp],
                             capture_output=True, text=True, check=True).stdout
        return float(next(line for line in out.splitlines() if line.startswith("MEDIAN_US")).split()[1])


def main() -> None:
    used = median_us(f"import pytest\n@pytest.mark.parametrize('i', range({N}))\ndef test_x(users_api, i):\n    pass\n")
    plain = median_us(f"import pytest\n@pytest.mark.parametrize('i', range({N}))\ndef test_x(i):\n    pass\n")
    print(f"{N} tests; median per test with users_api: {used:.1f} us, without: {plain:.1f} us, "
          f"fixture overhead: {used - plain:.1f} us (the first test, which starts the server, excluded)")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import mockserver.pytest_plugin"], check=True)
    with_plugin = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import pytest"], check=True)
    without = time.perf_counter() - started
    print(f"import of the plugin module (a fresh interpreter): {with_plugin * 1000:.0f} ms vs import pytest alone "
          f"{without * 1000:.0f} ms")


if __name__ == "__main__":
    main()
