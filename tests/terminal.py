"""Run the CLI as a person at a terminal would: stderr on a pseudo-terminal, stdout a pipe.

click decides whether to draw a progress bar by asking whether its file is a TTY,
so only a real one (the `pty` module's) shows what a person sees; click's
CliRunner always hands commands plain buffers.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

TIMEOUT = 120.0


@dataclass(frozen=True)
class TerminalRun:
    code: int
    stdout: str
    terminal: str  # what stderr drew on the pseudo-terminal


def run_on_terminal(args: list[str], env: dict[str, str], cwd: Path | None = None) -> TerminalRun:
    leader, follower = pty.openpty()
    drawn: list[bytes] = []

    def drain() -> None:
        # Read while the command runs, so a full terminal buffer never blocks it.
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the command closed its end
                return
            if not chunk:
                return
            drawn.append(chunk)

    reader = threading.Thread(target=drain, name="pty-reader")
    reader.start()
    try:
        process = subprocess.run(
            [sys.executable, "-m", "rollout_bot", *args],
            env={**os.environ, **env, "COLUMNS": "100"},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=TIMEOUT,
            check=False,
        )
    finally:
        os.close(follower)
        reader.join(TIMEOUT)
        os.close(leader)
    return TerminalRun(
        process.returncode,
        process.stdout.decode(),
        b"".join(drawn).decode(errors="replace"),
    )
