import logging

import pytest

from taskspace import progress as progress_module
from taskspace.progress import Progress, duration

log = logging.getLogger("taskspace.test_progress")


@pytest.mark.parametrize(
    "seconds, text",
    [(0, "0m00s"), (65, "1m05s"), (3599.6, "1h00m"), (3900, "1h05m"), (float("nan"), "?"), (float("inf"), "?")],
)
def test_duration(seconds, text):
    assert duration(seconds) == text


def lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == log.name]


def test_one_line_format_with_an_extra_text_or_callable(caplog, monkeypatch):
    clock = iter([100.0, 102.0, 104.0, 110.0])  # start, then one reading per update / finish
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: next(clock))
    with caplog.at_level(logging.INFO, logger=log.name):
        progress = Progress(log, "job", 4, "items", every_s=0)
        progress.update(1, "3 dropped")
        progress.update(4, lambda elapsed: f"{40 / elapsed:.0f} words/s")
        assert progress.finish() == 10.0
    assert lines(caplog) == [
        "job: 1/4 items, 0.5 items/s, 3 dropped, ETA 0m06s",
        "job: 4/4 items, 1.0 items/s, 10 words/s, ETA 0m00s",
        "job: 4 items done in 0m10s (0.4 items/s)",
    ]


def test_throttled_except_the_last_update(caplog, monkeypatch):
    clock = iter([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: next(clock))
    called = []
    with caplog.at_level(logging.INFO, logger=log.name):
        progress = Progress(log, "job", 3, "items", every_s=10)
        progress.update(1, lambda elapsed: called.append(elapsed) or "")  # throttled: extra never called
        progress.update(2)
        progress.update(3)
    assert called == [] and lines(caplog) == ["job: 3/3 items, 1.0 items/s, ETA 0m00s"]
    silent = Progress(log, "quiet", 1, "items", every_s=None)
    silent.update(1)
    assert len(lines(caplog)) == 1
