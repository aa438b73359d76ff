"""Command line: ``taskspace mmi``, ``taskspace kappa`` and ``taskspace score``. Keeps torch out so it starts fast."""

from __future__ import annotations

import argparse
import sys
import warnings

from .errors import TaskspaceError


def _mmi(args) -> None:
    from .kappa import load_kappa
    from .mmi import GaussianZoo

    result = load_kappa(args.kappa, names=args.names)
    zoo = GaussianZoo(result.kappa, result.members)
    selection = zoo.greedy(args.k, hub_first=args.hub_init)
    out = sys.stdout
    out.write("rank\tindex\tmember\tcumulative_mi\n")
    for rank, (index, mi) in enumerate(zip(selection.order, selection.cumulative_mi), start=1):
        out.write(f"{rank}\t{index}\t{result.members[index]}\t{mi:.6f}\n")


def _kappa_options(args) -> None:
    """Out-of-range options and an output that cannot be written end here, before any file is read."""
    import math
    from pathlib import Path

    if args.block_items < 1:
        raise TaskspaceError(f"--block-items: must be a positive number of items, got {args.block_items}")
    if args.memory_mb is not None and not (math.isfinite(args.memory_mb) and args.memory_mb > 0):
        raise TaskspaceError(f"--memory-mb: must be a positive number of MB, got {args.memory_mb:g}")
    output = Path(args.output)
    if output.is_dir():
        raise TaskspaceError(f"--output: {output} is a folder; give the kappa file's name, e.g. {output / 'kappa.npz'}")
    parent = next((p for p in output.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise TaskspaceError(f"--output: {parent} is a file, not a folder")


def _kappa(args) -> None:
    from .kappa import kappa_from_feature_files, save_kappa

    _kappa_options(args)
    result = kappa_from_feature_files(
        args.features,
        set_name=args.set,
        debiased=args.debiased,
        block_items=args.block_items,
        memory_budget_mb=args.memory_mb,
    )
    try:
        save_kappa(result, args.output)
    except OSError as error:  # e.g. no permission: atomic_path has removed its partial file
        raise TaskspaceError(f"--output: cannot write {args.output}: {error.strerror or error}") from None
    dropped = sum(result.meta["items_dropped"].values())
    print(
        f"kappa of {len(result.members)} members over {result.n_items} {args.set} items "
        f"({dropped} items dropped because some member lacked them) -> {args.output}",
        file=sys.stderr,
    )


def _score(args) -> None:
    import numpy as np

    from .npy import load_npy
    from .rankers import RANKERS, check_rankers

    check_rankers([args.method], regression=args.regression)
    features = load_npy(args.features, "features")
    labels = load_npy(args.labels, "targets" if args.regression else "labels")
    ranker = RANKERS[args.method]
    where = f"{args.method} on {args.features} and {args.labels}"
    # Overflow shows up as numpy warnings and then a LinAlgError or a NaN score: one error line instead.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            score = ranker(features, labels, regression=True) if args.regression else ranker(features, labels)
        except TaskspaceError as error:
            raise TaskspaceError(f"{where}: {error}") from None
        except np.linalg.LinAlgError as error:
            raise TaskspaceError(f"{where}: {error} ({_scale_hint(features)})") from None
    if not np.isfinite(score):
        raise TaskspaceError(f"{where}: the score is {score!r} ({_scale_hint(features)})")
    print(repr(score))


def _scale_hint(features) -> str:
    """Finite features still fail when their products overflow float64: say how large they are."""
    import numpy as np

    largest = float(np.abs(features).max())
    return f"features up to {largest:.3g} in magnitude; rescaled ones (e.g. to unit variance) stay within float64"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="taskspace", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    mmi = commands.add_parser("mmi", help="greedy MMI picks from a kappa matrix, as TSV on stdout")
    mmi.add_argument("kappa", help="a .npy matrix or a kappa file (.npz) written by taskspace")
    mmi.add_argument("-k", type=int, required=True, help="number of members to pick")
    mmi.add_argument("--names", help="member names, one per line, in kappa's row order")
    mmi.add_argument("--hub-init", action="store_true", help="start from the member with the largest row sum")
    mmi.set_defaults(run=_mmi)

    kappa = commands.add_parser(
        "kappa", help="kappa over feature files (one HDF5 per member), each read once, in the cheaper exact form"
    )
    kappa.add_argument("features", nargs="+", help="feature files, one per member")
    kappa.add_argument("-o", "--output", required=True, help="kappa file to write (.npz)")
    kappa.add_argument("--set", default="probe", help="feature set to align (default: probe)")
    kappa.add_argument("--debiased", action="store_true", help="unbiased HSIC estimator instead of the plain one")
    kappa.add_argument("--block-items", type=int, default=4096, help="items per block read (default 4096)")
    kappa.add_argument(
        "--memory-mb",
        type=float,
        default=None,
        help="memory for kappa's large arrays (feature space: the D x D cross-product matrix, 8 D^2 bytes, "
        "D = sum of widths, else one pass per pair of member groups; sample space: the members' centred "
        "features and Gram rows, else temporary files) (default: no limit)",
    )
    kappa.set_defaults(run=_kappa)

    score = commands.add_parser("score", help="one transferability score of features for labels (taskspace.rankers)")
    score.add_argument("method", help="ranker: logme, hscore, hscore-shrinkage, transrate, gbc, sfda, nce, leep")
    score.add_argument(
        "features", help="(n, d) float array (.npy); for nce and leep the source head's (n, C) probabilities"
    )
    score.add_argument("labels", help="(n,) integer class labels (.npy), or real-valued targets with --regression")
    score.add_argument("--regression", action="store_true", help="real-valued targets (logme only)")
    score.set_defaults(run=_score)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *rest: print(f"taskspace: warning: {message}", file=sys.stderr)
        try:
            args.run(args)
        except TaskspaceError as error:
            print(f"taskspace: error: {error}", file=sys.stderr)
            return 2
        except BrokenPipeError:
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
