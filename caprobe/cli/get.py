"""caprobe-get: read PVs and print them the way EPICS base's ``caget`` does.

    caprobe-get [options] PV...

Default line ``name value`` (name padded to 30 for scalars), arrays ``name count v1 v2 ...``;
``-t`` value only, ``-a`` ``name date time value [stat sevr]``, ``-d TYPE`` the multi-line
metadata view.  Values are requested like caget: DBR_TIME_<native type> with the native element
count (``-c``: the server's current count), enums as strings (``-n``: numbers), floats as
strings with ``-s`` (the server applies PREC).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from caprobe import ca
from caprobe import format as fmt
from caprobe.cli import common, routing

DESCRIPTION = """\
Read EPICS Channel Access PVs and print their values, like caget.

Output: "name value" (default), "value" (-t), "name date time value stat sevr" (-a; status and
severity only when in alarm), or the full metadata view of a DBR type (-d). Arrays print their
element count, then the elements. Errors go to stderr, one line per PV; the exit code is 1 if
any PV failed."""

EPILOG = """\
-d TYPE: a DBR type number (0-38), a name with or without DBR_ (CTRL_DOUBLE, DBR_TIME_STRING,
TIME_INT, ...), or a class: native, status, time, graphic, control.
Examples:
  caprobe-get SR:C1:ai SR:C1:mbbo       name and value of each PV
  caprobe-get -a -f8 SR:C1:ai           with the IOC's time stamp, 8 decimals
  caprobe-get -d control SR:C1:ai       every metadata field: units, precision, limits
See man caprobe-get (docs/cli/caprobe-get.rst)."""

_TIME_STRING = 14
_TIME_SHORT = 15


def build_parser() -> argparse.ArgumentParser:
    parser = common.make_parser("caprobe-get", DESCRIPTION, EPILOG)
    common.add_ca_options(parser)
    parser.add_argument("-c", dest="dynamic", action="store_true",
                        help="ask for the current number of elements (dynamic array size) "
                             "instead of the native count")
    layout = parser.add_mutually_exclusive_group()
    layout.add_argument("-t", dest="terse", action="store_true",
                        help="terse mode: print only the value, without name")
    layout.add_argument("-a", dest="wide", action="store_true",
                        help='wide mode "name timestamp value stat sevr"')
    layout.add_argument("-d", dest="dbr_type", type=_dbr_type, metavar="TYPE",
                        help="request this DBR type and print all its fields")
    parser.add_argument("-#", dest="count", type=common._count, default=0, metavar="COUNT",
                        help="print (request) only the first COUNT elements of an array")
    common.add_format_options(parser)
    parser.add_argument("pvs", nargs="+", metavar="PV", help="PV names")
    return parser


def _dbr_type(text: str) -> int | str:
    try:
        return fmt.parse_dbr_type(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def request_type(native: int, *, enum_as_number: bool = False,
                 float_as_string: bool = False) -> int:
    """caget's choice: DBR_TIME_<native>; enums as TIME_STRING (TIME_SHORT with -n); floats as
    TIME_STRING with -s so the server formats them with its PREC."""
    if native == fmt.ENUM:
        return _TIME_SHORT if enum_as_number else _TIME_STRING
    if float_as_string and native in (fmt.FLOAT, fmt.DOUBLE):
        return _TIME_STRING
    return 14 + int(native)


def request_count(native_count: int, requested: int, dynamic: bool) -> int:
    """Elements to ask for: the native count (or fewer with -#); 0 = whatever the server has
    now (-c), which CA servers since protocol 4.13 understand."""
    if requested:
        return min(requested, native_count) if native_count else requested
    return 0 if dynamic else native_count


def _request(info: ca.ChannelInfo, args: argparse.Namespace) -> tuple[Any, int]:
    """(data type, count) caget would ask this channel for."""
    native = int(info.native_data_type)
    if args.dbr_type is not None:
        data_type: Any = args.dbr_type
    else:
        data_type = request_type(native, enum_as_number=args.enum_as_number,
                                 float_as_string=args.float_as_string)
    return data_type, request_count(info.native_data_count, args.count, args.dynamic)


def _line(pv_name: str, info: ca.ChannelInfo, response: Any, args: argparse.Namespace) -> str:
    # caget prints the count whenever one was asked for (-#), even for a single element.
    options = common.value_options(args, show_count=True if args.count else None)
    if args.dbr_type is not None:
        options.pop("show_count", None)
        return fmt.format_details(response, pv_name=pv_name,
                                  native_type=int(info.native_data_type), nanos=args.nanos,
                                  separator=args.separator, **options)
    if args.wide:
        return fmt.format_wide_line(pv_name, response, separator=args.separator,
                                    nanos=args.nanos, **options)
    if args.terse:
        return fmt.format_value(response, separator=args.separator, **options)
    return fmt.format_value_line(pv_name, response, separator=args.separator, **options)


def _run(args: argparse.Namespace) -> int:
    """Connect every PV at once (one search burst, one circuit per server), read every
    readable one at once, then print in argument order, errors as caget words them."""
    if routing.handles(args):  # pva://, ca://, or PVA as the default protocol
        from caprobe.cli import pva_tools

        return pva_tools.run_get(args, _run)
    timeout = common.resolve_timeout(args)
    pvs = args.pvs
    with ca.Context(timeout=timeout, priority=args.priority) as ctx:
        infos = ctx.info_many(pvs)
        to_read = [i for i, info in enumerate(infos)
                   if isinstance(info, ca.ChannelInfo) and info.can_read]
        requests = [_request(infos[i], args) for i in to_read]
        responses = ctx.read_many([pvs[i] for i in to_read],
                                  data_type=[r[0] for r in requests],
                                  data_count=[r[1] for r in requests])
    read_results = dict(zip(to_read, responses, strict=True))
    ok = True
    # Lines go out together (one write for 2,000 PVs, not 2,000), each run of them before
    # the next error line, so stdout and stderr still interleave in argument order.
    lines: list[str] = []
    try:
        for i, pv_name in enumerate(pvs):
            info = infos[i]
            result = read_results.get(i)
            if isinstance(result, ca.ReadNotifyResponse):
                lines.append(_line(pv_name, info, result, args))
                continue
            if lines:
                common.print_line("\n".join(lines))
                lines.clear()
            ok = False
            if isinstance(info, ca.CAError):
                common.report_error(pv_name, info, common.connect_timeout_text(pv_name),
                                    args.verbose)
            elif result is None:
                common.report(f"{pv_name}: no read access", args.verbose)
            else:
                common.report_error(pv_name, result, common.read_timeout_text(pv_name),
                                    args.verbose)
    finally:  # also the lines before an unexpected error, as when each went out at once
        if lines:
            common.print_line("\n".join(lines))
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``caprobe-get`` (and ``caprobe get``); returns the exit code."""
    return common.run_tool(_run, build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
