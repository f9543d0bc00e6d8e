"""The pre-market schedule: NYSE sessions, daylight saving, holidays, early closes, idempotence."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
import yaml
from readme_lines import README_IMAGE, podman_runs

from orchestrator.common.clock import NEW_YORK
from orchestrator.data.calendar import TradingCalendar
from orchestrator.jobs.kubernetes import kubernetes_cronjobs
from orchestrator.jobs.schedule import run_due, run_schedule
from orchestrator.storage.slots import SlotClaim
from premarket.settings import Settings

SLOTS = ["06:30", "07:00", "07:30", "08:00", "08:30", "09:00"]


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


class FakeTime:
    """A clock that only moves when the scheduler sleeps or a run takes time."""

    def __init__(self, start: datetime) -> None:
        self.now = start.astimezone(UTC)
        self.sleeps: list[float] = []

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


class Claims:
    """Stands in for the store's slot claims (tested on real databases in test_slot_claims)."""

    def __init__(self) -> None:
        self.held: dict[tuple[date, str], SlotClaim] = {}

    def claim(self, business_date: date, slot: str, owner: str, now: datetime) -> SlotClaim:
        return self.held.setdefault((business_date, slot), SlotClaim(owner, "running", now))

    def finish(self, business_date: date, slot: str, owner: str) -> bool:
        self.held[business_date, slot] = SlotClaim(
            owner, "done", self.held[business_date, slot].heartbeat_at
        )
        return True

    def release(self, business_date: date, slot: str, owner: str) -> None:
        del self.held[business_date, slot]


class Ledger:
    """Stands in for the store's slot index; the store-backed test lives in test_schedule_store."""

    def __init__(self, done: set[tuple[date, str]] | None = None) -> None:
        self.done = set(done or ())
        self.slot_claims = Claims()

    def has_run_for_slot(self, business_date: date, slot: str) -> bool:
        return (business_date, slot) in self.done


def make_runner(time: FakeTime, ledger: Ledger, ran: list, fail: bool = False):
    async def runner(slot) -> None:
        ran.append((slot.business_date, slot.time, time.now))
        time.now += timedelta(minutes=2)  # a run takes a while
        if fail:
            raise RuntimeError("model services down")
        ledger.done.add((slot.business_date, slot.time))

    return runner


def test_slots_follow_new_york_wall_clock_across_spring_forward() -> None:
    cal = TradingCalendar()
    friday = cal.slots_on(date(2024, 3, 8), SLOTS)  # EST, UTC-5
    monday = cal.slots_on(date(2024, 3, 11), SLOTS)  # EDT, UTC-4 (clocks changed Sunday)
    assert [s.time for s in friday] == SLOTS
    assert friday[0].at_utc == datetime(2024, 3, 8, 11, 30, tzinfo=UTC)
    assert monday[0].at_utc == datetime(2024, 3, 11, 10, 30, tzinfo=UTC)
    assert monday[-1].at_utc == datetime(2024, 3, 11, 13, 0, tzinfo=UTC)


def test_slots_follow_new_york_wall_clock_across_fall_back() -> None:
    cal = TradingCalendar()
    assert cal.slots_on(date(2024, 11, 1), SLOTS)[0].at_utc == datetime(
        2024, 11, 1, 10, 30, tzinfo=UTC
    )
    assert cal.slots_on(date(2024, 11, 4), SLOTS)[0].at_utc == datetime(
        2024, 11, 4, 11, 30, tzinfo=UTC
    )


def test_holidays_and_weekends_have_no_slots() -> None:
    cal = TradingCalendar()
    assert cal.slots_on(date(2024, 7, 4), SLOTS) == []  # Independence Day
    assert cal.slots_on(date(2024, 3, 29), SLOTS) == []  # Good Friday
    assert cal.slots_on(date(2024, 3, 9), SLOTS) == []  # Saturday
    nxt = cal.next_slot(ny(2024, 7, 3, 9, 1), SLOTS)
    assert (nxt.business_date, nxt.time) == (date(2024, 7, 5), "06:30")


