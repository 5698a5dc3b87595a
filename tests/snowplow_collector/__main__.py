"""Run the collector as a process of its own (for benchmarks), until stdin closes.

    python -m tests.snowplow_collector [--no-validate]

The first line printed is its URL; `GET /stats` answers the counts so far.
"""

from __future__ import annotations

import sys

from tests.snowplow_collector import Collector


def main() -> None:
    collector = Collector(validate="--no-validate" not in sys.argv[1:], record=False)
    with collector:
        print(collector.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
