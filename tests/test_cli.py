import subprocess
import sys

import numpy as np
import pytest

from taskspace.cli import main
from taskspace.features import write_features
from taskspace.kappa import load_kappa

CLI = [sys.executable, "-m", "taskspace.cli"]


def run(*args):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True)


def mmi_top5(paper_kappa_dir):
    result = run("mmi", paper_kappa_dir / "kappa.npy", "-k", 5, "--names", paper_kappa_dir / "members.txt")
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_mmi_on_paper_kappa_prints_tsv(paper_kappa_dir):
    lines = mmi_top5(paper_kappa_dir)
    assert lines[0] == "rank\tindex\tmember\tcumulative_mi"
    assert lines[1] == "1\t17\troberta-base\t2.451899"


def test_mmi_on_paper_kappa_picks_the_papers_top5(paper_kappa_dir, paper_reference_dir):
    lines = mmi_top5(paper_kappa_dir)
    assert [line.split("\t")[2] for line in lines[1:]] == (paper_reference_dir / "mmi_top5.txt").read_text().split()


def test_mmi_hub_init_and_index_names(tmp_path):
    np.save(tmp_path / "k.npy", np.array([[1, 0.9, 0.2], [0.9, 1, 0.5], [0.2, 0.5, 1.0]]))
    result = run("mmi", tmp_path / "k.npy", "-k", 2, "--hub-init")
    assert result.returncode == 0, result.stderr
    assert [line.split("\t")[:3] for line in result.stdout.splitlines()[1:]][0] == ["1", "1", "1"]


