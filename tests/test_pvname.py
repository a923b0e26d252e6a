"""caprobe.pvname: ca:// and pva:// names, the default protocol for bare names."""

from __future__ import annotations

import pytest

from caprobe import pvname
from caprobe.pvname import PVName, PVNameError, default_protocol, parse


@pytest.fixture(autouse=True)
def _no_default_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pvname.ENV_VAR, raising=False)


@pytest.mark.parametrize(("text", "protocol", "name", "explicit"), [
    ("pva://SR:current", "pva", "SR:current", True),
    ("ca://SR:current", "ca", "SR:current", True),
    ("PVA://x", "pva", "x", True),
    ("Ca://x.VAL$", "ca", "x.VAL$", True),
    ("SR:current", "ca", "SR:current", False),
    ("x.{\"dbnd\":{\"abs\":1}}", "ca", "x.{\"dbnd\":{\"abs\":1}}", False),
    ("pva://a://b", "pva", "a://b", True),  # only the first scheme is one
])
def test_parse(text: str, protocol: str, name: str, explicit: bool) -> None:
    parsed = parse(text)
    assert (parsed.protocol, parsed.name, parsed.explicit) == (protocol, name, explicit)


def test_str_keeps_what_the_user_wrote_and_url_always_has_a_scheme() -> None:
    assert str(parse("pva://X")) == "pva://X"
    assert str(parse("X")) == "X"
    assert parse("X").url == "ca://X"
    assert parse("pva://X").is_pva and not parse("ca://X").is_pva


@pytest.mark.parametrize("text", ["loc://x", "sim://noise", "http://host/x"])
def test_unknown_scheme_is_refused_naming_what_is_accepted(text: str) -> None:
    with pytest.raises(PVNameError, match=r"ca:// \(Channel Access\) and pva:// \(PV Access\)"):
        parse(text)


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"), ("pva://", "no PV name after 'pva://'"), ("ca://", "no PV name")])
def test_empty_names_are_refused(text: str, message: str) -> None:
    with pytest.raises(PVNameError, match=message):
        parse(text)


def test_not_text_is_refused() -> None:
    with pytest.raises(PVNameError, match="must be text"):
        parse(None)  # type: ignore[arg-type]


def test_default_is_ca_then_environment_then_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_protocol() == "ca"
    monkeypatch.setenv(pvname.ENV_VAR, "PVA")
    assert default_protocol() == "pva"
    assert parse("X") == PVName("pva", "X", False)
    assert parse("ca://X").protocol == "ca"  # a scheme always wins
    assert parse("X", default="ca").protocol == "ca"  # a setting beats the environment
    assert default_protocol("pva://") == "pva"


def test_bad_default_says_where_it_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pvname.ENV_VAR, "pvx")
    with pytest.raises(PVNameError, match="CAPROBE_DEFAULT_PROTOCOL is 'pvx'; use 'ca' or 'pva'"):
        parse("X")
    with pytest.raises(PVNameError, match="setting is 'tcp'"):
        default_protocol("tcp")
