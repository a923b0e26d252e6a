"""caprobe-put: write a PV the way EPICS base's ``caput`` does, printing ``Old :``/``New :``.

    caprobe-put [options] PV VALUE...
    caprobe-put -a [options] PV COUNT V1 V2 ...

Unlike caput, a value is parsed and checked against the PV's native type on this side first
(numbers in range, enum states by name or index, strings of at most 39 bytes, long strings
within the array): a value that does not fit is refused with one line and nothing is written.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from caprobe import ca
from caprobe import format as fmt
from caprobe.cli import common, routing
from caprobe.cli.get import request_type

DESCRIPTION = """\
Write a value to an EPICS Channel Access PV, like caput: prints the old value ("Old : ..."),
writes, and prints the new value ("New : ..."). Several VALUE words are joined with spaces
into one value; -a writes an array (the first word is the element count, kept for caput
compatibility; the values actually given are written)."""

EPILOG = """\
Enum PVs take a state name or an index (-n: index only, -s: name only). String values and -S
long strings understand caput's escapes (\\n, \\t, \\", \\\\, \\xhh).
Examples:
  caprobe-put SR:C1:ao 12.5             print the old value, write, print the new one
  caprobe-put -a SR:C1:wf_double 3 1 2 3   an array (the count, then the elements)
  caprobe-put -c -w 5 SR:C1:slow 7      wait up to 5 s for the put to complete
