"""The PV Access side of caprobe-get/put/monitor/info: ``pva://NAME`` (or a bare name when
CAPROBE_DEFAULT_PROTOCOL=pva) goes through caprobe.pva, with the tools' options and output where
they apply; structures (NTTable, NTNDArray, custom) print as pvget prints them.

Each tool's ``_run`` hands its whole command line here when a name has a scheme or PVA is the
default (:func:`any_pva`); CA names, their ``ca://`` stripped, still go through the tool's own
CA code (in argument order with the PVA ones), so a CA-only command line never comes here.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from caprobe import ca, pva, pvname
from caprobe import format as fmt
from caprobe import format_pva as fpva
from caprobe.cli import common
from caprobe.cli.routing import RESOLVED, any_pva, handles, route, route_quietly  # noqa: F401

STRUCTURE_KINDS = ("table", "structure", "ndarray")


# ---------------------------------------------------------------------------------------------
# Lines


def _options(args: argparse.Namespace, response: Any, show_count: bool | None = None
             ) -> dict[str, Any]:
    options = common.value_options(args, show_count=show_count)
    if getattr(args, "float_as_string", False) and options.get("float_format") is None and \
            "precision" in response.metadata.fields:
        options["float_format"] = "prec"  # PVA has no server-side text: format with PREC here
    return options


def wide_line(pv_name: str, response: Any, *, separator: str = " ", nanos: bool = False,
              time_text: str | None = None, **value_options: Any) -> str:
    """caget -a / camonitor's line for a PVA value: ``name date time value [stat sevr]``,
    the alarm from QSRV's CA status name or the PVA alarm message."""
    count = fmt._length(response.data)
    name = f"{pv_name:<30}" if count <= 1 and separator == " " else pv_name
    if time_text is None:
        time_text = fmt.format_response_time(response.metadata, nanos=nanos) or ""
    value = fmt.format_value(response, separator=separator, **value_options)
    words = fpva.alarm_words(response.metadata)
    alarm = f"{separator}{words[0]}{separator}{words[1]}" if words else separator * 2
    return f"{name}{separator}{time_text}{separator}{value}{alarm}"


def _message(typed: str, name: str, exc: BaseException) -> str:
    """caprobe.pva's one-line error under the name as typed ('pva://X: ...')."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    prefix = f"PV {name!r}: "
    return f"{typed}: {text[len(prefix):]}" if text.startswith(prefix) else \
        common.pv_message(typed, exc)


def _attempt(typed: str, name: str, call: Any, timeout_text: str, verbose: bool) -> Any:
    """common.attempt with caprobe.pva's messages under the name as typed."""
    try:
        return call()
    except ca.ConfigurationError:
        raise  # p4p missing or a bad EPICS_PVA_*: one message for every PV
    except ca.CATimeoutError:
        common.report(timeout_text, verbose)
    except ca.CAError as exc:
        common.report(_message(typed, name, exc), verbose)
    return None


def _structure(response: Any) -> bool:
    return response.layout.kind in STRUCTURE_KINDS


# ---------------------------------------------------------------------------------------------
# caprobe-get and caprobe-info: every PVA PV looked up at once, printed in argument order


#: PVA PVs looked up at once (caprobe-get/info): ten missing PVs cost one timeout, not ten.
PARALLEL_PVS = 32
#: Set on the arguments handed back to a tool's CA code: its names are CA names already.
def _in_order(args: argparse.Namespace, run_ca: Callable[[argparse.Namespace], int],
              start: Callable[[str], Any], show: Callable[[str, str, Any], bool]) -> int:
    """Run a get/info command line that has PVA names: every PVA call starts at once
    (``start(name)`` in a thread pool), then the names are printed in argument order,
    consecutive CA names through the tool's own CA code in one batch (``run_ca`` with
    ``args.pvs`` set to their bare names), PVA names by ``show(typed, name, outcome)``."""
    routed = [(typed, *route_quietly(typed)) for typed in args.pvs]
    pva_names = [name for _typed, protocol, name in routed if protocol == pvname.PVA]
    ok = True
    with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL_PVS, len(pva_names)))) as pool:
        futures: dict[str, Future[Any]] = {}
        for name in pva_names:
            if name not in futures:
                futures[name] = pool.submit(_outcome_of, start, name)
        index = 0
        while index < len(routed):
            typed, protocol, name = routed[index]
            if protocol == pvname.CA:
                batch = []
                while index < len(routed) and routed[index][1] == pvname.CA:
                    batch.append(routed[index][2])
                    index += 1
                ca_args = argparse.Namespace(**{**vars(args), "pvs": batch, RESOLVED: True})
                ok = run_ca(ca_args) == 0 and ok
                continue
            index += 1
            if protocol == "error":
                common.report(name, args.verbose)  # the parser's message
                ok = False
            else:
                ok = show(typed, name, futures[name].result()) and ok
    return 0 if ok else 1