def test_early_close_keeps_pre_market_slots_and_drops_slots_after_the_close() -> None:
    cal = TradingCalendar()
    half_day = cal.slots_on(date(2024, 7, 3), [*SLOTS, "13:30"])
    assert [s.time for s in half_day] == SLOTS  # 13:30 is after the 13:00 close
    assert all(s.early_close for s in half_day)
    assert half_day[0].session_close == ny(2024, 7, 3, 13, 0)
    full_day = cal.slots_on(date(2024, 7, 5), [*SLOTS, "13:30"])
    assert [s.time for s in full_day] == [*SLOTS, "13:30"]
    assert not any(s.early_close for s in full_day)


def test_schedule_sleeps_the_true_interval_over_a_dst_weekend_and_runs_each_slot_once() -> None:
    time = FakeTime(ny(2024, 3, 8, 9, 30))  # Friday, past the last slot's grace, EST
    ledger, ran = Ledger(), []
    done = asyncio.run(
        run_schedule(
            Settings(),
            ledger,
            make_runner(time, ledger, ran),
            clock=time.clock,
            sleep=time.sleep,
            until=ny(2024, 3, 11, 7, 5),
        )
    )
    # Friday 14:30 UTC to Monday 10:30 UTC is 68 h, not the 69 h of naive wall-clock time.
    assert time.sleeps[0] == 68 * 3600
    assert [(d, t) for d, t, _ in ran] == [
        (date(2024, 3, 11), "06:30"),
        (date(2024, 3, 11), "07:00"),
    ]
    assert [s.time for s in done] == ["06:30", "07:00"]
    assert ran[0][2] == datetime(2024, 3, 11, 10, 30, tzinfo=UTC)


def test_restart_inside_a_slot_skips_slots_already_run() -> None:
    day = date(2024, 7, 5)
    time = FakeTime(ny(2024, 7, 5, 7, 5))  # restarted five minutes into the 07:00 slot
    ledger, ran = Ledger({(day, "06:30"), (day, "07:00")}), []
    asyncio.run(
        run_schedule(
            Settings(),
            ledger,
            make_runner(time, ledger, ran),
            clock=time.clock,
            sleep=time.sleep,
            until=ny(2024, 7, 5, 8, 10),
        )
    )
    assert [t for _, t, _ in ran] == ["07:30", "08:00"]


def test_restart_after_a_missed_slot_still_runs_it_within_the_grace() -> None:
    time = FakeTime(ny(2024, 7, 5, 7, 10))
    ledger, ran = Ledger({(date(2024, 7, 5), "06:30")}), []
    asyncio.run(
        run_schedule(
            Settings(),
            ledger,
            make_runner(time, ledger, ran),
            clock=time.clock,
            sleep=time.sleep,
            until=ny(2024, 7, 5, 7, 20),
        )
    )
    assert [t for _, t, _ in ran] == ["07:00"]


def test_a_failing_slot_is_not_retried_in_a_loop() -> None:
    time = FakeTime(ny(2024, 7, 5, 6, 29))
    ledger, ran = Ledger(), []
    asyncio.run(
        run_schedule(
            Settings(),
            ledger,
            make_runner(time, ledger, ran, fail=True),
            clock=time.clock,
            sleep=time.sleep,
            until=ny(2024, 7, 5, 7, 10),
        )
    )
    assert [t for _, t, _ in ran] == ["06:30", "07:00"]


def test_once_runs_the_due_slot_and_nothing_on_a_holiday_or_twice() -> None:
    ledger, ran = Ledger(), []
    time = FakeTime(ny(2024, 7, 5, 8, 0, 3))
    runner = make_runner(time, ledger, ran)
    slot, outcome = asyncio.run(run_due(Settings(), ledger, runner, now=time.now))
    assert (slot.time, outcome) == ("08:00", "ran")
    slot, outcome = asyncio.run(run_due(Settings(), ledger, runner, now=time.now))
    assert (slot.time, outcome) == ("08:00", "skipped")
    holiday = ny(2024, 7, 4, 8, 0, 3)
    assert asyncio.run(run_due(Settings(), ledger, runner, now=holiday)) == (None, None)
    late = ny(2024, 7, 5, 9, 40)  # past the 09:00 slot's grace: nothing due...
    assert asyncio.run(run_due(Settings(), ledger, runner, now=late)) == (None, None)
    slot, outcome = asyncio.run(run_due(Settings(), ledger, runner, now=late, slot_time="09:00"))
    assert (slot.time, outcome) == ("09:00", "ran")  # ...unless the slot is named
    failing = make_runner(time, Ledger(), [], fail=True)
    _, outcome = asyncio.run(run_due(Settings(), Ledger(), failing, now=late, slot_time="07:00"))
    assert outcome == "failed"
    assert [t for _, t, _ in ran] == ["08:00", "09:00"]


