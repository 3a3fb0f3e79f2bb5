"""Configuration: the commented example file loads, bad values are named, secrets stay hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin.config import (
    ConfigError,
    Secret,
    Settings,
    is_cluster_url,
    parse_cluster_url,
    read_env_file,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "shopreco.env.example"


def test_example_file_loads_into_settings() -> None:
    settings = Settings.from_env(read_env_file(EXAMPLE))
    assert settings.data_dir == Path("/var/lib/shopreco")
    assert settings.public_url == "https://reco.example.com"
    assert settings.max_body_bytes == 2097152 and settings.run_worker is True
    assert settings.redis_url is None  # commented out in the example
    assert settings.body_timeout_seconds == 10
    assert settings.trusted_proxies == ()  # commented out: trust no proxy


def test_example_file_names_every_setting() -> None:
    text = EXAMPLE.read_text()
    for name in ("SHOPRECO_DATA_DIR", "REDIS_URL", "SHOPRECO_PUBLIC_URL",
                 "SHOPRECO_MAX_BODY_BYTES", "SHOPRECO_RETRAIN_DEBOUNCE_SECONDS",
                 "SHOPRECO_RETRAIN_MAX_DELAY_SECONDS", "SHOPRECO_RUN_WORKER",
                 "SHOPRECO_FSYNC_ALWAYS", "SHOPRECO_EVENT_RETENTION_DAYS",
                 "SHOPRECO_CLAIM_IDLE_SECONDS", "SHOPRECO_RECONCILE_MINUTES",
                 "SHOPRECO_LOG_LEVEL", "SHOPRECO_TUNING_SECONDS", "SHOPRECO_WIDGET_RATE_PER_MINUTE",
                 "SHOPRECO_ATTRIBUTION_DAYS", "SHOPRECO_BODY_TIMEOUT_SECONDS",
                 "SHOPRECO_TRUSTED_PROXIES", "SHOPRECO_WORKER_NICE",
                 "SHOPRECO_API_RATE_PER_MINUTE"):
        assert name in text


def test_redis_url_password_never_shows_in_repr() -> None:
    settings = Settings.from_env({"REDIS_URL": "redis://:hunter2@db:6379/0"})
    assert settings.redis_url is not None
    assert settings.redis_url.reveal() == "redis://:hunter2@db:6379/0"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings)


@pytest.mark.parametrize(("name", "value"), [
    ("SHOPRECO_MAX_BODY_BYTES", "lots"), ("SHOPRECO_MAX_BODY_BYTES", "10"),
    ("SHOPRECO_RUN_WORKER", "maybe"),
    ("SHOPRECO_WIDGET_RATE_PER_MINUTE", "0"), ("SHOPRECO_ATTRIBUTION_DAYS", "91"),
    ("SHOPRECO_API_RATE_PER_MINUTE", "0"), ("SHOPRECO_API_RATE_PER_MINUTE", "many"),
    ("SHOPRECO_BODY_TIMEOUT_SECONDS", "0"), ("SHOPRECO_BODY_TIMEOUT_SECONDS", "301"),
    ("SHOPRECO_BODY_TIMEOUT_SECONDS", "soon"),
    ("SHOPRECO_TRUSTED_PROXIES", "proxy.internal"), ("SHOPRECO_TRUSTED_PROXIES", "10.0.0.0/33"),
    ("SHOPRECO_TRUSTED_PROXIES", "10.0.0.1/8"), ("SHOPRECO_TRUSTED_PROXIES", "*,10.0.0.1"),
])
def test_bad_value_is_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_defaults_read_a_body_for_10_seconds_and_trust_no_proxy() -> None:
    settings = Settings.from_env({})
    assert settings.body_timeout_seconds == 10 and settings.trusted_proxies == ()


def test_body_timeout_is_read() -> None:
    assert Settings.from_env({"SHOPRECO_BODY_TIMEOUT_SECONDS": "30"}).body_timeout_seconds == 30


@pytest.mark.parametrize(("value", "expected"), [
    ("127.0.0.1", ("127.0.0.1",)),
    (" 10.0.0.5 , 10.8.0.0/16,::1,", ("10.0.0.5", "10.8.0.0/16", "::1")),
    ("*", ("*",)),
    ("", ()),
])
def test_trusted_proxies_are_a_list_of_addresses_or_networks(value, expected) -> None:
    assert Settings.from_env({"SHOPRECO_TRUSTED_PROXIES": value}).trusted_proxies == expected


def test_env_file_line_without_equals_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.env"
    path.write_text("# fine\nJUSTAWORD\n")
    with pytest.raises(ConfigError, match=r"bad\.env:2"):
        read_env_file(path)


def test_a_secret_never_shows_itself() -> None:
    secret = Secret("hunter2")
    assert secret.reveal() == "hunter2"
    assert "hunter2" not in repr(secret) + str(secret) + f"{secret}" + f"{[secret]}"
    assert bool(secret) and not Secret("")


@pytest.mark.parametrize(("raw", "expected"), [
    ("1", True), ("true", True), (" Yes ", True), ("ON", True),
    ("0", False), ("false", False), ("no", False), ("Off", False), ("", True),
])
def test_booleans_are_read_in_the_usual_spellings(raw: str, expected: bool) -> None:
    assert Settings.from_env({"SHOPRECO_RUN_WORKER": raw}).run_worker is expected


def test_values_are_normalised(tmp_path: Path) -> None:
    settings = Settings.from_env({
        "SHOPRECO_PUBLIC_URL": "https://reco.example.com/", "SHOPRECO_LOG_LEVEL": "debug",
        "SHOPRECO_DATA_DIR": "~/shopreco-data", "SHOPRECO_TUNING_SECONDS": "0",
        "SHOPRECO_SECRET_KEYS": " key-one , ,key-two ",
    })
    assert settings.public_url == "https://reco.example.com"
    assert settings.log_level == "DEBUG"
    assert settings.data_dir == Path.home() / "shopreco-data"
    assert settings.tuning_seconds == 0
    assert [key.reveal() for key in settings.secret_keys] == ["key-one", "key-two"]
    assert "key-one" not in repr(settings)


def test_empty_values_mean_the_defaults() -> None:
    empty = {name: "" for name in ("SHOPRECO_DATA_DIR", "REDIS_URL", "SHOPRECO_PUBLIC_URL",
                                   "SHOPRECO_MAX_BODY_BYTES", "SHOPRECO_LOG_LEVEL",
                                   "SHOPRECO_SECRET_KEYS", "SHOPRECO_ATTRIBUTION_DAYS")}
    assert plain(Settings.from_env(empty)) == plain(Settings.from_env({})) == plain(Settings())


def plain(settings: Settings) -> dict[str, object]:
    """The settings with secrets revealed (a Secret equals only itself)."""
    return {name: value.reveal() if isinstance(value, Secret) else value
            for name, value in vars(settings).items()}


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SHOPRECO_EVENT_RETENTION_DAYS", "0", "must be at least 1, got 0"),
    ("SHOPRECO_CLAIM_IDLE_SECONDS", "-1", "must be at least 1, got -1"),
    ("SHOPRECO_TUNING_SECONDS", "-1", "must be at least 0, got -1"),
    ("SHOPRECO_RECONCILE_MINUTES", "1.5", "must be an integer, got '1.5'"),
    ("SHOPRECO_WORKER_NICE", "-5", "must be at least 0, got -5"),
    ("SHOPRECO_WORKER_NICE", "20", "must be at most 19, got 20"),
])
def test_a_number_out_of_range_is_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name} {message}$"):
        Settings.from_env({name: value})


def test_env_file_comments_blanks_and_spaces(tmp_path: Path) -> None:
    path = tmp_path / "shopreco.env"
    path.write_text("# a comment\n\n  SHOPRECO_PUBLIC_URL = https://r.example  \n"
                    "REDIS_URL=redis://db:6379/0?a=b\nSHOPRECO_LOG_LEVEL=\n")
    assert read_env_file(path) == {"SHOPRECO_PUBLIC_URL": "https://r.example",
                                   "REDIS_URL": "redis://db:6379/0?a=b",
                                   "SHOPRECO_LOG_LEVEL": ""}


def test_env_file_line_without_a_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.env"
    path.write_text("=value\n")
    with pytest.raises(ConfigError, match=r"bad\.env:1: expected KEY=value"):
        read_env_file(path)


def test_a_cluster_url_names_its_nodes_and_credentials() -> None:
    parsed = parse_cluster_url("redis+cluster://:pw@10.0.0.1:6379,[::1]:7000,redis-2:6380/")
    assert parsed.nodes == (("10.0.0.1", 6379), ("::1", 7000), ("redis-2", 6380))
    assert parsed.password == "pw" and parsed.username is None and not parsed.tls
    tls = parse_cluster_url("rediss+cluster://app:pw@redis:6379")
    assert tls.tls and tls.username == "app" and tls.nodes == (("redis", 6379),)
    assert is_cluster_url("REDIS+CLUSTER://h:1") and not is_cluster_url("redis://h:6379/0")


@pytest.mark.parametrize("url", ["redis+cluster://", "redis+cluster://:secret-pw@host",
                                 "redis+cluster://a:1,b", "redis+cluster://h:70000"])
def test_a_bad_cluster_url_is_refused_at_start_without_its_password(url: str) -> None:
    with pytest.raises(ConfigError, match="REDIS_URL") as refused:
        Settings.from_env({"REDIS_URL": url})
    assert "secret-pw" not in str(refused.value)


# ---- waiting for Redis replicas before answering a webhook (issue 20) ------------------------


def test_waiting_for_replicas_is_off_by_default_and_in_the_example_file() -> None:
    assert (Settings().redis_wait_replicas, Settings().redis_wait_ms) == (0, 1000)
    example = Settings.from_env(read_env_file(EXAMPLE))
    assert (example.redis_wait_replicas, example.redis_wait_ms) == (0, 1000)
    text = EXAMPLE.read_text()
    assert "SHOPRECO_REDIS_WAIT_REPLICAS" in text and "SHOPRECO_REDIS_WAIT_MS" in text


def test_waiting_for_replicas_is_read() -> None:
    settings = Settings.from_env({"SHOPRECO_REDIS_WAIT_REPLICAS": "1",
                                  "SHOPRECO_REDIS_WAIT_MS": "250"})
    assert (settings.redis_wait_replicas, settings.redis_wait_ms) == (1, 250)
    assert Settings.from_env({"SHOPRECO_REDIS_WAIT_REPLICAS": "",
                              "SHOPRECO_REDIS_WAIT_MS": ""}).redis_wait_replicas == 0


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SHOPRECO_REDIS_WAIT_REPLICAS", "-1", "must be at least 0, got -1"),
    ("SHOPRECO_REDIS_WAIT_REPLICAS", "17", "must be at most 16, got 17"),
    ("SHOPRECO_REDIS_WAIT_REPLICAS", "one", "must be an integer, got 'one'"),
    ("SHOPRECO_REDIS_WAIT_MS", "0", "must be at least 1, got 0"),
    ("SHOPRECO_REDIS_WAIT_MS", "1501", "must be at most 1500, got 1501"),
])
def test_a_bad_replica_wait_is_refused_naming_the_variable(name: str, value: str,
                                                           message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name} {message}$"):
        Settings.from_env({name: value})
