"""`rollout-bot serve` and `rollout-bot worker`: the long-running processes."""

from __future__ import annotations

import click

from rollout_bot.cli.common import fail, open_cli_runtime
from rollout_bot.config import ConfigError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn workers")
@click.option("--local-trial", is_flag=True, help="accept deliveries without a secret token")
@click.option("--no-worker", is_flag=True, help="only receive; run `rollout-bot worker` apart")
def serve(host: str, port: int, workers: int, local_trial: bool, no_worker: bool) -> None:
    """Serve the webhook, /healthz and /metrics with gunicorn, and an embedded worker."""
    from rollout_bot.server import run

    runtime = open_cli_runtime(local_trial=local_trial)
    try:
        run(runtime, host=host, port=port, workers=workers, embedded_worker=not no_worker)
    except ConfigError as exc:
        fail(str(exc))


@click.command()
def worker() -> None:
    """Process the inbox until interrupted (SIGINT or SIGTERM)."""
    import signal
    import threading

    from rollout_bot.services import build_bot, build_worker

    runtime = open_cli_runtime()
    try:
        bot_worker = build_worker(runtime, build_bot(runtime))
    except ConfigError as exc:
        fail(str(exc))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    bot_worker.start()
    click.echo(f"worker {bot_worker.name} running {bot_worker.threads} threads", err=True)
    stop.wait()
    bot_worker.stop()
    runtime.engine.dispose()
