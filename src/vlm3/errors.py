"""One exit path for every stage CLI (`python -m vlm3.<stage>`): bad input and faults end with one
line on stderr, `<stage>: error: <what>` naming the file (and row or line) and the problem, and exit
status 1; no traceback unless `--debug` is given (or VLM3_DEBUG=1), which re-raises.

Stages raise ValueError with such a message for bad input. OSErrors (a missing or unreadable file,
a full disk) are described by their file name and cause. Anything else is a bug: it still gets one
line, marked as unexpected, with the hint to rerun with --debug.
"""

from __future__ import annotations

import errno
import os
import sys
import urllib.error
from collections.abc import Callable


def describe(e: BaseException) -> str:
    """A one-line description of `e` for the user."""
    if isinstance(e, urllib.error.URLError):
        # never its `filename`: for an HTTPError that is the URL, which may hold a filled credential
        text = f"download failed: {e}"
    elif isinstance(e, OSError) and not isinstance(e, ValueError):
        where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
        cause = e.strerror or str(e)
        if e.errno == errno.ENOSPC:
            cause = "no space left on device (the partial output was removed)"
        text = f"{where}: {cause}" if where else cause
    elif isinstance(e, ValueError):
        text = str(e)
    else:
        text = f"unexpected {type(e).__name__}: {e} (a bug; rerun with --debug for the traceback)"
    return " ".join(text.split()) or type(e).__name__


def _close_progress_bars() -> None:
    """End the progress bars the error interrupted, so the error starts on its own line."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ()) or ()):
        bar.close()
    sys.stderr.flush()


def run_stage(main: Callable[[list[str]], object], stage: str, argv: list[str] | None = None) -> None:
    """Run `main(argv)` as the CLI of `stage` (e.g. "vlm3.resize"): exit 1 with one line on error."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("VLM3_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    try:
        rc = main(argv)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # the one place that turns errors into a message
        if debug:
            raise
        _close_progress_bars()
        print(f"{stage}: error: {describe(e)}", file=sys.stderr)
        raise SystemExit(1) from None
    if isinstance(rc, int) and rc:
        raise SystemExit(rc)
