"""The ``offrl`` command: dispatches ``offrl <command> ...`` to the module that owns the command.

Each command's module exposes ``main(argv: list[str]) -> int`` and parses its own arguments with
tyro, so packages stay independent and ``offrl --help`` imports nothing heavy. The modules named in
``$OFFRL_PLUGINS`` (:mod:`offrl.plugins`) are imported before the command's, so that names they
register are known to every command. An option given twice is refused for every command
(:func:`repeated_option`) before the command's module sees it.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import warnings
from collections.abc import Sequence

from offrl.errors import EXIT_INTERRUPTED, OffrlError, suggest
from offrl.plugins import load_plugins
from offrl.process import exit_now, leave_running, left_running, raised_in_xla_compile

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "quickstart": ("offrl.quickstart", "collect a small hopper dataset, train, evaluate, plot (no download)"),
    "datasets": ("offrl.datasets.cli", "list | info | download | verify | convert datasets"),
    "online": ("offrl.online", "train SAC behaviour policies online (many tasks x seeds, one GPU)"),
    "collect": ("offrl.collection", "regenerate a local/<env>-<level>-v0 dataset from shipped policies"),
    "train": ("offrl.train", "train an algorithm for N seeds on one dataset"),
    "eval": ("offrl.evaluation.cli", "evaluate a checkpoint by the standard protocol"),
    "continual": ("offrl.continual.cli", "continual offline RL: list streams/methods, collect a stream, train through it"),
    "sweep": ("offrl.sweep", "run | plan | export-wandb a sweep file (grid/random search; local, --parallel or Ray)"),
    "report": ("offrl.report", "markdown table + PNG plots from results/ folders"),
    "reproduce": ("offrl.reproduce", "train a published table's rows, compare side by side, a verdict per row"),
    "uav": ("offrl.envs.uav.cli", "UAV offloading env: baselines, datasets, plots"),
}


def _usage() -> str:
    lines = ["usage: offrl <command> [options]   (offrl <command> --help for details)", "", "commands:"]
    lines += [f"  {name:<11} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def note_single_seed(seeds: Sequence[int], flag: str = "--seeds") -> None:
    """Say on stderr which seed runs when ``seeds`` names one seed above 0: ``--seeds`` lists the seeds
    themselves in every command, so ``--seeds 4`` is seed 4 alone, not four seeds."""
    if len(seeds) == 1 and seeds[0] > 0:
        n = seeds[0]
        example = " ".join(map(str, range(n))) if n <= 8 else f"0 1 ... {n - 1}"
        print(f"note: {flag} lists the seeds to run: this runs seed {n} only (for {n} seeds: {flag} {example})",
              file=sys.stderr)


def progress_bars_shown() -> bool:
    """Whether a command that draws progress bars by default shows them: only on a terminal, where a finished
    bar is erased. Elsewhere (a log file, a pipe, a captured stream) its redraws and the blanks that erase it
    stay in the text as stray lines among the results."""
    return sys.stderr.isatty()


def progress_bar_drawn(progress: bool | None) -> bool:
    """Whether a command with a ``progress`` option of three values draws its bar: as asked where it is set
    (True: anywhere, e.g. to watch it through ``2>&1 | tee LOG``; False: nowhere), else (None, the default)
    as the commands without that option do (:func:`progress_bars_shown`): only on a terminal."""
    return progress_bars_shown() if progress is None else bool(progress)


def repeated_option(argv: Sequence[str]) -> str | None:
    """The first ``--option`` that ``argv`` gives twice (``--hp a=1 ... --hp b=2``, ``--seeds 0 --seeds=1``,
    ``--progress ... --no-progress``), else None. Tokens after a bare ``--`` are values, not options.

    tyro keeps only the last occurrence of an option, so ``--hp hidden=32,32 --batch-size 64 --hp
    batch_size=128`` would silently train without ``hidden=32,32``. Every command refuses a repeat, of a list
    option or a single value alike (the dispatcher cannot tell them apart, and an earlier value dropped without
    a word is the same mistake either way), as sweep files refuse a key given twice and ``--hp`` a name."""
    names = []
    for token in argv:
        if token == "--":
            break
        if token.startswith("--") and token != "--help":
            names.append(token[2:].partition("=")[0].replace("_", "-"))  # tyro reads --a_b as --a-b
    given = set(names)
    seen: set[str] = set()
    for name in names:
        if name.startswith("no-") and name[3:] in given:  # --x and --no-x set one field
            name = name[3:]
        if name in seen:
            return f"--{name}"
        seen.add(name)
    return None


def _silence_stdout() -> None:
    """After the reader of stdout went away (``offrl ... | head``): point stdout at /dev/null so that
    the interpreter's final flush does not raise the same error again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (e.g. captured in tests)
        pass


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_LIBRARY_PREFIX = re.compile(r"^(WARN|WARNING): ")  # gymnasium's logger puts it before its own warnings


