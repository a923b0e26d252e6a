"""caprobe-snapshot: save many PVs to a file, show what changed since, put them back.

    caprobe-snapshot save FILE PV... [-f LISTFILE]
    caprobe-snapshot diff FILE [OTHER] [--abs TOL] [--rel TOL]
    caprobe-snapshot restore FILE [--dry-run] [PV...]

Exit codes, as ``diff``: 0 nothing to report (saved all / no difference / all restored),
1 some (PVs not read / differences / PVs not restored), 2 trouble (bad command line,
unreadable file, PVs that could not be read for a diff). Every problem is one line naming
the PV or the file and line; no traceback unless -v.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from caprobe import ca
from caprobe.cli import common
from caprobe.snapshot import autosave, capture, files, pvlist
from caprobe.snapshot import restore as restoring
from caprobe.snapshot.capture import context_for as _context
from caprobe.snapshot.compare import DIFFERS, NOT_SAVED, UNREADABLE, compare
from caprobe.snapshot.errors import SnapshotFileError
from caprobe.snapshot.model import Tolerance

DEFAULT_TIMEOUT = 2.0
EXIT_SAME, EXIT_SOME, EXIT_TROUBLE = 0, 1, 2

DESCRIPTION = """\
Save many EPICS PVs to a file (all read at once), show which ones differ from the file
now, and restore them (put-callback on each, then read back). Names are Channel Access;
pva://NAME is PV Access (NTScalar, NTScalarArray, NTEnum), and one file may mix both."""

EPILOG = """\
FILE formats: caprobe snapshot (.snap, the default when saving), autosave (.sav, Channel
Access only: pva:// PVs are written as comments), Phoebus PV table (.pvs); diff and restore
read any of them (by content).
Exit status: 0 all well, 1 some PVs differ / were not saved or restored, 2 trouble.
Examples:
  caprobe-snapshot save before.snap -f magnets.txt
  caprobe-snapshot diff before.snap --abs 0.01
  caprobe-snapshot restore before.snap --dry-run
  caprobe-snapshot restore ioc.sav Q1:I Q2:I
See man caprobe-snapshot (docs/cli/caprobe-snapshot.rst)."""


class _Parser(common.ToolParser):
    """Usage errors exit with 2, as diff's do."""


def _tolerance_value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"'{text}' must be a finite number >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="caprobe-snapshot", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-V", "--version", action="version",
                        version=f"caprobe-snapshot (caprobe {common.__version__})")
    commands = parser.add_subparsers(dest="command", metavar="save|diff|restore",
                                     parser_class=_Parser)
    commands.required = True

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("-v", "--verbose", action="store_true",
                         help="show a traceback with errors")
        sub.add_argument("-w", dest="timeout", type=common._timeout, default=None,
                         metavar="SEC", help="timeout in seconds for all PVs together "
                         f"(default {DEFAULT_TIMEOUT:g}; restore: the file's, else this)")
        sub.add_argument("-p", dest="priority", type=common._priority, default=0,
                         metavar="PRIO", help="CA priority (0-99; no meaning for PV Access)")
        return sub

    save = command("save", "read PVs (all at once) and save them to FILE")
    save.add_argument("file", metavar="FILE", help="file to write (.snap, .sav or .pvs)")
    save.add_argument("pvs", nargs="*", metavar="PV", help="PV names")
    save.add_argument("-f", dest="lists", action="append", default=[], metavar="LISTFILE",
                      help="read PV names from LISTFILE (one per line, # comments; also a "
                           "snapshot, .sav or .pvs file); repeatable")
    save.add_argument("-c", "--comment", default="", help="comment stored in the snapshot")

    diff = command("diff", "list the PVs whose value now differs from FILE (or from OTHER)")
    diff.add_argument("file", metavar="FILE", help="snapshot, .sav or .pvs file")
    diff.add_argument("other", nargs="?", metavar="OTHER",
                      help="compare with this second file instead of the live PVs")
    diff.add_argument("--abs", type=_tolerance_value, default=None, metavar="TOL",
                      help="absolute tolerance for every PV (|now - saved| <= TOL is equal)")
    diff.add_argument("--rel", type=_tolerance_value, default=None, metavar="TOL",
                      help="relative tolerance for every PV (|now - saved| <= TOL*|saved|)")

    put_back = command("restore", "write the saved values back (put-callback, read back)")
    put_back.add_argument("file", metavar="FILE", help="snapshot, .sav or .pvs file")
    put_back.add_argument("pvs", nargs="*", metavar="PV",
                          help="restore only these PVs (default: every PV in FILE)")
    put_back.add_argument("-n", "--dry-run", action="store_true",
                          help="show what would be written (old -> new); write nothing")
    _COMMANDS.update(save=save, diff=diff, restore=put_back)
    return parser


_COMMANDS: dict[str, argparse.ArgumentParser] = {}


def _say(text: str) -> None:
    common.print_line(text)


def _complain(text: str) -> None:
    common.warn(text)


