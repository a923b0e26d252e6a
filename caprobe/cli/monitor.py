"""caprobe-monitor: print every update of PVs the way EPICS base's ``camonitor`` does.

    caprobe-monitor [options] PV...

Each update prints caget's wide line (``name date time value [stat sevr]``).  A lost
connection prints ``name <now> *** disconnected`` and monitoring resumes by itself when the
IOC comes back; a PV not found within -w prints ``name *** Not connected (PV not found)``
and keeps being searched.  Runs until Ctrl+C (exit 0), ``--duration`` seconds or
``--count`` updates.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from caprobe import ca
from caprobe import format as fmt
from caprobe.cli import common, routing

DESCRIPTION = """\
Monitor EPICS Channel Access PVs and print each update, like camonitor:
"name date time value stat sevr" (status and severity only when in alarm). Disconnections
are printed and monitoring resumes on reconnection. Stops on Ctrl+C (exit code 0),
after --duration seconds or after --count updates; the exit code is 1 if a PV was never
found."""

EPILOG = """\
-m MASK: letters v (value), a (alarm), l (log/archive), p (property); default va.
-t KEY: s = server timestamps (default), c = client timestamps (in parentheses), n = none,
r = relative to the start, i = incremental, I = incremental per channel (r/i/I need s or c).
Examples:
  caprobe-monitor SR:C1:counter SR:C1:ai    every update until Ctrl+C
  caprobe-monitor -m va -f3 --count 5 SR:C1:counter   five updates, 3 decimals
  caprobe-monitor -t sI --duration 60 SR:C1:ai      time since the PV's previous update
See man caprobe-monitor (docs/cli/caprobe-monitor.rst)."""

_MASK_LETTERS = {"v": 1, "l": 2, "a": 4, "p": 8}


def _mask(text: str) -> int:
    mask = 0
    for letter in text:
        if letter not in _MASK_LETTERS:
            raise argparse.ArgumentTypeError(f"invalid event mask '{text}' (letters v, a, l, p)")
        mask |= _MASK_LETTERS[letter]
    if not mask:
        raise argparse.ArgumentTypeError("empty event mask")
    return mask


@dataclass(frozen=True)
class TimeMode:
    """camonitor -t: which clocks to print and whether absolute/relative/incremental."""

    server: bool = True
    client: bool = False
    kind: str = "absolute"  # absolute | relative | incremental | incremental_by_channel


def _time_mode(text: str) -> TimeMode:
    server = client = False
    kind = "absolute"
    for letter in text:
        if letter == "s":
            server = True
        elif letter == "c":
            client = True
        elif letter == "n":
            pass
        elif letter in "riI":
            kind = {"r": "relative", "i": "incremental", "I": "incremental_by_channel"}[letter]
        else:
            raise argparse.ArgumentTypeError(f"invalid argument '{letter}' for option -t "
                                             "(use s, c, n, r, i, I)")
    return TimeMode(server, client, kind)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be > 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be > 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = common.make_parser("caprobe-monitor", DESCRIPTION, EPILOG)
    common.add_ca_options(parser)
    parser.add_argument("-m", dest="mask", type=_mask, default=_mask("va"), metavar="MASK",
                        help="event mask letters v, a, l, p (default va)")
    parser.add_argument("-t", dest="time_mode", type=_time_mode, default=TimeMode(),
                        metavar="KEY", help="timestamp source and type: s c n r i I")
    parser.add_argument("-#", dest="count", type=common._count, default=0, metavar="COUNT",
                        help="request and print at most COUNT array elements")
    parser.add_argument("--duration", type=_positive, metavar="SEC",
                        help="stop after SEC seconds")
    parser.add_argument("--count", dest="max_updates", type=_positive_int, metavar="N",
                        help="stop after N updates (all PVs together)")
    common.add_format_options(parser)
    parser.add_argument("pvs", nargs="+", metavar="PV", help="PV names")
    return parser


# EPICS epoch stamps as nanoseconds since the Unix epoch: exact arithmetic for differences.
def _server_ns(response: Any) -> int | None:
    stamp = fmt.response_stamp(response)
    if stamp is None:
        return None
    return (stamp[0] + fmt.EPICS_EPOCH_OFFSET) * 1_000_000_000 + stamp[1]


def _abs_text(ns: int, nanos: bool) -> str:
    return fmt.format_timestamp(ns // 1_000_000_000, ns % 1_000_000_000, nanos=nanos,
                                epics_epoch=False)


class _Channel:
    """Per-PV state: what camonitor's ``pv`` struct remembers between updates."""

    def __init__(self, name: str):
        self.name = name
        self.once_connected = False
        self.first_stamp_printed = False
        self.elements = 0
        self.previous_server: int | None = None
        self.previous_client: int | None = None
        self.not_found_printed = False


