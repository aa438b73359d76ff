"""What every Snakemake script shares: logging to the rule's log file and one-line errors."""

from __future__ import annotations

import logging
import sys
import time
import warnings

from .errors import TaskspaceError


def run(main, snakemake) -> None:
    """Call ``main(snakemake)`` with logging set up; a TaskspaceError ends the job with its one line."""
    handlers = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    logging.basicConfig(
        level=logging.INFO, handlers=handlers, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    warnings.simplefilter("default")
    log = logging.getLogger(f"taskspace.{snakemake.rule}")

    def show_warning(message, category, filename, lineno, file=None, line=None):
        # One line in the job's log, like errors (not the temporary script's path and source line).
        log.warning("%s: %s", category.__name__, " ".join(str(message).split()))

    warnings.showwarning = show_warning
    what = ", ".join(f"{key}={value}" for key, value in snakemake.wildcards.items())
    log.info("start %s%s", snakemake.rule, f" ({what})" if what else "")
    started = time.perf_counter()
    try:
        main(snakemake)
    except TaskspaceError as error:
        log.error("%s", error)
        sys.exit(1)
    log.info("done %s in %.1f s", snakemake.rule, time.perf_counter() - started)
