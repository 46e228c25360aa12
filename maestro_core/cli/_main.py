"""The ``maestro`` command: argument parsing, logging, and exit statuses."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ..exceptions import MaestroError, PluginLoadError
from . import _commands as commands
from ._commands import EXIT_FAILURE, EXIT_USAGE, CommandError, Context
from ._config import CONFIG_ENV_VAR, DEFAULT_CONFIG_NAME, ConfigFileError
from ._output import Writer
from ._redact import Redactor

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)

EXIT_INTERRUPTED = 130

_DESCRIPTION = """\
Keep databases of different kinds in sync, in both directions.

The configuration file is --config FILE, else $MAESTRO_CONFIG, else
./maestro.toml. Exit status: 0 done; 1 a session failed or the command could
not do its work; 2 a usage or configuration mistake; 3 the sync lock is held
by another orchestrator.
"""


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``maestro`` command and its subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help=f"the configuration file (default: ${CONFIG_ENV_VAR}, else "
        f"./{DEFAULT_CONFIG_NAME})",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one machine-readable JSON document instead of text",
    )
    common.add_argument(
        "--verbose",
        "-v",
        action="count",
        default=argparse.SUPPRESS,
        help="log INFO (-v) or DEBUG (-vv) messages to standard error",
    )

    parser = argparse.ArgumentParser(
        prog="maestro",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    backends = sub.add_parser(
        "backends",
        parents=[common],
        help="list the installed backends and the distributions providing them",
    )
    backends.set_defaults(run=commands.backends)

    sync = sub.add_parser(
        "sync",
        parents=[common],
        help="sync every provider with the initial one, both ways",
        description="Run one full round of sync sessions from the initial "
        "provider ([sync] initial_provider, else the first provider).",
    )
    sync.add_argument(
        "--from",
        dest="source",
        metavar="PROVIDER",
        help="the provider to start from, instead of the configured one",
    )
    sync.set_defaults(run=commands.sync)

    status = sub.add_parser(
        "status",
        parents=[common],
        help="changes waiting between each pair of providers, deferred changes, "
        "unresolved conflicts, and the last sessions",
    )
    status.set_defaults(run=commands.status)

    conflicts = sub.add_parser(
        "conflicts",
        parents=[common],
        help="list the conflicts and deferred changes the providers recorded",
    )
    conflicts.add_argument(
        "--status",
        choices=["deferred", "resolved"],
        help="only conflicts that wait for a decision, or only settled ones",
    )
    conflicts.set_defaults(run=commands.conflicts)

    resolve = sub.add_parser(
        "resolve",
        parents=[common],
        help="settle a deferred conflict by choosing the change that wins",
        description="Settle a DEFERRED conflict (as the manual policy leaves "
        "them): the winning change's item is recorded as a new change on the "
        "provider that holds the conflict, and the next sync carries it to the "
        "others. Ids may be shortened to a unique prefix.",
    )
    resolve.add_argument("conflict_id", metavar="CONFLICT_ID")
    resolve.add_argument(
        "--winner", required=True, metavar="CHANGE_ID", help="the change that wins"
    )
    resolve.set_defaults(run=commands.resolve)
    return parser


@contextmanager
def _logging_to(err: Writer, verbosity: int) -> Iterator[None]:
    """Send log records to *err* for the command's duration.

    Without ``-v`` only CRITICAL records show: the command reports failures
    itself. The handler is removed and the root level restored afterwards,
    so calling :func:`main` in-process leaves logging as it found it.
    """
    level = {0: logging.CRITICAL, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(err)  # type: ignore[arg-type]
    handler.setLevel(level)
    handler.setFormatter(
        logging.Formatter("maestro: %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    previous = root.level
    if level < root.getEffectiveLevel():
        root.setLevel(level)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``maestro`` command with *argv* (default: ``sys.argv[1:]``).

    Returns the exit status: 0 done, 1 a session failed or the command could
    not do its work, 2 a usage or configuration mistake, 3 the sync lock is
    held elsewhere, 130 interrupted. Never raises for a mistake in the input.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse has printed usage or help
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    args.json = getattr(args, "json", False)
    redactor = Redactor()
    ctx = Context(
        out=Writer(sys.stdout, redactor),
        err=Writer(sys.stderr, redactor),
        redactor=redactor,
        config_path=getattr(args, "config", None),
    )
    with redactor.logging_records(), _logging_to(ctx.err, getattr(args, "verbose", 0)):
        return _run(args, ctx)


def _run(args: argparse.Namespace, ctx: Context) -> int:
    try:
        return int(args.run(args, ctx))
    except ConfigFileError as e:
        ctx.err.line(f"maestro: {e}")
        return EXIT_USAGE
    except CommandError as e:
        ctx.err.line(f"maestro: {e}")
        return e.exit_status
    except PluginLoadError as e:
        ctx.err.line(f"maestro: {e}")
        return EXIT_FAILURE
    except MaestroError as e:
        ctx.err.line(f"maestro: {e}")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        ctx.err.line("maestro: interrupted")
        return EXIT_INTERRUPTED
    except Exception as e:
        logger.debug("unexpected error", exc_info=True)
        ctx.err.line(
            f"maestro: unexpected error: {type(e).__name__}: {e} "
            "(run with -vv to log the traceback)"
        )
        return EXIT_FAILURE