def _expand(cron_fields: list[str]) -> set[str]:
    minute, hours = cron_fields[0], cron_fields[1]
    return {f"{int(h):02d}:{int(minute):02d}" for h in hours.split(",")}


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata", "Europe/Berlin"])
def test_the_crontab_fires_at_every_slot_all_year_in_the_machine_zone(tmp_path, zone) -> None:
    """Printed by the real command on a machine in ``zone`` (cron reads the machine's time and
    Debian's ignores CRON_TZ): every slot of the coming year, both daylight-saving periods of
    both zones, falls on a firing minute of the printed line (issue 28, item 1)."""
    from zoneinfo import ZoneInfo

    from orchestrator_stubs import run_cli

    result = run_cli(tmp_path, "crontab", env={"TZ": zone})
    assert result.returncode == 0, result.stderr
    lines = [ln for ln in result.stdout.splitlines() if ln and not ln.startswith("#")]
    assert len(lines) == 1 and "CRON_TZ" not in result.stdout
    minute, hours, *days = lines[0].split()[:5]
    assert minute == "*/5" and days == ["*", "*", "*"]
    firing = {int(h) for h in hours.split(",")}
    local = ZoneInfo(zone)
    first = datetime.now(NEW_YORK).date()
    for offset in range(366):
        for text in SLOTS:
            hour, mins = map(int, text.split(":"))
            at = datetime.combine(first + timedelta(days=offset), datetime.min.time(), NEW_YORK)
            there = at.replace(hour=hour, minute=mins).astimezone(local)
            assert there.hour in firing and there.minute % 5 == 0, (text, there)
    assert len(firing) <= 5  # the window's hours, not the whole day


def test_once_says_a_missed_slot_and_exits_non_zero(
    tmp_path, monkeypatch, capsys, restore_logging
) -> None:
    from orchestrator.cli import exits
    from orchestrator.cli.main import main
    from orchestrator.jobs import schedule

    monkeypatch.setenv("PREMARKET_CONFIG", "")
    monkeypatch.setenv("PREMARKET_DATABASE_URL", f"sqlite:///{tmp_path / 's.db'}")
    monkeypatch.setenv("PREMARKET_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PREMARKET_YAHOO_CHART_URL", "http://127.0.0.1:9/{symbol}")  # never out
    monkeypatch.setattr(schedule, "utc_now", lambda: ny(2024, 7, 5, 6, 10))
    assert main(["schedule", "--once"]) == exits.OK  # early: nothing due, nothing missed
    # 08:57: the 08:30 slot's grace is over and 09:00 not yet due: nothing runs, five missed
    monkeypatch.setattr(schedule, "utc_now", lambda: ny(2024, 7, 5, 8, 57))
    assert main(["schedule", "--once"]) == exits.MISSED == 5
    err = capsys.readouterr().err
    assert "missed today (2024-07-05): slot 06:30, 07:00, 07:30, 08:00, 08:30" in err
    monkeypatch.setattr(schedule, "utc_now", lambda: ny(2024, 7, 6, 8, 57))  # a Saturday
    assert main(["schedule", "--once"]) == exits.OK


def test_kubernetes_cronjobs_parse_and_cover_exactly_the_slots() -> None:
    docs = list(yaml.safe_load_all(kubernetes_cronjobs(Settings(), image="registry/pm:1.2")))
    slots = set()
    for doc in docs:
        assert doc["kind"] == "CronJob" and doc["apiVersion"] == "batch/v1"
        spec = doc["spec"]
        assert spec["timeZone"] == "America/New_York"
        assert spec["concurrencyPolicy"] == "Forbid"
        container = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "registry/pm:1.2"
        assert container["command"] == [
            "python",
            "-m",
            "orchestrator.cli.main",
            "schedule",
            "--once",
        ]
        assert container["workingDir"] == "/home/bentoml/bento/src"
        fields = spec["schedule"].split()
        assert fields[2:] == ["*", "*", "1-5"]
        slots |= _expand(fields)
    assert slots == set(SLOTS)
    assert len({d["metadata"]["name"] for d in docs}) == len(docs)


