"""A soft IOC with thousands of records, for the snapshot tests and benchmarks.

``write_db(path, count)`` writes a database with ``count`` ao records ``$(P)set:NNNN``
(PREC 3, EGU "A", DRVH/DRVL +-1e6, value = NNNN / 10) plus one of each other kind a snapshot
meets: ``$(P)mode`` (mbbo), ``$(P)onoff`` (bo), ``$(P)label`` (stringout), ``$(P)wave``
(DOUBLE waveform, 5 elements), ``$(P)limited`` (DRVH 10), ``$(P)locked`` (ASG RO, read only
through tests/ioc/test.acf) and, with ``ticking``, ``$(P)tick:NNNN`` calc records counting at
10 Hz.
"""

from __future__ import annotations

from pathlib import Path

import servers

EXTRAS = ("mode", "onoff", "label", "wave", "limited", "locked")


def set_name(prefix: str, index: int) -> str:
    return f"{prefix}set:{index:04d}"


def write_db(path: Path, count: int, ticking: int = 0) -> Path:
    records = []
    for index in range(count):
        records.append(
            f'record(ao, "$(P)set:{index:04d}") {{\n  field(VAL, "{index / 10}")\n'
            '  field(PINI, "YES")\n  field(PREC, "3")\n  field(EGU, "A")\n'
            '  field(DRVH, "1e6")\n  field(DRVL, "-1e6")\n}\n')
    for index in range(ticking):
        records.append(
            f'record(calc, "$(P)tick:{index:04d}") {{\n  field(SCAN, ".1 second")\n'
            f'  field(INPA, "$(P)tick:{index:04d} NPP")\n  field(CALC, "A+1")\n'
            '  field(PREC, "1")\n}\n')
    records.append("""
record(mbbo, "$(P)mode") {
  field(VAL, "1")
  field(PINI, "YES")
  field(ZRST, "Off")
  field(ONST, "Standby")
  field(TWST, "Run")
}
record(bo, "$(P)onoff") {
  field(VAL, "0")
  field(PINI, "YES")
  field(ZNAM, "Off")
  field(ONAM, "On")
}
record(stringout, "$(P)label") {
  field(VAL, "shift A")
  field(PINI, "YES")
}
record(waveform, "$(P)wave") {
  field(FTVL, "DOUBLE")
  field(NELM, "5")
  field(INP, [1.5, 2.5, 3.5])
  field(PINI, "YES")
}
record(ao, "$(P)limited") {
  field(VAL, "5")
  field(PINI, "YES")
  field(DRVH, "10")
  field(DRVL, "0")
  field(HOPR, "10")
  field(LOPR, "0")
}
record(ao, "$(P)locked") {
  field(ASG, "RO")
  field(VAL, "3.25")
  field(PINI, "YES")
}
""")
    path.write_text("".join(records))
    return path


def start(tmp_dir: Path, count: int = 2000, ticking: int = 0,
          **kwargs: object) -> servers.Server:
    db = write_db(tmp_dir / f"many_{count}_{ticking}.db", count, ticking)
    return servers.start_softioc(db=db, acf=servers.TEST_ACF, ramps=(),
                                 probe_pv=None, timeout=60.0, **kwargs)