def _run_save(args: argparse.Namespace) -> int:
    names: list[str] = []
    for path in args.lists:
        names += files.load(path).names()
    for name in args.pvs:
        problem = pvlist.check_name(name)
        if problem:
            _complain(f"caprobe-snapshot: {problem}; nothing was saved")
            return EXIT_TROUBLE
        names.append(name)
    names = list(dict.fromkeys(names))
    if not names:
        _complain("caprobe-snapshot save: no PV names given (PV... or -f LISTFILE); nothing "
                  "was saved ('caprobe-snapshot save -h' for help.)")
        return EXIT_TROUBLE
    timeout = args.timeout or DEFAULT_TIMEOUT
    snapshot, live = capture.take(names, timeout=timeout, priority=args.priority,
                                  comment=args.comment)
    files.save(args.file, snapshot)
    missing = [item.pv for item in live if item.pv.value is None]
    for pv in missing:
        _complain(f"{common.pv_message(pv.name, ValueError(pv.error))} (saved without a "
                  "value)")
    commented = autosave.pva_rows(snapshot) if files.kind_for_saving(args.file) == "sav" \
        else []
    if commented:
        _complain(f"caprobe-snapshot: {len(commented)} PV Access PV(s) written to {args.file} "
                  "as comments only (autosave files are Channel Access only; save to .snap or "
                  f".pvs to keep them): {', '.join(commented[:5])}"
                  + (" ..." if len(commented) > 5 else ""))
    kept = len(names) - len(set(pv.name for pv in missing) | set(commented))
    _say(f"Saved {kept} of {len(names)} PVs to {args.file}")
    return EXIT_SOME if missing or commented else EXIT_SAME


def _run_diff(args: argparse.Namespace) -> int:
    saved = files.load(args.file)
    override = None
    if args.abs is not None or args.rel is not None:
        override = Tolerance(args.abs or 0.0, args.rel or 0.0)
        for pv in saved.pvs:
            pv.tolerance = override
    if args.other is not None:
        other = files.load(args.other)
        units = {pv.name: pv.units for pv in saved.pvs}
        units.update({pv.name: pv.units for pv in other.pvs if pv.units})
        results = compare(saved, other, override)
    else:
        with _context(timeout=args.timeout or DEFAULT_TIMEOUT,
                        priority=args.priority) as context:
            live = capture.read_live(saved.names(), context)
        units = {item.pv.name: item.pv.units for item in live}
        results = compare(saved, [item.pv for item in live], override)
    differing = unreadable = 0
    for result in results:
        if result.state in (DIFFERS, NOT_SAVED):
            differing += 1
            _say(result.line(units.get(result.name, "")))
        elif result.state == UNREADABLE:
            unreadable += 1
            _say(result.line())
    if unreadable:
        return EXIT_TROUBLE
    return EXIT_SOME if differing else EXIT_SAME


def _run_restore(args: argparse.Namespace) -> int:
    saved = files.load(args.file)
    known = set(saved.names())
    unknown = [name for name in args.pvs if name not in known]
    if unknown:
        _complain(f"caprobe-snapshot restore: not in {args.file}: {', '.join(unknown)}; "
                  "nothing was written")
        return EXIT_TROUBLE
    names = list(dict.fromkeys(args.pvs)) or [pv.name for pv in saved.pvs]
    timeout = args.timeout or saved.timeout or DEFAULT_TIMEOUT
    with _context(timeout=timeout, priority=args.priority) as context:
        items = restoring.plan(saved, context, names)
        if not args.dry_run:
            items = restoring.execute(items, context, timeout=timeout)
    failed = [item for item in items if not (item.ready if args.dry_run else item.ok)]
    for item in items:
        if args.dry_run and item.ready:
            _say(item.line())
    for item in failed:
        _complain(item.line())
    if args.dry_run:
        _say(f"Would write {len(items) - len(failed)} of {len(items)} PVs; nothing was "
             "written (--dry-run)")
    else:
        _say(f"Restored {len(items) - len(failed)} of {len(items)} PVs from {args.file}")
    return EXIT_SOME if failed else EXIT_SAME


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``caprobe-snapshot`` (and ``caprobe snapshot``)."""
    parser = build_parser()
    verbose = False
    try:
        words = list(sys.argv[1:] if argv is None else argv)
        try:
            if words and words[0] in _COMMANDS:
                # Options and PV names may be mixed (save FILE -f LIST PV...): the
                # sub-command's own parser, intermixed; argparse cannot do that across
                # sub-parsers.
                args = _COMMANDS[words[0]].parse_intermixed_args(words[1:])
                args.command = words[0]
            else:
                args = parser.parse_args(words)
        except common.UsageError as exc:
            _complain(str(exc))
            return EXIT_TROUBLE
        except SystemExit as exc:  # -h / -V
            return int(exc.code or 0)
        verbose = args.verbose
        run = {"save": _run_save, "diff": _run_diff, "restore": _run_restore}[args.command]
        return run(args)
    except SnapshotFileError as exc:
        _complain(f"caprobe-snapshot: {exc}")
    except ca.ConfigurationError as exc:
        _complain(f"caprobe-snapshot: {exc}")
    except KeyboardInterrupt:
        return EXIT_TROUBLE
    except BrokenPipeError:
        common.silence_stdout()
    except Exception as exc:  # the last line of defence: never a traceback unless -v
        _complain(f"caprobe-snapshot: {type(exc).__name__}: {exc}")
    if verbose:
        traceback.print_exc(file=sys.stderr)
    return EXIT_TROUBLE


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["main", "build_parser"]
