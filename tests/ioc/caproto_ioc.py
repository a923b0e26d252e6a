"""A caproto IOC for interop tests: ``caproto_ioc.py --prefix P [--interfaces 127.0.0.1]``.

Started as a subprocess by tests/servers.py, which sets EPICS_CA_SERVER_PORT / EPICS_CAS_* so it
stays on loopback and its own ports. PVs (native CA types in tests/servers.py CAPROTO_PVS):
``double`` ``enum`` ``string`` ``long_string`` ``long`` ``int_array`` ``double_array``
``read_only`` ``counter``.
"""

from __future__ import annotations

import sys
from textwrap import dedent

import _child
from caproto import ChannelType
from caproto.server import PVGroup, ioc_arg_parser, pvproperty, run


class CaprobeTestIOC(PVGroup):
    """caprobe test IOC (caproto server)."""

    double = pvproperty(
        value=1.5, doc="Double with metadata", units="mm", precision=3,
        upper_disp_limit=10.0, lower_disp_limit=-10.0,
        upper_alarm_limit=9.0, upper_warning_limit=5.0,
        lower_warning_limit=-5.0, lower_alarm_limit=-9.0,
        upper_ctrl_limit=10.0, lower_ctrl_limit=-10.0,
    )
    enum = pvproperty(
        value="Off", dtype=ChannelType.ENUM, enum_strings=["Off", "On", "Fault"],
        doc="Three-state enum",
    )
    string = pvproperty(value="hello", dtype=ChannelType.STRING, doc="40-char string")
    long_string = pvproperty(
        value="This long string is longer than forty characters: 0123456789",
        dtype=ChannelType.CHAR, max_length=256, string_encoding="latin-1",
        doc="Char array used as a long string",
    )
    long = pvproperty(value=42, dtype=ChannelType.LONG, units="cts", doc="Long scalar")
    int_array = pvproperty(value=[1, -2, 3, 4, 5], dtype=ChannelType.LONG, max_length=10,
                           doc="Long array")
    double_array = pvproperty(value=[0.5, 1.5, 2.5], dtype=ChannelType.DOUBLE, max_length=10,
                              doc="Double array")
    read_only = pvproperty(value=3.25, read_only=True, doc="Not writable over CA")
    counter = pvproperty(value=0, dtype=ChannelType.LONG, read_only=True,
                         doc="Counts up at 10 Hz")

    @counter.scan(period=0.1)
    async def counter(self, instance, async_lib):
        await instance.write(value=instance.value + 1)


def main() -> None:
    argv = sys.argv[1:]
    parent_pid = None
    if "--parent-pid" in argv:
        at = argv.index("--parent-pid")
        parent_pid = int(argv[at + 1])
        del argv[at:at + 2]
    _child.die_with_parent(parent_pid)
    _child.quiet_caproto_beacon_errors()
    sys.argv[1:] = argv
    ioc_options, run_options = ioc_arg_parser(
        default_prefix="caprobe_test:", desc=dedent(CaprobeTestIOC.__doc__ or ""))
    ioc = CaprobeTestIOC(**ioc_options)
    run(ioc.pvdb, **run_options)


if __name__ == "__main__":
    main()
