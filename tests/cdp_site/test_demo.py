from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from cdp_site.periodic import PERIODIC_TASKS

pytestmark = pytest.mark.django_db


def test_cdp_demo_is_idempotent_and_prints_a_working_login(
    client: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDP_DEMO_PASSWORD", "demo-pass-123")

    call_command("cdp_demo")
    call_command("cdp_demo")

    out = capsys.readouterr().out
    assert "Steward login: user 'steward', password 'demo-pass-123'" in out
    assert get_user_model().objects.filter(username="steward").count() == 1
    assert PeriodicTask.objects.filter(name__startswith="cdp: ").count() == len(PERIODIC_TASKS)
    assert client.login(username="steward", password="demo-pass-123")
    assert client.get("/admin/").status_code == 200