class Monitor:
    """Turns subscription callbacks into camonitor's lines."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.mode: TimeMode = args.time_mode
        self.options = common.value_options(args, show_count=True if args.count else None)
        self.start_client = time.time_ns()
        self.first_server: int | None = None
        self.previous_server: int | None = None
        self.previous_client: int | None = None
        self.updates = 0
        self.channels: dict[str, _Channel] = {}
        self.stdout_closed = False

    def _name(self, channel: _Channel) -> str:
        if channel.elements <= 1 and self.args.separator == " ":
            return f"{channel.name:<30}"
        return channel.name

    def _time_text(self, channel: _Channel, server_ns: int | None, client_ns: int) -> str:
        # A port of print_time_val_sts's timestamp part (tool_lib.c).
        server_ns = server_ns if server_ns is not None else 0
        if self.first_server is None:
            self.first_server = server_ns
        print_absolute = not channel.first_stamp_printed
        if self.mode.kind == "relative":
            ref_client, ref_server = self.start_client, self.first_server
        elif self.mode.kind == "incremental":
            ref_client, ref_server = self.previous_client, self.previous_server
        elif self.mode.kind == "incremental_by_channel":
            ref_client, ref_server = channel.previous_client, channel.previous_server
        else:
            print_absolute = True
            ref_client = ref_server = None
        text = ""
        if print_absolute or ref_client is None or ref_server is None:
            if self.mode.server:
                text += _abs_text(server_ns, self.args.nanos)
            if self.mode.client:
                text += f"({_abs_text(client_ns, self.args.nanos)})"
            channel.first_stamp_printed = True
        else:
            if self.mode.server:
                text += f"              {(server_ns - ref_server) / 1e9:+12.6f}"
            if self.mode.client:
                text += f"              ({(client_ns - ref_client) / 1e9:+12.6f})"
        channel.previous_client = client_ns
        channel.previous_server = server_ns
        self.previous_client = client_ns
        self.previous_server = server_ns
        return text

    def on_update(self, sub: Any, response: Any) -> None:
        """Subscription callback.  Never raises: the client would log a traceback per update."""
        if self.stdout_closed or self.count_reached:
            # interrupt() makes block() return promptly, but updates already received may
            # still be delivered: --count N prints N lines, never more.
            return
        try:
            self._update(sub, response)
        except BrokenPipeError:
            # `caprobe-monitor PV | head`: the reader is gone, so stop quietly.
            self.stdout_closed = True
            ca.interrupt()
        except Exception as exc:
            common.report(f"caprobe-monitor: {sub.pv_name}: cannot show this update: {exc}",
                          self.args.verbose)

    @property
    def count_reached(self) -> bool:
        return bool(self.args.max_updates) and self.updates >= self.args.max_updates

    def _update(self, sub: Any, response: Any) -> None:
        channel = self.channels[sub.pv_name]
        if isinstance(response, ca.ConnectionEvent):
            self.on_connection(channel, response)
            return
        channel.once_connected = True
        channel.elements = int(getattr(response, "data_count", 0) or 0)
        time_text = self._time_text(channel, _server_ns(response), time.time_ns())
        line = fmt.format_wide_line(sub.pv_name, response, separator=self.args.separator,
                                    time_text=time_text, **self.options)
        common.print_line(line)
        self.updates += 1
        if self.count_reached:
            ca.interrupt()

    def on_connection(self, channel: _Channel, event: Any) -> None:
        if event.connected:
            channel.once_connected = True
            return
        sep = self.args.separator
        if not channel.once_connected:
            if not channel.not_found_printed:
                common.print_line(f"{self._name(channel)}{sep}*** Not connected (PV not found)")
                channel.not_found_printed = True
            return
        now = fmt.format_timestamp(event.time, nanos=self.args.nanos, epics_epoch=False)
        extra = "" if event.reason == "disconnected" else f" ({event.reason})"
        common.print_line(f"{self._name(channel)}{sep}{now} *** disconnected{extra}")


def _data_types(args: argparse.Namespace, pv_names: Sequence[str], timeout: float
                ) -> list[tuple[Any, Any]]:
    """(data_type, data_count) per subscription; None leaves it to the client, which picks
    DBR_TIME_<native> (enums as TIME_STRING) and every element.  -s and -# need the native
    type or count, so they look the channels up first, all at once (a PV that is not there
    yet gets the defaults)."""
    if not args.float_as_string and not args.count:
        return [(None, None)] * len(pv_names)
    out: list[tuple[Any, Any]] = []
    for info in ca.info_many(pv_names, timeout=timeout, priority=args.priority):
        if isinstance(info, ca.ConfigurationError):
            raise info
        if isinstance(info, ca.CAError):
            out.append((None, args.count or None))
            continue
        native = int(info.native_data_type)
        data_type = None
        if args.float_as_string and native in (fmt.FLOAT, fmt.DOUBLE):
            data_type = 14  # DBR_TIME_STRING: the server formats with PREC
        out.append((data_type, min(args.count, info.native_data_count) if args.count
                    else None))
    return out


def _run(args: argparse.Namespace) -> int:
    timeout = common.resolve_timeout(args)
    if routing.any_pva(args.pvs):  # pva://, ca:// or PVA as the default protocol
        from caprobe.cli import pva_tools

        return pva_tools.run_monitor(args, timeout)
    monitor = Monitor(args)
    subscriptions = []
    failed = False
    unique = list(dict.fromkeys(args.pvs))  # the same PV twice would print every update twice
    valid = []
    for pv_name in unique:
        try:
            ca.subscribe(pv_name)  # a malformed name is reported below, not looked up
            valid.append(pv_name)
        except ca.CAError:
            pass
    types = dict(zip(valid, _data_types(args, valid, timeout), strict=True))
    for pv_name in unique:
        data_type, data_count = types.get(pv_name, (None, None))
        try:
            sub = ca.subscribe(pv_name, priority=args.priority, data_type=data_type,
                               data_count=data_count, mask=args.mask)
        except ca.ConfigurationError:
            raise
        except ca.CAError as exc:  # e.g. a malformed PV name: skip it, watch the others
            common.report(common.pv_message(pv_name, exc), args.verbose)
            failed = True
            continue
        monitor.channels[pv_name] = _Channel(pv_name)
        sub.add_callback(monitor.on_update)  # a bound method: monitor keeps it alive
        subscriptions.append(sub)
    if not subscriptions:
        return 1
    try:
        ca.block(*subscriptions, duration=args.duration, timeout=timeout,
                 force_int_enums=args.enum_as_number)
    except KeyboardInterrupt:
        pass  # Ctrl+C is the normal way to stop a monitor
    if monitor.stdout_closed:
        common.silence_stdout()
        return 0
    missing = [c for c in monitor.channels.values() if not c.once_connected]
    for channel in missing:
        # --duration shorter than -w ends before the client reports "not found": say it now.
        if not channel.not_found_printed:
            common.print_line(f"{monitor._name(channel)}{args.separator}"
                              "*** Not connected (PV not found)")
    return 1 if missing or failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``caprobe-monitor`` (and ``caprobe monitor``); returns the exit code."""
    return common.run_tool(_run, build_parser(), argv, interrupted_code=0)


if __name__ == "__main__":
    raise SystemExit(main())
