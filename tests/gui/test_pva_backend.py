"""caprobe.gui.pva_backend: pva:// names through the GUI's PV service (caprobe.gui.service,
which arrives with issue 13; skipped where it is absent) against a real p4p server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("p4p")
pvservice = pytest.importorskip("caprobe.gui.service")

import pva_servers  # noqa: E402

from caprobe.gui import pva_backend  # noqa: E402

WAIT_MS = 8000


@pytest.fixture(scope="module")
def p4p() -> Iterator[Any]:
    server = pva_servers.start_p4p_server()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def service(qtbot: Any, p4p: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in p4p.pva_env.items():
        monkeypatch.setenv(key, value)
    assert pva_backend.install() == "PV Access registered"
    svc = pvservice.PVService(search_timeout=1.0)
    yield svc
    assert svc.shutdown(3000)


class Recorder:
    def __init__(self, client: Any) -> None:
        self.batches: list[Any] = []
        self.metadata: list[tuple[str, Any]] = []
        client.updates.connect(self.batches.append)
        client.metadata_ready.connect(lambda pv, md: self.metadata.append((pv, md)))

    def values(self, pv: str) -> list[Any]:
        return [item for batch in self.batches for item in batch.get(pv, ())
                if not hasattr(item, "connected")]


def test_probe_and_chart_views_get_pva_values_and_metadata(qtbot: Any, service: Any,
                                                           p4p: Any) -> None:
    double, enum = f"pva://{p4p.pv('double')}", f"pva://{p4p.pv('enum')}"
    probe = service.client(pvservice.LatestCollector())
    chart = service.client(pvservice.AllCollector(), data_type="time")
    seen_probe, seen_chart = Recorder(probe), Recorder(chart)
    probe.add(double)
    probe.add(enum)
    chart.add(enum)
    qtbot.waitUntil(lambda: bool(seen_probe.values(double) and seen_probe.values(enum)
                                 and seen_chart.values(enum)
                                 and len(seen_probe.metadata) == 2), timeout=WAIT_MS)
    assert seen_probe.values(double)[-1].data.tolist() == [1.5]
    assert seen_probe.values(enum)[-1].data.tolist() == ["Off"]  # the probe shows states
    assert seen_chart.values(enum)[-1].data.tolist() == [0]  # the chart plots indices
    metadata = dict(seen_probe.metadata)
    assert metadata[double].metadata.units == "mm"
    assert metadata[enum].metadata.enum_strings == ("Off", "On", "Fault")
    keys = {key.protocol for key, _count in service.feeds()}
    assert keys == {"pva"}
    probe.close()
    chart.close()


def test_pva_and_ca_names_are_separate_feeds(qtbot: Any, service: Any, p4p: Any) -> None:
    client = service.client(pvservice.LatestCollector())
    client.add(f"pva://{p4p.pv('long')}")
    client.add(f"ca://{p4p.pv('long')}")  # no CA server: searched, never found
    feeds = sorted((key.protocol, key.pv) for key, _count in service.feeds())
    assert feeds == [("ca", p4p.pv("long")), ("pva", p4p.pv("long"))]
    client.close()


def test_a_dbr_type_is_refused_for_pva(service: Any, p4p: Any) -> None:
    client = service.client(pvservice.LatestCollector(), data_type="DBR_CTRL_DOUBLE")
    with pytest.raises(ValueError, match="does not apply to PV Access"):
        client.add(f"pva://{p4p.pv('double')}")
    client.close()


def test_strip_chart_and_waveform_take_pva_pvs(qtbot: Any, service: Any, p4p: Any) -> None:
    chart_worker = pytest.importorskip("caprobe.gui.chart_worker")
    scalar, array = f"pva://{p4p.pv('double')}", f"pva://{p4p.pv('array')}"
    chart = chart_worker.ChartWorker(service=service)
    batches: list[Any] = []
    chart.samples_ready.connect(batches.append)
    chart.start()
    chart.add_pv(scalar)
    waveform = chart_worker.WaveformWorker(service=service)
    shapes: list[Any] = []
    metadata: list[Any] = []
    waveform.waveform_ready.connect(lambda name, values, t, sev: shapes.append(values))
    waveform.metadata_ready.connect(lambda name, md: metadata.append(md))
    waveform.set_pv(array)
    try:
        qtbot.waitUntil(lambda: bool(shapes and metadata and any(b.metadata for b in batches)
                                     and any(scalar in b.samples for b in batches)),
                        timeout=WAIT_MS)
        assert shapes[-1].tolist() == [0.5, 1.5, 2.5]
        times, values, severities = next(b.samples[scalar] for b in batches
                                         if scalar in b.samples)
        assert values.tolist()[0] == 1.5 and severities.tolist()[0] == 0 and times[0] > 1.7e9
        chart_metadata = [md for b in batches for md in b.metadata.values()]
        assert chart_metadata[0]["units"] == "mm" and chart_metadata[0]["precision"] == 3
    finally:
        waveform.stop()
        chart.stop()
