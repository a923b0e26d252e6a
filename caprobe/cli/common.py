"""What caprobe-get/put/monitor/info share: option parsing in EPICS base's style, timeouts,
and turning exceptions into the one-line messages operators know from caget/caput.

Every tool's ``main(argv=None) -> int`` returns 0 when every PV went well and 1 otherwise
(also for usage errors, as EPICS base's tools do); it never lets a traceback reach the
terminal unless ``-v`` was given.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from caprobe import __version__, ca
from caprobe.cli import suggest
from caprobe.format import FloatFormat

DEFAULT_TIMEOUT = 1.0
CA_PRIORITY_MAX = 99



class UsageError(Exception):
    """Bad command line: the message is printed with a hint at -h, exit code 1."""


class ToolParser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 1 (like caget), instead of
    argparse's usage dump and code 2; an unknown option names the nearest known one."""

    def error(self, message: str) -> NoReturn:
        explained = suggest.explain_unrecognized(self, message)
        if explained != message:
            explained = f"{self.prog}: {explained}"
        raise UsageError(f"{explained} ('{self.prog} -h' for help.)")


def default_timeout(environ: dict[str, str] | None = None) -> float:
    """``EPICS_CLI_TIMEOUT`` (EPICS 7.0.8 tools) when valid, else 1.0 s."""
    env = os.environ if environ is None else environ
    text = env.get("EPICS_CLI_TIMEOUT")
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
        if value < 0 or value != value:
            raise ValueError
        return value
    except ValueError:
        warn(f"'{text}' is not a valid timeout value (from 'EPICS_CLI_TIMEOUT' in the "
             f"environment) - ignored.")
        return DEFAULT_TIMEOUT


def warn(message: str) -> None:
    _emit(sys.stderr, message)


def _emit(stream: Any, text: str) -> None:
    print(text, file=stream, flush=True)


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a valid timeout value") from None
    if value <= 0 or value != value:
        raise argparse.ArgumentTypeError(f"'{text}' is not a valid timeout value (must be > 0)")
    return value


def _priority(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a valid CA priority") from None
    if not 0 <= value <= CA_PRIORITY_MAX:
        raise argparse.ArgumentTypeError(
            f"CA priority {value} out of range (0-{CA_PRIORITY_MAX})")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a valid array element count") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not a valid array element count")
    return value


