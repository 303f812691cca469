"""Settings precedence (defaults < TOML < env < flags), clear errors naming the option, secrets hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from vouchery_gateway.config import ConfigError, Settings, load_settings


def test_defaults_suit_a_pos_deployment() -> None:
    """Without any source the documented defaults apply (port 50051, metrics 9464, 30 min reservations)."""
    settings = load_settings(environ={})
    assert (settings.port, settings.metrics_port, settings.reservation_timeout) == (50051, 9464, 1800.0)
    assert settings.max_receive_message_bytes == 1 << 20
    assert settings.store_url.startswith("sqlite:///")


def test_precedence_file_then_env_then_flags(tmp_path: Path) -> None:
    """A flag beats the environment, which beats the TOML file, which beats the default."""
    config = tmp_path / "gateway.toml"
    config.write_text('[gateway]\nport = 6000\nmetrics_port = 6001\ncache_ttl = 2.5\nlog_level = "DEBUG"\n')
    env = {"VOUCHERY_GATEWAY_PORT": "7000", "VOUCHERY_GATEWAY_METRICS_PORT": "7001"}
    settings = load_settings(config_file=config, environ=env, overrides={"port": "8000"})
    assert settings.port == 8000
    assert settings.metrics_port == 7001
    assert settings.cache_ttl == 2.5
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"VOUCHERY_GATEWAY_PORT": "abc"}, "option port (env VOUCHERY_GATEWAY_PORT): must be an integer"),
        ({"VOUCHERY_GATEWAY_PORT": "70000"}, "option port"),
        ({"VOUCHERY_GATEWAY_CACHE_TTL": "nan"}, "option cache_ttl"),
        ({"VOUCHERY_GATEWAY_LOG_FORMAT": "xml"}, "must be one of text, json"),
        ({"VOUCHERY_GATEWAY_SANDBOX": "maybe"}, "option sandbox"),
        ({"VOUCHERY_GATEWAY_UPSTREAM_URL": "ftp://x"}, "option upstream_url"),
        ({"VOUCHERY_GATEWAY_STORE": "mongodb://x"}, "option store"),
    ],
)
def test_bad_values_name_the_option(env: dict[str, str], fragment: str) -> None:
    """A bad value stops start-up with a message naming the option and where it came from."""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=env)
    assert fragment in str(caught.value)


def test_unknown_toml_key_is_refused(tmp_path: Path) -> None:
    """A typo in the config file is an error, not silently ignored."""
    config = tmp_path / "gateway.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="unknown option"):
        load_settings(config_file=config, environ={})


def test_api_key_never_shown(tmp_path: Path) -> None:
    """The API key comes from a key file (stripped) and is hidden from repr."""
    key_file = tmp_path / "key"
    key_file.write_text("sekrit-key\n")
    settings = load_settings(environ={"VOUCHERY_GATEWAY_UPSTREAM_API_KEY_FILE": str(key_file)})
    assert settings.upstream_api_key == "sekrit-key"
    assert "sekrit" not in repr(settings)


def test_production_mode_lists_what_is_missing() -> None:
    """Without upstream URL and key, `missing_for_production` names both with their env variables."""
    missing = Settings().missing_for_production()
    assert any("VOUCHERY_GATEWAY_UPSTREAM_URL" in item for item in missing)
    assert any("VOUCHERY_GATEWAY_UPSTREAM_API_KEY" in item for item in missing)
