"""What an operator sees: `rollout-bot tracking status` and the /metrics text."""

from __future__ import annotations

from click.testing import CliRunner
from prometheus_client import CollectorRegistry, generate_latest

from rollout_bot.cli.tracking import status_command
from tests.snowplow_collector.stack import Stack, new_stage
from tracking.metrics import TrackingCollector
from tracking.status import DEAD_LETTERS_NONE, read_status, status_text


def _exercise(stack: Stack) -> None:
    """Two events sent after a retry, three rejected, then the counters reported."""
    stack.collector.answer(500)
    stack.commit(new_stage(), new_stage())
    assert stack.tracker.flush(5) == 0
    stack.collector.answer(400)
    stack.commit(*(new_stage() for _ in range(3)))
    assert stack.tracker.flush(5) == 0
    stack.tracker.close(2)


def test_status_sums_every_sender_and_shows_the_last_error(stack: Stack) -> None:
    _exercise(stack)

    status = read_status(stack.engine)

    assert status.waiting == 0
    assert status.totals == {"queued": 5, "sent": 2, "retried": 2, "rejected": 3, "dropped": 0}
    assert status.processes == 1
    assert status.last_error is not None and "HTTP 400" in status.last_error
    text = status_text(status)
    assert text.splitlines()[0] == "outbox: 0 events waiting"
    assert "events: queued 5, sent 2, retried 2, rejected 3, dropped 0" in text
    assert "HTTP 400" in text.splitlines()[2]
    assert text.splitlines()[3] == DEAD_LETTERS_NONE


def test_status_shows_what_waits(stack: Stack) -> None:
    stack.collector.default = 503
    stack.commit(new_stage(), new_stage())
    stack.tracker.close(0.2)

    status = read_status(stack.engine)
    assert status.waiting == 2
    assert status.most_attempts >= 1
    assert status_text(status).startswith("outbox: 2 events waiting, oldest ")


def test_the_cli_command_reads_the_configured_database(stack: Stack) -> None:
    _exercise(stack)
    env = {"ROLLOUT_BOT_DATABASE_URL": stack.url}

    text = CliRunner().invoke(status_command, [], env=env)
    as_json = CliRunner().invoke(status_command, ["--json"], env=env)

    assert text.exit_code == 0, text.output
    assert "events: queued 5, sent 2" in text.output
    assert as_json.exit_code == 0, as_json.output
    assert '"rejected": 3' in as_json.output


def test_metrics_report_every_senders_counters_from_the_database(stack: Stack) -> None:
    stack.collector.answer(500)
    stack.commit(new_stage())
    assert stack.tracker.flush(5) == 0
    stack.tracker.close(2)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TrackingCollector(stack.engine))

    text = generate_latest(registry).decode()

    samples = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert samples["rollout_bot_tracking_events_queued_total"] == "1.0"
    sent = 'rollout_bot_tracking_events_sent_total{op="create",table="group_stages"}'
    assert samples[sent] == "1.0"
    assert samples["rollout_bot_tracking_events_retried_total"] == "1.0"
    assert samples["rollout_bot_tracking_events_rejected_total"] == "0.0"
    assert samples["rollout_bot_tracking_outbox_depth"] == "0.0"
    assert samples["rollout_bot_tracking_dead_letters"] == "0.0"
    assert samples["rollout_bot_tracking_outbox_oldest_age_seconds"] == "0.0"
    assert float(samples["rollout_bot_tracking_last_error_timestamp_seconds"]) > 0
    assert "# TYPE rollout_bot_tracking_events_sent_total counter" in text
