"""The PV table with pva:// rows next to CA rows: live values, snapshot, differences, restore
(preview and confirm), against the session p4p server and the QSRV soft IOC. Another client
(bare p4p, caproto for CA) changes PVs and checks what the table's restore wrote."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("p4p")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "snapshot"))
from caproto.sync.client import read as ca_read  # noqa: E402
from caproto.sync.client import write as ca_write  # noqa: E402
from pva_setup import mixed_servers  # noqa: E402

from caprobe.gui import pva_backend  # noqa: E402
from caprobe.gui.service import PVService  # noqa: E402
from caprobe.gui.table.model import (  # noqa: E402
    COL_DIFF,
    COL_RESULT,
    COL_SEVERITY,
    COL_TIME,
    COL_VALUE,
)
from caprobe.gui.table.view import PVTableView  # noqa: E402

WAIT_MS = 10000


@pytest.fixture
def setup(p4p_server, qsrv_server, pva_env, ca_env, monkeypatch) -> Iterator[Any]:
    with mixed_servers(p4p_server, qsrv_server, pva_env, ca_env, monkeypatch) as (env, other):
        yield p4p_server, qsrv_server, other


@pytest.fixture
def view(qtbot, setup) -> Iterator[PVTableView]:
    assert pva_backend.install() == "PV Access registered"
    service = PVService(search_timeout=1.0)
    table = PVTableView(service)
    qtbot.addWidget(table)
    table.resize(1100, 600)
    table.show()
    yield table
    table.shutdown()
    assert service.shutdown(3000)


def cell(view: PVTableView, name: str, column: int) -> Any:
    return view.model.data(view.model.index(view.model.row_of(name), column))


def select(view: PVTableView, names: list[str]) -> None:
    view.table.clearSelection()
    model = view.table.selectionModel()
    for name in names:
        index = view.proxy.mapFromSource(view.model.index(view.model.row_of(name), 0))
        model.select(index, model.Select | model.Rows)


def test_pva_rows_live_snapshot_differences_restore(qtbot, setup, view):
    p4p, qsrv, other = setup
    double, enum, ao = f"pva://{p4p.pv('double')}", f"pva://{p4p.pv('enum')}", \
        f"pva://{qsrv.pv('ao')}"
    array, ro, table = f"pva://{p4p.pv('array')}", f"pva://{p4p.pv('ro')}", \
        f"pva://{p4p.pv('table')}"
    missing, ca_long = f"pva://{p4p.pv('nothere')}", qsrv.pv("long")
    rows = [double, enum, ao, array, ro, table, missing, ca_long]
    assert view.add_text("\n".join(rows))

    # live: value with PREC and units, enum state, severity, server time, connection
    qtbot.waitUntil(lambda: cell(view, double, COL_VALUE) == "1.500 mm", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: cell(view, enum, COL_VALUE) == "Off", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: cell(view, ao, COL_VALUE) == "0.00 V", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: cell(view, ca_long, COL_VALUE) == "42 cts", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: cell(view, table, COL_VALUE).startswith("NTTable"),
                    timeout=WAIT_MS)
    assert cell(view, double, COL_SEVERITY) == "NO_ALARM"
    assert cell(view, double, COL_TIME).startswith("20")  # the p4p server stamps it
    qtbot.waitUntil(lambda: view.model.rows[view.model.row_of(missing)].connected is False,
                    timeout=WAIT_MS)
    other.put(p4p.pv("double"), 2.25, timeout=5)  # a monitor update arrives
    qtbot.waitUntil(lambda: cell(view, double, COL_VALUE) == "2.250 mm", timeout=WAIT_MS)
    other.put(p4p.pv("double"), 1.5, timeout=5)
    qtbot.waitUntil(lambda: cell(view, double, COL_VALUE) == "1.500 mm", timeout=WAIT_MS)

    view.take_snapshot()
    qtbot.waitUntil(lambda: view.snapshot_time is not None, timeout=WAIT_MS)
    saved = {row.name: row.saved for row in view.model.rows}
    assert saved[double].value == 1.5 and saved[enum].value == "Off"
    assert saved[table].value is None and "NTTable" in saved[table].error
    assert saved[missing].value is None
    assert view.model.differing == 0

    other.put(p4p.pv("double"), 1.75, timeout=5)
    other.put(p4p.pv("enum"), {"value.index": 2}, timeout=5)
    other.put(qsrv.pv("ao"), 5.5, timeout=5)
    ca_write(ca_long, 7, repeater=False, timeout=5, notify=True)
    qtbot.waitUntil(lambda: view.model.differing == 4, timeout=WAIT_MS)
    assert cell(view, double, COL_DIFF) == "+0.250"

    select(view, [double, enum, ao, ca_long, ro])
    view.restore()
    qtbot.waitUntil(lambda: getattr(view, "preview", None) is not None
                    and view.preview.isVisible(), timeout=WAIT_MS)
    preview = view.preview
    # PV Access cannot tell read-only before trying: the read-only PV is planned too
    assert preview.write_button.text() == "Write 5 PV(s)"
    texts = {preview.table.item(r, 0).text(): (preview.table.item(r, 1).text(),
                                                preview.table.item(r, 2).text())
             for r in range(preview.table.rowCount())}
    assert texts[double] == ("1.750 mm", "1.500 mm")
    assert texts[enum] == ("Fault", "Off")
    assert other.get(p4p.pv("double"), timeout=5)["value"] == 1.75  # nothing written yet
    preview.accept()
    qtbot.waitUntil(lambda: hasattr(view, "last_restore"), timeout=WAIT_MS)
    assert other.get(p4p.pv("double"), timeout=5)["value"] == 1.5
    assert other.get(p4p.pv("enum"), timeout=5)["value.index"] == 0
    assert other.get(qsrv.pv("ao"), timeout=5)["value"] == 0.0
    assert ca_read(ca_long, repeater=False, timeout=5).data[0] == 42
    assert cell(view, double, COL_RESULT) == "restored"
    assert cell(view, ca_long, COL_RESULT) == "restored"
    assert cell(view, ro, COL_RESULT) == "no write access (read-only)"
    qtbot.waitUntil(lambda: view.model.differing == 0, timeout=WAIT_MS)


def test_pva_rows_in_files(qtbot, setup, view, tmp_path):
    p4p, _qsrv, _other = setup
    double, array = f"pva://{p4p.pv('double')}", f"pva://{p4p.pv('array')}"
    path = tmp_path / "saved.pvs"
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<pvtable version="3.0"><pvlist>
<pv><selected>true</selected><name>{double}</name><saved_value>1.6</saved_value></pv>
<pv><selected>true</selected><name>{array}</name><saved_array_value><item>0.5</item>
<item>1.5</item><item>2.5</item></saved_array_value></pv>
</pvlist></pvtable>
""")
    assert view.open_path(str(path))
    assert view.model.names() == [double, array]
    qtbot.waitUntil(lambda: view.model.differing == 1, timeout=WAIT_MS)  # 1.5 now, 1.6 saved
    out = tmp_path / "out.snap"
    assert view.save_path(str(out))
    text = out.read_text()  # the .pvs values are text (no types in a Phoebus file)
    assert f'{double} TEXT "1.6"' in text and f'{array} TEXT[3] ["0.5", "1.5", "2.5"]' in text
