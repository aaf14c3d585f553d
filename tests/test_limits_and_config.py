"""Limits against defaults and caps, and the configuration system (env over file over defaults)."""

from __future__ import annotations

from pathlib import Path

import pytest

from outlayer.config import LimitSettings, load_settings
from outlayer.errors import ErrorCode, OutlayerError
from outlayer.limits import RequestedLimits, resolve_limits

POLICY = LimitSettings()


def test_defaults_fill_unset_limits() -> None:
    limits = resolve_limits(RequestedLimits(), POLICY)
    assert (limits.max_instructions, limits.max_memory_mb, limits.max_execution_seconds) == (
        1_000_000_000,
        128,
        60.0,
    )
    assert limits.max_memory_bytes == 128 * 1024 * 1024


def test_values_at_the_caps_are_accepted() -> None:
    limits = resolve_limits(RequestedLimits(100_000_000_000, 1024, 60), POLICY)
    assert limits.max_instructions == 100_000_000_000


@pytest.mark.parametrize(
    ("requested", "code", "fragment"),
    [
        (RequestedLimits(max_instructions=100_000_000_001), ErrorCode.LIMIT_EXCEEDED, "cap"),
        (RequestedLimits(max_memory_mb=1025), ErrorCode.LIMIT_EXCEEDED, "max_memory_mb"),
        (RequestedLimits(max_execution_seconds=60.5), ErrorCode.LIMIT_EXCEEDED, "60"),
        (RequestedLimits(max_instructions=0), ErrorCode.INVALID_ARGUMENT, "positive"),
        (RequestedLimits(max_memory_mb=-4), ErrorCode.INVALID_ARGUMENT, "positive"),
        (
            RequestedLimits(max_execution_seconds=float("nan")),
            ErrorCode.INVALID_ARGUMENT,
            "positive",
        ),
        (RequestedLimits(max_execution_seconds=-1), ErrorCode.INVALID_ARGUMENT, "positive"),
    ],
)
def test_out_of_range_limits_are_refused(
    requested: RequestedLimits, code: ErrorCode, fragment: str
) -> None:
    with pytest.raises(OutlayerError) as raised:
        resolve_limits(requested, POLICY)
    assert raised.value.code is code
    assert fragment in raised.value.message


def test_environment_overrides_file_overrides_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "outlayer.toml"
    config.write_text("[executor]\npool_size = 5\nmax_log_bytes = 10\n")
    monkeypatch.setenv("OUTLAYER_CONFIG", str(config))
    monkeypatch.setenv("OUTLAYER_EXECUTOR__POOL_SIZE", "7")
    settings = load_settings()
    assert settings.executor.pool_size == 7  # env wins
    assert settings.executor.max_log_bytes == 10  # from the file
    assert settings.executor.max_output_bytes == 1024 * 1024  # default


def test_missing_config_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTLAYER_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(OutlayerError) as raised:
        load_settings()
    assert raised.value.code is ErrorCode.CONFIGURATION
    assert "nope.toml" in raised.value.message


def test_unknown_and_inconsistent_settings_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "outlayer.toml"
    config.write_text("[executor]\npool_sise = 5\n")
    monkeypatch.setenv("OUTLAYER_CONFIG", str(config))
    with pytest.raises(OutlayerError) as raised:
        load_settings()
    assert "pool_sise" in raised.value.message
    config.write_text("[limits]\ndefault_memory_mb = 2048\n")
    with pytest.raises(OutlayerError) as raised:
        load_settings()
    assert "default_memory_mb must not exceed limits.max_memory_mb" in raised.value.message