def warning_line(message: Warning | str, prog: str = "offrl") -> str:
    """A warning as the ``offrl`` program shows it: ``PROG: warning: <message>`` (``offrl train: warning:
    ...``, as its errors read ``offrl train: error: ...``), on one line, without the terminal colours and
    ``WARN:`` prefix that gymnasium adds to its own."""
    text = _ANSI_ESCAPE.sub("", str(message))
    text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return f"{prog}: warning: {_LIBRARY_PREFIX.sub('', text)}"


def show_warnings_as_lines(prog: str = "offrl") -> None:
    """Show every warning that the filters let through as one line (:func:`warning_line`), each line
    once, instead of Python's ``path:line: Category: message`` and the source line under it. Which
    warnings show is still up to the filters (``-W``, ``PYTHONWARNINGS``); only their form changes.
    The same line comes once, though a warning's own filter may let it through again: gymnasium's
    "once" forgets what it showed whenever a filter changes, and an env is made more than once
    (checked against the data, then evaluated)."""
    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = warning_line(message, prog)
        if text in shown:
            return
        shown.add(text)
        stream = sys.stderr if file is None else file
        try:
            stream.write(text + "\n")
        except (OSError, ValueError):  # stderr closed or gone: a warning must not end the command
            pass

    warnings.showwarning = show


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``offrl`` console script.

    Output piped into a reader that stops early (``offrl datasets list | head -3``) ends the command
    quietly with status 141, as it would end any Unix tool, instead of with a traceback. As the
    ``offrl`` program (``argv`` None), warnings show as one line each (:func:`show_warnings_as_lines`)."""
    if argv is None:
        # only as the program: a caller of main() from Python (a test recording warnings) keeps its own way
        command = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] in COMMANDS else None
        show_warnings_as_lines("offrl" + (f" {command}" if command else ""))
    try:
        try:
            code = _dispatch(argv)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit where it cannot be caught
    except BrokenPipeError:
        _silence_stdout()
        return 141  # 128 + SIGPIPE: what a shell reports for a command whose reader went away
    if argv is None and left_running():
        # interrupted while a compilation or an evaluation ran in a thread of its own: the interpreter's exit
        # crashed under it (offrl.process); the run's own cleanup is done by now. Only as the `offrl`
        # program: a caller of main() from Python keeps its interpreter.
        exit_now(code)
    return code


def _dispatch(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        hint = suggest(cmd, COMMANDS)
        print(f"offrl: unknown command {cmd!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""), file=sys.stderr)
        print(_usage(), file=sys.stderr)
        return 2
    if (twice := repeated_option(rest)) is not None:
        # one line, as the commands' own errors: the later occurrence would have replaced the earlier unseen
        print(f"offrl {cmd}: error: {twice} given twice: give it once, with all its values after one {twice}",
              file=sys.stderr)
        return 2
    try:
        # before the command's module: a command resolves algorithm, method and kind names as it parses
        load_plugins()
        module = importlib.import_module(COMMANDS[cmd][0])
        return int(module.main(rest) or 0)
    except OffrlError as e:
        print(f"offrl {cmd}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print(f"offrl {cmd}: interrupted", file=sys.stderr)
        if raised_in_xla_compile(e):
            leave_running("an XLA compilation")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