def _outcome_of(start: Callable[[str], Any], name: str) -> Any:
    try:
        return start(name)
    except ca.ConfigurationError:
        raise  # p4p missing or a bad EPICS_PVA_*: one message for the whole command
    except ca.CAError as exc:
        return exc


def _failed(typed: str, name: str, outcome: Any, timeout_text: str, verbose: bool) -> bool:
    """Report a failed outcome as one line; True when it was one."""
    if isinstance(outcome, ca.CATimeoutError):
        common.report(timeout_text, verbose)
        return True
    if isinstance(outcome, ca.CAError):
        common.report(_message(typed, name, outcome), verbose)
        return True
    return False


def run_get(args: argparse.Namespace, run_ca: Callable[[argparse.Namespace], int]) -> int:
    """caprobe-get for a command line with PVA names (see :func:`_in_order`)."""
    timeout = common.resolve_timeout(args)

    def start(name: str) -> Any:
        return pva.read(name, timeout=timeout, force_int_enums=args.enum_as_number,
                        data_count=args.count or None)

    def show(typed: str, name: str, outcome: Any) -> bool:
        if _failed(typed, name, outcome, common.connect_timeout_text(typed), args.verbose):
            return False
        common.print_line(get_text(typed, outcome, args))
        return True

    return _in_order(args, run_ca, start, show)


def get_text(pv_name: str, response: Any, args: argparse.Namespace) -> str:
    """What caprobe-get prints for one PVA value, with its options."""
    options = _options(args, response, show_count=True if args.count else None)
    if args.dbr_type is not None:
        options.pop("show_count", None)
        value = "" if _structure(response) else fmt.format_value(
            response, separator=args.separator, show_count=False, **options)
        return fpva.format_pva_details(pv_name, response, nanos=args.nanos, value_text=value)
    if _structure(response):
        return fpva.format_structure_block(pv_name, response, terse=args.terse,
                                           nanos=args.nanos)
    if args.wide:
        return wide_line(pv_name, response, separator=args.separator, nanos=args.nanos,
                         **options)
    if args.terse:
        return fmt.format_value(response, separator=args.separator, **options)
    return fmt.format_value_line(pv_name, response, separator=args.separator, **options)


def run_info(args: argparse.Namespace, run_ca: Callable[[argparse.Namespace], int]) -> int:
    """caprobe-info for a command line with PVA names (see :func:`_in_order`)."""
    timeout = common.resolve_timeout(args)

    def show(typed: str, name: str, outcome: Any) -> bool:
        if _failed(typed, name, outcome, common.connect_timeout_text(typed), args.verbose):
            return False
        common.print_line(fpva.format_pva_info(outcome, pv_name=typed))
        return True

    return _in_order(args, run_ca, lambda name: pva.info(name, timeout=timeout), show)


# ---------------------------------------------------------------------------------------------
# caprobe-put


def _value_to_write(args: argparse.Namespace, current: Any) -> Any:
    """The value for pva.write from the command line words (pva.write checks it against the
    PV's type): JSON for structures, a list with -a, state names or indices for enums."""
    text = " ".join(args.values)
    kind = current.layout.kind
    if kind in STRUCTURE_KINDS:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"a {current.layout.type_text} takes a JSON object of fields, "
                             f"e.g. '{{\"field\": 1}}' ({exc.msg})") from None
        if not isinstance(value, dict):
            raise ValueError(f"a {current.layout.type_text} takes a JSON object of fields")
        return value
    if args.array:
        words = args.values[1:]
        try:
            declared = int(args.values[0])
        except ValueError:
            raise ValueError(f"-a expects the element count first, got "
                             f"{args.values[0]!r}") from None
        if declared != len(words):
            common.warn(f"Warning: count {declared} given but {len(words)} values follow; "
                        f"writing {len(words)}.")
        if not words:
            raise ValueError("no array values given")
        return [fmt.unescape_string(w).decode("utf-8", "replace") for w in words] \
            if current.data_type == ca.ChannelType.TIME_STRING else words
    if kind == "enum":
        if args.enum_mode == "number":
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"-n expects a state index, got {text!r}") from None
        if args.enum_mode == "string" or text in current.metadata.enum_strings:
            return text
        return text  # an index as text: pva.write accepts both
    if current.data_type == ca.ChannelType.TIME_STRING:
        return fmt.unescape_string(text).decode("utf-8", "replace")
    return text