@pytest.mark.parametrize(
    "make, args, message",
    [
        (
            lambda d: np.save(d / "k.npy", np.eye(3)),
            ["-k", "4"],
            "k = 4: must be between 1 and the number of members (3)",
        ),
        (lambda d: np.save(d / "k.npy", np.eye(3)), ["-k", "0"], "k = 0"),
        (lambda d: np.save(d / "k.npy", np.array([[1, 0.5], [0.4, 1]])), ["-k", "1"], "not symmetric"),
        (lambda d: np.save(d / "k.npy", np.array([[1, np.nan], [np.nan, 1]])), ["-k", "1"], "NaN"),
        (lambda d: None, ["-k", "1"], "kappa file not found"),
    ],
)
def test_errors_are_one_line_exit_2(tmp_path, make, args, message):
    make(tmp_path)
    result = run("mmi", tmp_path / "k.npy", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_cli_does_not_import_torch(paper_kappa_dir):
    """Start-up stays well under a second because torch (seconds to import) is never loaded."""
    code = (
        "import sys; from taskspace.cli import main; "
        f"main(['mmi', '{paper_kappa_dir / 'kappa.npy'}', '-k', '3']); "
        "print('torch' in sys.modules, file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stderr.split() == ["False"]


def test_kappa_command_over_feature_files(tmp_path):
    rng = np.random.default_rng(0)
    for name, width in [("a", 3), ("b", 5)]:
        write_features(
            tmp_path / f"{name}.h5", {"probe": (np.arange(40), rng.standard_normal((40, width)))}, {"member": name}
        )
    result = run("kappa", tmp_path / "a.h5", tmp_path / "b.h5", "-o", tmp_path / "kappa.npz")
    assert result.returncode == 0, result.stderr
    kappa = load_kappa(tmp_path / "kappa.npz")
    assert kappa.members == ["a", "b"] and kappa.n_items == 40
    follow_up = run("mmi", tmp_path / "kappa.npz", "-k", 2)
    assert follow_up.stdout.splitlines()[1].split("\t")[2] in {"a", "b"}


def score_inputs(tmp_path, n=60, d=8):
    rng = np.random.default_rng(4)
    labels = np.arange(n) % 3
    features = rng.standard_normal((n, d)) + np.eye(3)[labels] @ rng.standard_normal((3, d))
    np.save(tmp_path / "f.npy", features.astype(np.float32))
    np.save(tmp_path / "y.npy", labels)
    return features.astype(np.float32), labels


@pytest.mark.parametrize("method", ["logme", "hscore", "hscore-shrinkage", "transrate", "gbc", "sfda"])
def test_score_prints_the_float_repr(tmp_path, method):
    from taskspace.rankers import RANKERS

    features, labels = score_inputs(tmp_path)
    result = run("score", method, tmp_path / "f.npy", tmp_path / "y.npy")
    assert result.returncode == 0, result.stderr
    assert result.stdout == repr(RANKERS[method](features, labels)) + "\n"


def test_score_regression_and_source_head(tmp_path):
    from taskspace.rankers import leep, logme

    features, labels = score_inputs(tmp_path)
    target = features @ np.arange(8.0)
    np.save(tmp_path / "t.npy", target)
    result = run("score", "logme", tmp_path / "f.npy", tmp_path / "t.npy", "--regression")
    assert result.returncode == 0, result.stderr
    assert float(result.stdout) == logme(features, target, regression=True)
    probs = np.full((60, 4), 0.1)
    probs[np.arange(60), labels] = 0.7
    np.save(tmp_path / "p.npy", probs)
    assert float(run("score", "leep", tmp_path / "p.npy", tmp_path / "y.npy").stdout) == leep(probs, labels)


@pytest.mark.parametrize(
    "make, args, message",
    [
        (lambda d: np.save(d / "y.npy", np.arange(59) % 3), ["logme"], "labels: expected shape (60,)"),
        (lambda d: np.save(d / "y.npy", np.zeros(60, dtype=int)), ["hscore"], "only one class"),
        (lambda d: np.save(d / "f.npy", np.full((60, 8), np.nan)), ["gbc"], "480 values are NaN or infinite"),
        (lambda d: np.save(d / "f.npy", np.full((60, 8), np.inf)), ["logme"], "NaN or infinite"),
        (lambda d: None, ["knn"], "unknown ranker 'knn'; known rankers: gbc, hscore"),
        (lambda d: None, ["sfda", "--regression"], "needs class labels; only logme has a regression form"),
        (lambda d: np.save(d / "y.npy", np.linspace(0, 1, 60)), ["transrate"], "expected integer class labels"),
        (lambda d: (d / "y.npy").unlink(), ["logme"], "y.npy: file not found"),
        (lambda d: (d / "f.npy").write_text("not numpy"), ["logme"], "f.npy: not a NumPy .npy file"),
    ],
)
def test_score_errors_are_one_line_exit_2(tmp_path, make, args, message):
    score_inputs(tmp_path)
    make(tmp_path)
    method, *options = args
    result = run("score", method, tmp_path / "f.npy", tmp_path / "y.npy", *options)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr


def score_in_process(capsys, *args):
    code = main(["score", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "write, name, message",
    [
        (
            lambda p, x: np.savetxt(p, x, delimiter=","),
            "f.csv",
            "f.csv: not a NumPy .npy file; features must be a .npy",
        ),
        (lambda p, x: np.savez(p, x=x), "f.npz", "f.npz: a .npz archive; features must be one .npy array"),
        (lambda p, x: p.mkdir(), "d.npy", "d.npy: a folder; features must be a .npy file"),
        (lambda p, x: np.save(p, x.astype(object)), "o.npy", "o.npy: not a readable .npy array (features)"),
    ],
)
def test_score_names_a_features_file_of_another_format(tmp_path, capsys, write, name, message):
    features, _ = score_inputs(tmp_path)
    write(tmp_path / name, features)
    code, out, err = score_in_process(capsys, "logme", tmp_path / name, tmp_path / "y.npy")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith(f"taskspace: error: {tmp_path / name}: ") and message in err


def test_score_names_a_labels_file_of_another_format(tmp_path, capsys):
    _, labels = score_inputs(tmp_path)
    np.savetxt(tmp_path / "y.csv", labels)
    code, out, err = score_in_process(capsys, "gbc", tmp_path / "f.npy", tmp_path / "y.csv")
    assert (code, out) == (2, "")
    assert err == (
        f"taskspace: error: {tmp_path / 'y.csv'}: not a NumPy .npy file; labels must be a .npy array written by "
        "numpy.save (a table in a text file: numpy.save('y.npy', numpy.loadtxt('y.csv', delimiter=',')))\n"
    )


@pytest.mark.parametrize("method", ["logme", "hscore", "hscore-shrinkage", "transrate", "gbc", "sfda"])
@pytest.mark.parametrize("scale", [1e200, 1e300])
def test_score_of_huge_features_is_a_score_or_one_error_line_without_warnings(tmp_path, capsys, method, scale):
    """Finite features whose products overflow float64: the rankers read them rescaled by a power of two, so the
    scale-invariant ones print their score, GBC (whose floor does not bind) too and SFDA its exact-arithmetic
    score; LogME and TransRate, whose reference depends on the scale beyond float64's range here, end in one
    error line naming the magnitude: no LinAlgError traceback, no NaN printed with exit 0, no warning lines."""
    features, _ = score_inputs(tmp_path)
    np.save(tmp_path / "big.npy", features.astype(np.float64) * scale)
    code, out, err = score_in_process(capsys, method, tmp_path / "big.npy", tmp_path / "y.npy")
    if method in ("logme", "transrate"):
        assert (code, out) == (2, "")
        assert err.count("\n") == 1 and err.startswith(f"taskspace: error: {method} on {tmp_path / 'big.npy'} and ")
        assert "in magnitude, centred) are too large for" in err and "rescale them" in err
        return
    assert (code, err) == (0, "") and np.isfinite(float(out))
    if method != "sfda":  # SFDA's shrinkage depends on the scale
        _, unscaled, _ = score_in_process(capsys, method, tmp_path / "f.npy", tmp_path / "y.npy")
        assert float(out) == pytest.approx(float(unscaled), rel=1e-9)


def test_score_does_not_import_torch(tmp_path):
    score_inputs(tmp_path)
    code = (
        "import sys; from taskspace.cli import main; "
        f"main(['score', 'sfda', '{tmp_path / 'f.npy'}', '{tmp_path / 'y.npy'}']); "
        "print('torch' in sys.modules, 'sklearn' in sys.modules, file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stderr.split() == ["False", "False"]
