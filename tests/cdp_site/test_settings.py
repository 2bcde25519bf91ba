import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.env import ImproperlyConfiguredEnv, env_bool, env_list, get_from_env

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "CDP_ENV": "production",
    "SECRET_KEY": "k" * 20 + "production-secret-from-a-vault-0123456789abcdefghij",
    "ALLOWED_HOSTS": "cdp.example.org",
    "DATABASE_URL": "postgres://cdp:secret@db.example.org:5432/cdp",
    "CELERY_BROKER_URL": "redis://broker.example.org:6379/0",
    "CDP_PUBLIC_URL": "https://cdp.example.org",
}


def _run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and k != "DEBUG"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_with_production_values() -> None:
    result = _run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_refuses_to_start_without_a_secret_key() -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}

    result = _run_manage("check", env=env)

    assert result.returncode != 0
    assert "SECRET_KEY must be set when CDP_ENV=production" in result.stderr


def test_get_from_env_reads_and_casts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_TEST_FLAG", "yes")
    monkeypatch.setenv("CDP_TEST_HOSTS", " a.example.org, b.example.org ,")

    assert env_bool("CDP_TEST_FLAG", False) is True
    assert env_list("CDP_TEST_HOSTS", []) == ["a.example.org", "b.example.org"]
    assert get_from_env("CDP_TEST_UNSET", "fallback") == "fallback"


def test_get_from_env_names_a_malformed_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_TEST_FLAG", "maybe")

    with pytest.raises(ImproperlyConfiguredEnv, match="CDP_TEST_FLAG: not a boolean: 'maybe'"):
        env_bool("CDP_TEST_FLAG", False)


def test_required_values_fail_loudly_only_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDP_TEST_REQUIRED", raising=False)
    monkeypatch.setenv("CDP_ENV", "production")

    with pytest.raises(ImproperlyConfiguredEnv, match="CDP_TEST_REQUIRED must be set"):
        get_from_env("CDP_TEST_REQUIRED", "x", required_in_production=True)
    monkeypatch.setenv("CDP_ENV", "local")
    assert get_from_env("CDP_TEST_REQUIRED", "x", required_in_production=True) == "x"