def _show(pv_name: str, name: str, args: argparse.Namespace, timeout: float,
          prefix: str) -> bool:
    try:
        response = pva.read(name, timeout=timeout,
                            force_int_enums=args.enum_mode == "number")
    except ca.ConfigurationError:
        raise
    except ca.CATimeoutError:
        common.report(common.read_timeout_text(pv_name), args.verbose)
        return False
    except ca.CAError as exc:
        common.report(_message(pv_name, name, exc), args.verbose)
        return False
    if _structure(response):
        text = fpva.format_structure_block(pv_name, response, terse=args.terse,
                                           nanos=args.nanos)
        common.print_line(prefix + text)
        return True
    options = {"separator": args.separator}
    if args.terse:
        text = fmt.format_value(response, **options)
    elif args.long:
        text = wide_line(pv_name, response, nanos=args.nanos, **options)
    else:
        text = fmt.format_value_line(pv_name, response, **options)
    common.print_line(prefix + text)
    return True


def put(pv_name: str, name: str, args: argparse.Namespace, timeout: float) -> int:
    """caput's sequence over PVA: Old, write (-c: wait for completion), New."""
    if not args.values or (args.array and len(args.values) < 2):
        common.warn("No value specified. ('caprobe-put -h' for help.)")
        return 1
    if args.long_string:
        common.report(f"{pv_name}: -S does not apply to PV Access (strings are strings); "
                      "nothing was written", args.verbose)
        return 1
    current = _attempt(pv_name, name, lambda: pva.read(name, timeout=timeout),
                             common.connect_timeout_text(pv_name), args.verbose)
    if current is None:
        return 1
    try:
        value = _value_to_write(args, current)
    except ValueError as exc:
        common.report(f"{pv_name}: {exc}; nothing was written", args.verbose)
        return 1
    if not args.terse and not _show(pv_name, name, args, timeout, "Old : "):
        return 1
    try:
        pva.write(name, value, notify=args.callback, timeout=timeout)
    except ca.ConfigurationError:
        raise
    except ca.CATimeoutError as exc:
        if args.callback:
            common.report(f"Write callback operation timed out: '{pv_name}' did not complete "
                          f"within {timeout:g} s", args.verbose)
        else:
            common.report(_message(pv_name, name, exc), args.verbose)
        return 1
    except ca.ValueRefused as exc:
        common.report(_message(pv_name, name, exc), args.verbose)
        return 1
    except ca.CAError as exc:
        common.report(f"Error occured writing data: {_message(pv_name, name, exc)}",
                      args.verbose)
        return 1
    return 0 if _show(pv_name, name, args, timeout, "" if args.terse else "New : ") else 1


# ---------------------------------------------------------------------------------------------
# caprobe-monitor


def interrupt_both() -> None:
    ca.interrupt()
    pva.interrupt()


def monitor_line(pv_name: str, response: Any, args: argparse.Namespace, time_text: str,
                 options: dict[str, Any]) -> str:
    """One update of a PVA PV in camonitor's layout (structures as pvget's block)."""
    if _structure(response):
        return fpva.format_structure_block(pv_name, response, nanos=args.nanos)
    return wide_line(pv_name, response, separator=args.separator, time_text=time_text,
                     **_options(args, response, options.get("show_count")))


def _mixed_monitor(args: argparse.Namespace) -> Any:
    """caprobe-monitor's Monitor, printing each PV under the name as typed and PVA values in
    their own layout; --count and a closed stdout stop both protocols."""
    from caprobe.cli import monitor as ca_monitor

    class MixedMonitor(ca_monitor.Monitor):
        def on_update(self, sub: Any, response: Any) -> None:
            if self.stdout_closed:
                return
            try:
                self._update(sub, response)
            except BrokenPipeError:
                self.stdout_closed = True
                interrupt_both()
            except Exception as exc:
                common.report(f"caprobe-monitor: {sub.typed_name}: cannot show this update: "
                              f"{exc}", self.args.verbose)

        def _update(self, sub: Any, response: Any) -> None:
            typed = sub.typed_name
            channel = self.channels[typed]
            if isinstance(response, ca.ConnectionEvent):
                self.on_connection(channel, response)
                return
            channel.once_connected = True
            if self.args.max_updates and self.updates >= self.args.max_updates:
                return  # more arrived in the same read as the last one wanted
            channel.elements = int(getattr(response, "data_count", 0) or 0)
            time_text = self._time_text(channel, ca_monitor._server_ns(response),
                                        ca_monitor.time.time_ns())
            if isinstance(response, pva.PVAResponse):
                line = monitor_line(typed, response, self.args, time_text, self.options)
            else:
                line = fmt.format_wide_line(typed, response, separator=self.args.separator,
                                            time_text=time_text, **self.options)
            common.print_line(line)
            self.updates += 1
            if self.args.max_updates and self.updates >= self.args.max_updates:
                interrupt_both()

    return MixedMonitor(args), ca_monitor