def _digits(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid precision argument '{text}'") from None
    if not 0 <= value <= 18:  # caget's VALID_DOUBLE_DIGITS
        raise argparse.ArgumentTypeError(f"precision {value} out of range (0-18)")
    return value


def _base_letter(text: str) -> str:
    # argparse also runs the default ("dec") through this, hence the full names.
    names = {"x": "hex", "o": "oct", "b": "bin", "dec": "dec", "hex": "hex", "oct": "oct",
             "bin": "bin"}
    if text not in names:
        raise argparse.ArgumentTypeError(f"invalid argument '{text}' (use x, o or b)")
    return names[text]


class _FloatFormatAction(argparse.Action):
    """-e/-f/-g N and -lx/-lo/-lb all set the float format; the last one given wins."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        kind = self.const if self.const else values
        digits = values if self.const else None
        namespace.float_format = FloatFormat(kind, digits)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, told the terminal width the way ``shutil.get_terminal_size``
    finds it: argparse would import shutil (and with it bz2, lzma: ~2 ms of every start-up)
    for each formatter, one per option added."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            width = terminal_columns() - 2  # as argparse does
        super().__init__(prog, indent_increment, max_help_position, width)


def terminal_columns() -> int:
    """``COLUMNS`` if set, else the width of the terminal on stdout, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def make_parser(prog: str, description: str, epilog: str | None = None) -> ToolParser:
    parser = ToolParser(prog=prog, description=description, epilog=epilog,
                        formatter_class=HelpFormatter)
    parser.add_argument("-V", "--version", action="version",
                        version=f"{prog} (caprobe {__version__}), CA Protocol version 4.13")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show a traceback with errors")
    return parser


def add_ca_options(parser: argparse.ArgumentParser) -> None:
    """-w and -p (Channel Access options common to every tool)."""
    parser.add_argument("-w", dest="timeout", type=_timeout, default=None, metavar="SEC",
                        help="wait time, the CA timeout in seconds (default: EPICS_CLI_TIMEOUT "
                             f"or {DEFAULT_TIMEOUT})")
    parser.add_argument("-p", dest="priority", type=_priority, default=0, metavar="PRIO",
                        help=f"CA priority (0-{CA_PRIORITY_MAX}, default 0=lowest)")


def add_format_options(parser: argparse.ArgumentParser, *, separator: bool = True) -> None:
    """The value format options of caget/camonitor."""
    group = parser.add_argument_group("format options")
    group.add_argument("-n", dest="enum_as_number", action="store_true",
                       help="print DBF_ENUM values as numbers (default: state string)")
    group.add_argument("-S", dest="char_as_string", action="store_true",
                       help="print an array of char as a string (long string)")
    group.add_argument("-e", dest="float_format", type=_digits, action=_FloatFormatAction,
                       const="e", metavar="N", help="use %%e format with N digits")
    group.add_argument("-f", dest="float_format", type=_digits, action=_FloatFormatAction,
                       const="f", metavar="N", help="use %%f format with N digits")
    group.add_argument("-g", dest="float_format", type=_digits, action=_FloatFormatAction,
                       const="g", metavar="N", help="use %%g format with N digits")
    group.add_argument("-s", dest="float_as_string", action="store_true",
                       help="get floats as strings (honours the server-side precision)")
    group.add_argument("-l", dest="float_format", type=_base_letter, action=_FloatFormatAction,
                       metavar="x|o|b",
                       help="round floats to long and print in hex/octal/binary (-lx, -lo, -lb)")
    group.add_argument("-0", dest="int_format", type=_base_letter, default="dec",
                       metavar="x|o|b", help="print integers in hex/octal/binary (-0x, -0o, -0b)")
    if separator:
        group.add_argument("-F", dest="separator", default=" ", metavar="SEP",
                           help="output field separator (default: a space)")
    group.add_argument("--ns", "--nanoseconds", dest="nanos", action="store_true",
                       help="print timestamps with nanoseconds (9 digits)")
    parser.set_defaults(float_format=None)


def value_options(args: argparse.Namespace, *, show_count: bool | None = None) -> dict[str, Any]:
    """Keyword arguments for caprobe.format's value functions from parsed options."""
    options: dict[str, Any] = {
        "float_format": args.float_format,
        "int_format": args.int_format,
        "enum_as_number": args.enum_as_number,
        "char_as_string": args.char_as_string,
    }
    if show_count is not None:
        options["show_count"] = show_count
    return options


def resolve_timeout(args: argparse.Namespace) -> float:
    return args.timeout if args.timeout is not None else default_timeout()


def pv_message(pv_name: str, exc: BaseException) -> str:
    """One line for an exception about a PV, naming the PV once."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if pv_name in text else f"{pv_name}: {text}"


def run_tool(body: Callable[[argparse.Namespace], int], parser: argparse.ArgumentParser,
             argv: Sequence[str] | None, *, interrupted_code: int = 1) -> int:
    """Parse ``argv`` and run ``body``; usage errors and unexpected exceptions become one line
    on stderr (with the traceback after it when -v was given) and exit code 1.
    Ctrl+C exits quietly with ``interrupted_code``."""
    verbose = False
    try:
        try:
            args = parser.parse_args(None if argv is None else list(argv))
        except UsageError as exc:
            warn(str(exc))
            return 1
        except SystemExit as exc:  # -h / -V print and exit 0
            return int(exc.code or 0)
        verbose = bool(getattr(args, "verbose", False))
        return body(args)
    except KeyboardInterrupt:
        return interrupted_code
    except BrokenPipeError:
        # `caprobe-get ... | head`: the reader went away; nothing useful left to say.
        silence_stdout()
        return 1
    except Exception as exc:  # the last line of defence: never a traceback unless -v
        warn(f"{parser.prog}: {type(exc).__name__}: {exc}" if not str(exc) else
             f"{parser.prog}: {str(exc).splitlines()[0]}")
        if verbose:
            import traceback  # only on errors: not part of every start-up

            traceback.print_exc()
        return 1


def print_line(text: str) -> None:
    """stdout, flushed per line so piped output (tee, grep) is live, like caget's LINE_BUFFER."""
    _emit(sys.stdout, text)


def report(message: str, verbose: bool = False) -> None:
    """An error line on stderr; with -v also the traceback of the exception being handled."""
    warn(message)
    if verbose and sys.exc_info()[0] is not None:
        import traceback

        _emit(sys.stderr, traceback.format_exc().rstrip("\n"))


def silence_stdout() -> None:
    """After the reader of stdout went away: send the rest (and the flush at exit, which
    would raise BrokenPipeError again) to /dev/null."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def connect_timeout_text(pv_name: str) -> str:
    return f"Channel connect timed out: '{pv_name}' not found."


def read_timeout_text(pv_name: str) -> str:
    return f"Read operation timed out: '{pv_name}' data was not read."


def report_error(pv_name: str, exc: BaseException, timeout_text: str, verbose: bool) -> None:
    """One line for a PV's failure (caget's wording for timeouts); with -v the traceback.
    A ConfigurationError is raised instead: the environment is wrong for every PV."""
    if isinstance(exc, ca.ConfigurationError):
        raise exc
    warn(timeout_text if isinstance(exc, ca.CATimeoutError) else pv_message(pv_name, exc))
    if verbose:
        import traceback

        _emit(sys.stderr, "".join(traceback.format_exception(exc)).rstrip("\n"))


def attempt(pv_name: str, call: Callable[[], Any], timeout_text: str, verbose: bool) -> Any:
    """Run one CA call for one PV. A failure of that PV prints one line (caget's wording for
    timeouts) and returns None; a ConfigurationError propagates, because the environment is
    wrong for every PV and deserves one message, not one per PV."""
    try:
        return call()
    except ca.ConfigurationError:
        raise
    except ca.CATimeoutError:
        report(timeout_text, verbose)
    except ca.CAError as exc:
        report(pv_message(pv_name, exc), verbose)
    return None