def _containers(doc: dict) -> list[dict]:
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    return spec["template"]["spec"]["containers"]


def test_kubernetes_services_start_as_the_tested_podman_lines_and_the_cronjobs_call_them(
    capsys,
) -> None:
    """``premarket crontab --kubernetes --services --gpu``: a Deployment and a Service per model
    service, each container started as the README's ``podman run`` line for it (which the
    container test runs), its Service selecting exactly its pods, and the CronJobs calling the
    services by their in-cluster names through real settings variables."""
    from orchestrator.cli.main import main
    from premarket.services import ENTRY, TARGETS
    from premarket.settings import setting_variables
    from serving.launch import ROOT

    assert main(["crontab", "--kubernetes", "--services", "--gpu"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert deployments.keys() == services.keys() == {f"premarket-{n}" for n in podman_runs()}
    bentofile = yaml.safe_load((ROOT / "bentofile.yaml").read_text())
    assert bentofile["service"] == TARGETS[ENTRY]  # the service the image serves by itself
    for name, words in podman_runs().items():
        deployment, service = deployments[f"premarket-{name}"], services[f"premarket-{name}"]
        (container,) = _containers(deployment)
        assert container["image"] == "premarket:gpu"
        at = words.index(README_IMAGE)
        assert container.get("args", []) == words[at + 1 :]
        env = [words[i + 1] for i, w in enumerate(words[:at]) if w == "-e"]
        assert [f"{e['name']}={e['value']}" for e in container.get("env", [])] == env
        pods = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"] == pods == service["spec"]["selector"]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 3000}
        assert service["spec"]["ports"] == [{"port": 3000, "targetPort": 3000}]
        gpus = container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu")
        assert gpus == (None if name == "nhits" else 1), name  # N-HITS is numpy-only
    cronjobs = [d for d in docs if d["kind"] == "CronJob"]
    assert cronjobs
    for cronjob in cronjobs:
        env = {e["name"]: e["value"] for e in _containers(cronjob)[0]["env"]}
        for name in podman_runs():
            variable = f"PREMARKET_{name.upper()}__URL"
            assert variable in setting_variables()
            assert env[variable] == f"http://premarket-{name}:3000"


def test_kubernetes_without_services_asks_no_gpu_and_keeps_the_configured_urls(capsys) -> None:
    from orchestrator.cli.main import main

    assert main(["crontab", "--kubernetes"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert {d["kind"] for d in docs} == {"CronJob"}
    for doc in docs:
        (container,) = _containers(doc)
        assert container["image"] == "premarket:cpu"
        assert not [e for e in container["env"] if e["name"].endswith("__URL")]


def test_bad_slot_names_the_slot() -> None:
    for text in ("6h30", "6:30"):
        with pytest.raises(ValueError, match=f"slot '{text}': not one of the configured slots"):
            asyncio.run(run_due(Settings(), Ledger(), None, slot_time=text))  # type: ignore[arg-type]


def test_last_final_close_skips_open_sessions_holidays_and_honours_half_days() -> None:
    cal = TradingCalendar()
    assert cal.last_closed_session(ny(2024, 7, 5, 15, 0)) == date(2024, 7, 3)  # 4th: holiday
    assert cal.last_closed_session(ny(2024, 7, 5, 16, 40)) == date(2024, 7, 5)
    assert cal.last_closed_session(ny(2024, 7, 3, 13, 40)) == date(2024, 7, 3)  # closed at 13:00
    assert cal.last_closed_session(ny(2024, 7, 3, 13, 20)) == date(2024, 7, 2)
    assert cal.last_closed_session(ny(2024, 7, 6, 9, 0)) == date(2024, 7, 5)  # Saturday