def run_monitor(args: argparse.Namespace, timeout: float) -> int:
    """caprobe-monitor for a list that has PVA (or ca://) names: CA and PVA PVs monitored
    together, CA in this thread, PVA in a helper thread."""
    monitor, ca_monitor = _mixed_monitor(args)
    # -s and -# need the CA PVs' native types: looked up all at once, as the CA-only path does
    ca_names = []
    for typed in dict.fromkeys(args.pvs):
        protocol, name = route_quietly(typed)
        if protocol == pvname.CA:
            try:
                ca.subscribe(name)  # a malformed name is reported below, not looked up
                ca_names.append(name)
            except ca.CAError:
                pass
    ca_types = dict(zip(ca_names, ca_monitor._data_types(args, ca_names, timeout),
                        strict=True))
    ca_subs: list[Any] = []
    pva_subs: list[Any] = []
    failed = False
    for typed in args.pvs:
        if typed in monitor.channels:
            continue
        protocol, name = route(typed, args.verbose)
        if protocol == "error":
            failed = True
            continue
        try:
            if protocol == pvname.PVA:
                sub: Any = pva.subscribe(name, data_count=args.count or None)
            else:
                data_type, data_count = ca_types.get(name, (None, None))
                sub = ca.subscribe(name, priority=args.priority, data_type=data_type,
                                   data_count=data_count, mask=args.mask)
        except ca.ConfigurationError:
            raise
        except ca.CAError as exc:
            common.report(_message(typed, name, exc), args.verbose)
            failed = True
            continue
        sub.typed_name = typed
        monitor.channels[typed] = ca_monitor._Channel(typed)
        sub.add_callback(monitor.on_update)  # a bound method: monitor keeps it alive
        (pva_subs if protocol == pvname.PVA else ca_subs).append(sub)
    if not ca_subs and not pva_subs:
        return 1
    try:
        block_both(ca_subs, pva_subs, duration=args.duration, timeout=timeout,
                   force_int_enums=args.enum_as_number)
    except KeyboardInterrupt:
        pass  # Ctrl+C is the normal way to stop a monitor
    if monitor.stdout_closed:
        common.silence_stdout()
        return 0
    missing = [c for c in monitor.channels.values() if not c.once_connected]
    for channel in missing:
        if not channel.not_found_printed:
            common.print_line(f"{monitor._name(channel)}{args.separator}"
                              "*** Not connected (PV not found)")
    return 1 if missing or failed else 0


def block_both(ca_subs: list[Any], pva_subs: list[Any], *, duration: float | None,
               timeout: float, force_int_enums: bool) -> None:
    """caprobe.ca's and caprobe.pva's block() together (PVA in a helper thread) until the
    duration passes, Ctrl+C or interrupt_both(); either side ending ends the other."""
    if not ca_subs:
        pva.block(*pva_subs, duration=duration, timeout=timeout,
                  force_int_enums=force_int_enums)
        return
    if not pva_subs:
        ca.block(*ca_subs, duration=duration, timeout=timeout,
                 force_int_enums=force_int_enums)
        return
    failure: list[BaseException] = []

    def run_pva() -> None:
        try:
            pva.block(*pva_subs, duration=duration, timeout=timeout,
                      force_int_enums=force_int_enums)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)
        finally:
            ca.interrupt()

    thread = threading.Thread(target=run_pva, name="caprobe-pva-monitor", daemon=True)
    thread.start()
    try:
        ca.block(*ca_subs, duration=duration, timeout=timeout, force_int_enums=force_int_enums)
    finally:
        pva.interrupt()
        thread.join(5.0)
    if failure:
        raise failure[0]
