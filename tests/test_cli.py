from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from shelterkit.config import Config, parse_config
from tests.conftest import SHELTERKIT


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SHELTERKIT, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_help_lists_commands() -> None:
    out = run("--help")
    assert out.returncode == 0
    for command in ("node", "demo", "config"):
        assert command in out.stdout


def test_example_config_is_complete_and_valid() -> None:
    out = run("config", "--example")
    assert out.returncode == 0
    parsed = parse_config(out.stdout)
    assert dataclasses.replace(parsed, network={}) == Config()
    assert parsed.network_settings() == Config().network_settings()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[nonsense]\n", "unknown section"),
        ("[node]\nlistne = 1\n", "unknown key"),
        ("[node]\nlisten = 'nowhere'\n", "HOST:PORT"),
        ("[node]\nauthority_keys = ['abc']\n", "64-hex-digit"),
        ("[shelter]\ncapacity = 'many'\n", "integer"),
        ("not toml = = =", "TOML"),
        ("[network]\nssid = '" + "あ" * 11 + "'\n", "ssid"),
        ("[network]\nportal_port = 9999\n", "portal_port"),
        ("[network]\nadmin_port = 8080\n", "admin"),
        ("[network]\nbogus = 1\n", "unknown setting"),
        ("[[radio]]\ndriver = 'cable'\n", "port is required"),
        ("[[radio]]\nport = '/dev/x'\ndriver = 'cb'\n", "unknown driver"),
        ("[[radio]]\nport = '/dev/x'\nstreams = ['gossip']\n", "unknown stream"),
    ],
)
def test_bad_config_rejected(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    out = run("node", "--config", str(path), "--data", str(tmp_path / "d"))
    assert out.returncode == 2
    assert reason in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_missing_config_file_rejected(tmp_path: Path) -> None:
    out = run("node", "--config", str(tmp_path / "absent.toml"))
    assert out.returncode == 2 and "cannot read config" in out.stderr


def test_bad_usage_exits_2() -> None:
    assert run("frobnicate").returncode == 2


def test_tui_usage_mistakes_stop_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHELTERKIT_TOKEN", raising=False)
    monkeypatch.delenv("SHELTERKIT_HUB", raising=False)
    for args, reason in (
        (("tui",), "no token"),  # the LAN screen needs a token too
        (("tui", "--lan"), "no token"),
        (("tui", "--lan", "--token", "t", "http://10.0.0.1:8081/"), "or --lan, not both"),
        (("tui", "--token", "t", "10.0.0.1:8081"), "not an http:// URL"),
    ):
        out = run(*args)
        assert out.returncode == 2, args
        assert reason in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "--lan" in run("tui", "--help").stdout


def test_every_setting_is_documented() -> None:
    from shelterkit.net.settings import NetworkSettings

    for name, _default, doc in NetworkSettings.documentation():
        assert doc, f"network.{name} has no doc"
    from shelterkit.config import RadioSettings

    for f in dataclasses.fields(RadioSettings):
        assert f.metadata.get("doc"), f"radio.{f.name} has no doc"
    for section in dataclasses.fields(Config):
        if section.name in ("network", "radio"):
            continue
        for f in dataclasses.fields(section.default_factory()):  # type: ignore[misc]
            assert f.metadata.get("doc"), f"{section.name}.{f.name} has no doc"


def test_configuration_doc_shows_the_current_example() -> None:
    from shelterkit.config import example_config

    doc = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    block = doc.split("```toml\n", 1)[1].split("```\n<!-- /example-config -->", 1)[0]
    assert block == example_config(), "regenerate docs/configuration.md from config --example"