See man caprobe-put (docs/cli/caprobe-put.rst)."""


def build_parser() -> argparse.ArgumentParser:
    parser = common.make_parser("caprobe-put", DESCRIPTION, EPILOG)
    common.add_ca_options(parser)
    parser.add_argument("-c", dest="callback", action="store_true",
                        help="wait for the put to complete (put-callback), up to -w seconds")
    layout = parser.add_mutually_exclusive_group()
    layout.add_argument("-t", dest="terse", action="store_true",
                        help="terse mode: print only the new value")
    layout.add_argument("-l", dest="long", action="store_true",
                        help='long mode "name timestamp value stat sevr"')
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("-a", dest="array", action="store_true",
                      help="write an array: PV COUNT V1 V2 ...")
    kind.add_argument("-S", dest="long_string", action="store_true",
                      help="write the value as a char array (long string), with its NUL")
    enum = parser.add_mutually_exclusive_group()
    enum.add_argument("-n", dest="enum_mode", action="store_const", const="number",
                      default="auto", help="enum values are indices")
    enum.add_argument("-s", dest="enum_mode", action="store_const", const="string",
                      help="enum values are state names")
    parser.add_argument("-F", dest="separator", default=" ", metavar="SEP",
                        help="output field separator (default: a space)")
    parser.add_argument("--ns", "--nanoseconds", dest="nanos", action="store_true",
                        help="timestamps with nanoseconds in -l mode")
    parser.add_argument("pv", metavar="PV", help="PV name")
    # REMAINDER: everything after the PV is value text, even "-5" or "-c" (caput stops option
    # parsing at the PV name, POSIXLY_CORRECT).
    parser.add_argument("values", nargs=argparse.REMAINDER, metavar="VALUE",
                        help="value(s) to write")
    return parser


def _show(channel: ca.Channel, pv_name: str, args: argparse.Namespace, prefix: str) -> bool:
    """Print the PV's current value in caput's style (caget's line with a prefix).  A failure
    of an earlier plain write, which the server reports before answering this read, is
    reported as a write error."""
    # caput reads back with its own -n/-S in force: enum indices, char arrays as text.
    data_type = request_type(int(channel.info.native_data_type),
                             enum_as_number=args.enum_mode == "number")
    try:
        response = channel.read(data_type=data_type, data_count=channel.info.native_data_count)
    except ca.ConfigurationError:
        raise  # the environment is wrong for every PV: one message, stop
    except ca.WriteFailed as exc:
        _report_write_error(pv_name, exc, args)
        return False
    except ca.CATimeoutError:
        common.report(f"Read operation timed out: '{pv_name}' data was not read.", args.verbose)
        return False
    except ca.CAError as exc:
        common.report(common.pv_message(pv_name, exc), args.verbose)
        return False
    options = {"separator": args.separator, "char_as_string": args.long_string}
    if args.terse:
        text = fmt.format_value(response, **options)
    elif args.long:
        text = fmt.format_wide_line(pv_name, response, nanos=args.nanos, **options)
    else:
        text = fmt.format_value_line(pv_name, response, **options)
    common.print_line(prefix + text)
    return True


def _report_write_error(pv_name: str, exc: ca.CAError, args: argparse.Namespace) -> None:
    # caput's wording, typo included, so scripts that grep for it keep working
    common.report(f"Error occured writing data: {common.pv_message(pv_name, exc)}",
                  args.verbose)


def value_to_write(args: argparse.Namespace, channel: Any,
                   enum_strings: Sequence[bytes] | None) -> Any:
    """The value caput would send, parsed and checked locally.  Raises ValueError."""
    native = int(channel.native_data_type)
    count = int(channel.native_data_count)
    if args.long_string:
        if native != fmt.CHAR:
            raise ValueError(f"-S writes a char array but the PV is {fmt.dbf_type_text(native)}"
                             " (for a string field use its long-string form NAME$)")
        return fmt.parse_long_string(" ".join(args.values), max_count=count)
    options = {"enum_mode": args.enum_mode, "unescape": True}
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
        if len(words) > count:
            raise ValueError(f"{len(words)} values do not fit the PV's {count} elements")
        return fmt.parse_values(words, native, enum_strings, **options)
    try:
        return fmt.parse_value(" ".join(args.values), native, enum_strings, **options)
    except ValueError as exc:
        if native == fmt.CHAR and count > 1:
            raise ValueError(f"{exc}; use -S to write text to a char array") from None
        raise


def _run(args: argparse.Namespace) -> int:
    protocol, pv_name = routing.route(args.pv, args.verbose)  # pva://, ca://, bare names
    if protocol == "error":
        return 1
    if protocol != "ca":
        from caprobe.cli import pva_tools

        return pva_tools.put(args.pv, pv_name, args, common.resolve_timeout(args))
    if not args.values or (args.array and len(args.values) < 2):
        common.warn("No value specified. ('caprobe-put -h' for help.)")
        return 1
    timeout = common.resolve_timeout(args)
    channel = common.attempt(
        pv_name, lambda: ca.Channel(pv_name, timeout=timeout, priority=args.priority),
        common.connect_timeout_text(pv_name), args.verbose)
    if channel is None:
        return 1
    try:
        with channel:
            return _put(channel, pv_name, args, timeout)
    except ca.WriteFailed as exc:  # a plain write refused, reported as the channel closed
        _report_write_error(pv_name, exc, args)
        return 1


def _put(channel: ca.Channel, pv_name: str, args: argparse.Namespace, timeout: float) -> int:
    """Everything on one channel, as caput does: enum states, old value, write, new value."""
    if not channel.info.can_write:
        common.report(f"{pv_name}: no write access; nothing was written", args.verbose)
        return 1
    enum_strings = None
    if int(channel.info.native_data_type) == fmt.ENUM:
        try:
            control = channel.read(data_type="control")
            enum_strings = tuple(getattr(control.metadata, "enum_strings", ()) or ())
        except ca.CAError as exc:
            common.report(f"Read operation timed out: ENUM data was not read ({exc}).",
                          args.verbose)
            return 1
    try:
        value = value_to_write(args, channel.info, enum_strings)
    except ValueError as exc:
        common.report(f"{pv_name}: {exc}; nothing was written", args.verbose)
        return 1

    if not args.terse and not _show(channel, pv_name, args, "Old : "):
        return 1
    try:
        channel.write(value, notify=args.callback)
    except ca.ConfigurationError:
        raise  # the environment is wrong for every PV: one message, stop
    except ca.CATimeoutError as exc:
        if args.callback:
            common.report(f"Write callback operation timed out: '{pv_name}' did not complete "
                          f"within {timeout:g} s", args.verbose)
        else:
            common.report(common.pv_message(pv_name, exc), args.verbose)
        return 1
    except ca.ValueRefused as exc:
        common.report(common.pv_message(pv_name, exc), args.verbose)
        return 1
    except ca.CAError as exc:
        _report_write_error(pv_name, exc, args)
        return 1
    return 0 if _show(channel, pv_name, args, "" if args.terse else "New : ") else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``caprobe-put`` (and ``caprobe put``); returns the exit code."""
    return common.run_tool(_run, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
