"""`rollout-bot serve` and `rollout-bot worker`: the long-running processes."""

from __future__ import annotations

import os
import sys

import click

from rollout_bot.cli.common import fail, open_cli_runtime
from rollout_bot.config import ConfigError

NO_GITLAB_WARNING = "no ROLLOUT_BOT_GITLAB_URL: deliveries are stored but not processed"
NO_DASHBOARD_WARNING = "no ROLLOUT_BOT_DASHBOARD_TOKEN: / and /metrics answer 404"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn web processes")
@click.option(
    "--threads",
    default=None,
    type=click.IntRange(min=1),
    help="threads per web process  [default: 4]",
)
@click.option(
    "--worker-processes",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="delivery worker processes (each runs ROLLOUT_BOT_WORKER_THREADS threads)",
)
@click.option("--local-trial", is_flag=True, help="accept deliveries without a secret token")
@click.option("--no-worker", is_flag=True, help="only receive; run `rollout-bot worker` apart")
def serve(
    host: str,
    port: int,
    workers: int,
    threads: int | None,
    worker_processes: int,
    local_trial: bool,
    no_worker: bool,
) -> None:
    """Serve /webhook, /healthz, / and /metrics with gunicorn, and run delivery workers.

    The delivery workers are `rollout-bot worker` processes this command starts, starts
    again when they die, and stops on SIGTERM or SIGINT; --no-worker serves only.
    """
    from rollout_bot import server, supervisor
    from rollout_bot.services import verification

    # Migrates SQLite once, up front.
    runtime = open_cli_runtime(local_trial=local_trial, service=True)
    settings = runtime.settings
    try:
        verification(runtime)
    except ConfigError as exc:
        fail(str(exc))
    if no_worker:
        if settings.dashboard_token is None:
            click.echo(f"warning: {NO_DASHBOARD_WARNING}", err=True)
        server.run(runtime, host=host, port=port, workers=workers, threads=threads)
        return
    runtime.engine.dispose()
    if not settings.gitlab_url and worker_processes:
        click.echo(f"warning: {NO_GITLAB_WARNING}", err=True)
        worker_processes = 0
    web = [sys.executable, "-m", "rollout_bot", "serve", "--no-worker", "--host", host]
    web += ["--port", str(port), "--workers", str(workers)]
    if threads is not None:
        web += ["--threads", str(threads)]
    if local_trial:
        web.append("--local-trial")
    worker_argv = [sys.executable, "-m", "rollout_bot", "worker"]
    sys.exit(supervisor.supervise(web, worker_argv, worker_processes))


@click.command()
def worker() -> None:
    """Process the inbox until interrupted (SIGINT or SIGTERM)."""
    import signal
    import threading

    from rollout_bot.services import build_bot, build_worker

    runtime = open_cli_runtime(service=True)
    if runtime.settings.worker_nice:
        os.nice(runtime.settings.worker_nice)
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
