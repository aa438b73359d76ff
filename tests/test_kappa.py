import numpy as np
import pytest
from scipy.stats import ortho_group

from taskspace.errors import TaskspaceError
from taskspace.features import FeatureFile, write_features
from taskspace.kappa import (
    AlignmentAccumulator,
    kappa_from_feature_files,
    linear_cka,
    load_kappa,
    member_groups,
    save_kappa,
)


def pairwise_kappa(features):
    """The definition, pair by pair."""

    def alignment(a, b):
        a = a - a.mean(0)
        b = b - b.mean(0)
        return np.linalg.norm(a.T @ b) ** 2 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))

    return np.array([[alignment(a, b) for b in features] for a in features])


def unbiased_hsic_kappa(features):
    """Song et al.'s unbiased HSIC in the n x n kernel domain, then normalised."""

    def hsic(k, m):
        n = len(k)
        k, m = k.copy(), m.copy()
        np.fill_diagonal(k, 0)
        np.fill_diagonal(m, 0)
        one = np.ones(n)
        return (
            np.trace(k @ m) + (one @ k @ one) * (one @ m @ one) / ((n - 1) * (n - 2)) - 2 / (n - 2) * one @ k @ m @ one
        ) / (n * (n - 3))

    grams = [x @ x.T for x in features]
    return np.array([[hsic(a, b) / np.sqrt(hsic(a, a) * hsic(b, b)) for b in grams] for a in grams])


def members(seed=0, n=257, widths=(6, 11, 3, 8)):
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n, 4))
    # large offsets check that one-pass centring does not cancel catastrophically
    return [
        shared @ rng.standard_normal((4, d)) + rng.uniform(0.3, 2) * rng.standard_normal((n, d)) + 100.0 for d in widths
    ]


@pytest.mark.parametrize("block_items", [1 << 20, 50, 7])
def test_one_pass_equals_pairwise_formula(block_items):
    features = members()
    np.testing.assert_allclose(linear_cka(features, block_items=block_items), pairwise_kappa(features), atol=1e-10)


def test_debiased_equals_kernel_domain_estimator():
    features = members(seed=1, n=120)
    np.testing.assert_allclose(
        linear_cka(features, debiased=True, block_items=33), unbiased_hsic_kappa(features), atol=1e-10
    )


@pytest.mark.parametrize("debiased", [False, True])
def test_properties_and_invariances(debiased):
    features = members(seed=2)
    kappa = linear_cka(features, debiased=debiased)
    np.testing.assert_array_equal(np.diag(kappa), 1.0)
    np.testing.assert_array_equal(kappa, kappa.T)
    if not debiased:  # the debiased estimator need not be PSD on finite samples
        assert np.linalg.eigvalsh(kappa).min() > -1e-12
    rotation = ortho_group.rvs(features[1].shape[1], random_state=3)
    transformed = list(features)
    transformed[1] = 7.5 * features[1] @ rotation
    np.testing.assert_allclose(linear_cka(transformed, debiased=debiased), kappa, atol=1e-10)


def test_different_widths_and_identical_members():
    features = members(seed=4, widths=(5, 5))
    kappa = linear_cka([features[0], features[0].copy(), features[1]])
    assert kappa[0, 1] == pytest.approx(1.0, abs=1e-12)


def test_zero_variance_member_is_named():
    features = members(seed=5, widths=(3, 4))
    features[1][:] = 2.0
    accumulator = AlignmentAccumulator([3, 4], names=["good", "flat"])
    accumulator.add(features)
    with pytest.raises(TaskspaceError, match="member 'flat': zero-variance"):
        accumulator.kappa()


def test_feature_files_drop_items_some_member_lacks(tmp_path):
    features = [x.astype(np.float32).astype(np.float64) for x in members(seed=6, n=90, widths=(4, 6, 5))]
    keys = np.stack([np.arange(90) // 10, np.arange(90) % 10], axis=1)  # (sentence, word)
    keep = [np.ones(90, bool), np.arange(90) % 10 < 8, np.arange(90) % 10 != 3]  # words cut off, lost
    paths = []
    for i, (x, mask) in enumerate(zip(features, keep)):
        paths.append(tmp_path / f"m{i}.h5")
        write_features(paths[-1], {"probe": (keys[mask], x[mask])}, {"member": f"m{i}"})
    result = kappa_from_feature_files(paths, block_items=16)
    common = keep[0] & keep[1] & keep[2]
    assert result.n_items == common.sum() == 63
    assert result.members == ["m0", "m1", "m2"]
    assert result.meta["items_dropped"] == {"m0": 27, "m1": 9, "m2": 18}
    # per member, the items it lacks (m1: words 8 and 9 of each sentence, m2: word 3), 27 left out in all
    assert result.dropped.tolist() == [0, 18, 9] and result.n_items_dropped == 27
    np.testing.assert_allclose(result.kappa, pairwise_kappa([x[common] for x in features]), atol=1e-10)
    save_kappa(result, tmp_path / "kappa.npz")
    again = load_kappa(tmp_path / "kappa.npz")
    assert again.members == result.members and again.n_items == 63
    assert again.dropped.tolist() == [0, 18, 9] and again.n_items_dropped == 27
    np.testing.assert_array_equal(again.kappa, result.kappa)


def test_dropped_counts_only_items_some_member_has(tmp_path):
    """An item every member lacks (a word no tokenizer kept) was never in kappa: not counted as dropped."""
    from taskspace.kappa import items_lacking

    features = members(seed=7, n=40, widths=(3, 4))
    keys = np.stack([np.arange(40) // 8, np.arange(40) % 8], axis=1)
    keep = [np.arange(40) != 5, (np.arange(40) != 5) & (np.arange(40) % 8 != 7)]
    paths = []
    for i, (x, mask) in enumerate(zip(features, keep)):
        paths.append(tmp_path / f"m{i}.h5")
        write_features(paths[-1], {"probe": (keys[mask], x[mask].astype(np.float32))}, {"member": f"m{i}"})
    result = kappa_from_feature_files(paths)
    assert result.dropped.tolist() == [0, 5] and result.n_items_dropped == 5 and result.n_items == 34
    with FeatureFile(paths[0]) as a, FeatureFile(paths[1]) as b:
        lacking, n_union = items_lacking([a, b])
    assert lacking.tolist() == [0, 5] and n_union == 39
    bare = tmp_path / "bare.npz"  # a kappa file of an earlier version: no counts
    np.savez(bare, kappa=result.kappa, members=np.array(result.members), n_items=34, debiased=False)
    assert load_kappa(bare).dropped is None


@pytest.mark.parametrize("debiased", [False, True])
def test_over_the_memory_budget_passes_over_groups_give_the_same_kappa(tmp_path, debiased):
    widths = (6, 11, 3, 8, 5, 9, 4)
    features = [x.astype(np.float32).astype(np.float64) for x in members(seed=8, n=120, widths=widths)]
    keys = np.stack([np.arange(120) // 12, np.arange(120) % 12], axis=1)
    keep = np.arange(120) % 12 != 5  # one member lost some words: dropped for all, in every pass
    paths = []
    for i, x in enumerate(features):
        mask = keep if i == 3 else np.ones(120, bool)
        paths.append(tmp_path / f"m{i}.h5")
        write_features(paths[-1], {"probe": (keys[mask], x[mask])}, {"member": f"m{i}"})
    one_pass = kappa_from_feature_files(paths, debiased=debiased, block_items=32)
    budget_mb = 8 * 24**2 / 2**20  # room for two groups of width <= 12: six groups, fifteen passes
    assert member_groups(widths, budget_mb) == [[0], [1], [2, 3], [4], [5], [6]]
    grouped = kappa_from_feature_files(paths, debiased=debiased, block_items=32, memory_budget_mb=budget_mb)
    assert grouped.n_items == one_pass.n_items == 110
    np.testing.assert_allclose(grouped.kappa, one_pass.kappa, atol=1e-12)
    np.testing.assert_allclose(
        one_pass.kappa, (unbiased_hsic_kappa if debiased else pairwise_kappa)([x[keep] for x in features]), atol=1e-10
    )


def test_member_groups_fit_the_budget_in_pairs():
    widths = [768] * 10 + [1024] * 24
    assert member_groups(widths, None) == [list(range(34))]
    assert member_groups(widths, 8 * sum(widths) ** 2 / 2**20) == [list(range(34))]
    budget_mb = 2048
    groups = member_groups(widths, budget_mb)
    assert sorted(m for g in groups for m in g) == list(range(34)) and len(groups) > 1
    group_widths = [sum(widths[m] for m in g) for g in groups]
    assert 8 * (sorted(group_widths)[-1] + sorted(group_widths)[-2]) ** 2 <= budget_mb * 2**20
    assert member_groups([5000, 10, 10], 8 * 5010**2 / 2**20) == [[0], [1, 2]]  # too wide to share: alone


def test_nan_features_name_member_and_count(tmp_path):
    features = members(seed=7, n=30, widths=(3, 3))
    features[1][[2, 5], 1] = np.nan
    for i, x in enumerate(features):
        write_features(tmp_path / f"m{i}.h5", {"probe": (np.arange(30), x)}, {"member": ["ok", "broken"][i]})
    with pytest.raises(TaskspaceError, match="member 'broken': 2 NaN or infinite"):
        kappa_from_feature_files([tmp_path / "m0.h5", tmp_path / "m1.h5"])


def test_load_kappa_names_count_mismatch(tmp_path):
    np.save(tmp_path / "k.npy", np.eye(3))
    (tmp_path / "names.txt").write_text("a\nb\n")
    with pytest.raises(TaskspaceError, match="names.txt: 2 member names for the 3 x 3 kappa"):
        load_kappa(tmp_path / "k.npy", names=tmp_path / "names.txt")


def test_gaussian_kl_zero_for_equal_and_positive_otherwise():
    from taskspace.kappa import gaussian_kl

    features = members(seed=8)
    kappa = linear_cka(features)
    assert gaussian_kl(kappa, kappa) == pytest.approx(0.0, abs=1e-12)
    assert gaussian_kl(kappa, np.eye(len(kappa))) == pytest.approx(-0.5 * np.linalg.slogdet(kappa)[1])


def test_convergence_snapshots_equal_kappa_of_first_sentences(tmp_path):
    from taskspace.kappa import kappa_convergence

    features = [x.astype(np.float32).astype(np.float64) for x in members(seed=9, n=120, widths=(4, 6, 5))]
    keys = np.stack([np.arange(120) // 6, np.arange(120) % 6], axis=1)  # 20 sentences of 6 words
    paths = []
    for i, x in enumerate(features):
        paths.append(tmp_path / f"m{i}.h5")
        write_features(paths[-1], {"probe": (keys, x)}, {"member": f"m{i}"})
    full, table = kappa_convergence(paths, [5, 10, 20], block_items=7)
    np.testing.assert_allclose(full, pairwise_kappa(features), atol=1e-10)
    assert table.sentences.tolist() == [5, 10, 20] and table.words.tolist() == [30, 60, 120]
    first_ten = pairwise_kappa([x[:60] for x in features])
    from taskspace.kappa import gaussian_kl

    assert table.kl.iloc[1] == pytest.approx(gaussian_kl(full, first_ten), abs=1e-9)
    assert table.kl.iloc[2] == pytest.approx(0.0, abs=1e-9) and table.correlation.iloc[2] == pytest.approx(1.0)


def test_gaussian_kl_is_the_papers_formula():
    """KL(S0 || S1) as LMs/estimate_kappa/diff_two_gaussians.py computes it, on a small example."""
    from numpy.linalg import inv, slogdet

    from taskspace.kappa import gaussian_kl

    s0 = np.array([[1.0, 0.6, 0.2], [0.6, 1.0, 0.5], [0.2, 0.5, 1.0]])  # kappa*
    s1 = np.array([[1.0, 0.3, 0.1], [0.3, 1.0, 0.4], [0.1, 0.4, 1.0]])  # kappa_n
    paper = 0.5 * (np.trace(inv(s1).dot(s0)) - 3 + slogdet(s1)[1] - slogdet(s0)[1])
    assert gaussian_kl(s0, s1) == pytest.approx(paper, rel=1e-12)
    assert gaussian_kl(s0, s1) != pytest.approx(gaussian_kl(s1, s0))  # the order matters: kappa* first
    # diagonal covariances: the sum of the one-dimensional KLs, 0.5 (a/b - 1 + ln(b/a))
    a, b = np.array([1.0, 2.0, 0.5]), np.array([2.0, 1.0, 0.5])
    assert gaussian_kl(np.diag(a), np.diag(b)) == pytest.approx(0.5 * np.sum(a / b - 1 + np.log(b / a)))
    # the paper's isotropic baseline: S1 = identity
    assert gaussian_kl(s0, np.eye(3)) == pytest.approx(0.5 * (np.trace(s0) - 3 - slogdet(s0)[1]))
    singular = np.ones((3, 3))  # the paper asserts positive definiteness; here: inf, or NaN for kappa*
    assert gaussian_kl(s0, singular) == np.inf and np.isnan(gaussian_kl(singular, s0))


def test_convergence_words_are_the_probe_texts_first_lines(tmp_path):
    """Fig. 2's x: the words on the first n lines of the probe text (LMs/estimate_kappa/convergence.py),
    also where a member kept fewer items (truncated words), and the whole text's words for kappa*."""
    from taskspace.kappa import gaussian_kl, kappa_convergence

    lengths = [4, 7, 5, 9, 6, 8, 3, 10]
    (tmp_path / "probe.txt").write_text("".join(" ".join(["w"] * n) + "\n" for n in lengths))
    kept = [min(n, 6) for n in lengths]  # every member truncated its sentences at 6 words
    keys = np.array([(s, w) for s, n in enumerate(kept) for w in range(n)])
    features = members(seed=10, n=len(keys), widths=(3, 4, 5))
    paths = []
    for i, x in enumerate(features):
        paths.append(tmp_path / f"m{i}.h5")
        write_features(paths[-1], {"probe": (keys, x.astype(np.float32))}, {"member": f"m{i}"})
    full, table = kappa_convergence(paths, [2, 5], text=tmp_path / "probe.txt")
    assert table.sentences.tolist() == [2, 5]
    assert table.words.tolist() == [11, 31] and table.items_used.tolist() == [10, 27]
    assert table.probe_words.tolist() == [52, 52]
    assert table.identity_kl.iloc[0] == pytest.approx(gaussian_kl(full, np.eye(3)))
    assert list(table.columns) == [
        "sentences",
        "words",
        "items_used",
        "kl",
        "correlation",
        "identity_kl",
        "probe_words",
    ]
    _, without_text = kappa_convergence(paths, [2, 5])  # without the text: the first member's items
    assert without_text.words.tolist() == [10, 27] and without_text.probe_words.tolist() == [42, 42]


# --- the two exact forms, member sketches and the combine (issue 18) -----------------------------------------


def centred(features):
    return [x - x.mean(0) for x in features]


def write_members(folder, features, keep=None, keys=None, provenance=None):
    """One feature file per member (float32, as extraction writes them); ``keep[i]``: the items member i has."""
    n = len(features[0])
    keys = np.arange(n) if keys is None else keys
    paths = []
    for i, x in enumerate(features):
        mask = np.ones(n, bool) if keep is None else keep[i]
        paths.append(folder / f"m{i}.h5")
        write_features(paths[-1], {"probe": (keys[mask], x[mask])}, {"member": f"m{i}", **(provenance or {})})
    return paths


# vision-like: few items against wide members (sample space is cheaper); LM-like: many items, narrow members
SHAPES = {"vision-like": (24, (40, 64, 31, 50)), "lm-like": (180, (6, 11, 3, 8))}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("debiased", [False, True])
def test_both_forms_give_the_same_kappa(tmp_path, shape, debiased):
    """Feature and sample space, numpy and torch's code path (on the CPU), with and without a tiny memory budget
    (grouped passes; temporary files and one Gram row at a time), members of different widths, dropped items."""
    n, widths = SHAPES[shape]
    features = [x.astype(np.float32).astype(np.float64) for x in members(seed=11, n=n, widths=widths)]
    keys = np.stack([np.arange(n) // 6, np.arange(n) % 6], axis=1)  # (sentence, word)
    keep = [np.ones(n, bool), np.arange(n) % 6 != 5, np.ones(n, bool), np.arange(n) != 4]
    paths = write_members(tmp_path, features, keep, keys)
    common = np.logical_and.reduce(keep)
    reference = (unbiased_hsic_kappa if debiased else pairwise_kappa)(centred([x[common] for x in features]))
    results = {}
    for form in ("feature", "sample"):
        for device in ("cpu", "torch-cpu"):
            for budget in (None, 1e-3):
                result = kappa_from_feature_files(
                    paths, debiased=debiased, form=form, device=device, memory_budget_mb=budget, block_items=5
                )
                assert result.n_items == common.sum() and result.meta["form"] == form
                results[form, device, budget] = result.kappa
    first = results["feature", "cpu", None]
    np.testing.assert_allclose(first, reference, atol=1e-10)
    for key, kappa in results.items():
        np.testing.assert_allclose(kappa, first, atol=1e-12, rtol=0, err_msg=str(key))


@pytest.mark.parametrize("debiased", [False, True])
def test_in_memory_kappa_takes_the_cheaper_form_too(debiased):
    """linear_cka (task-aware MMI's kappa over a task's few items and every member) in both forms."""
    features = members(seed=17, n=30, widths=(50, 64, 3, 40))
    sample = linear_cka(features, debiased=debiased, block_items=7)  # n = 30 against D = 157: sample space
    np.testing.assert_allclose(sample, linear_cka(features, debiased=debiased, form="feature"), atol=1e-12, rtol=0)
    reference = (unbiased_hsic_kappa if debiased else pairwise_kappa)(centred(features))
    np.testing.assert_allclose(sample, reference, atol=1e-10)


def test_the_cheaper_form_is_chosen_and_logged(tmp_path, caplog):
    from taskspace.kappa import choose_form

    vision = choose_form(1000, [2048] * 30, memory_budget_mb=9600)  # issue 18's shapes
    assert vision.form == "sample" and vision.sample_macs == 1000**2 * 61440 / 2 + 30**2 * 1000**2 / 4
    assert vision.groups == 4 and vision.feature_macs > 1000 * 61440**2 / 2  # over the budget: grouped passes
    lm = choose_form(12000, [768] * 8, memory_budget_mb=9600)
    assert lm.form == "feature" and lm.feature_macs == 12000 * 6144**2 / 2 and lm.groups == 1
    assert choose_form(12000, [768] * 8, grams=[True] + [False] * 7).form == "sample"  # a Gram made already
    assert choose_form(12000, [768] * 8, form="sample").reason == "as asked"
    with pytest.raises(TaskspaceError, match="kappa form: 'both' is not one of feature, sample"):
        choose_form(10, [3], form="both")
    features = members(seed=12, n=20, widths=(30, 40, 35))
    with caplog.at_level("INFO", logger="taskspace.kappa"):
        result = kappa_from_feature_files(write_members(tmp_path, features))
    assert result.meta["form"] == "sample"
    assert (
        "kappa in sample space (each member's centred n x n Gram, then their Frobenius products), the cheaper form: "
        in caplog.text
    )
    feature, sample = 20 * 105**2 / 2, 20**2 * 105 / 2 + 3**2 * 20**2 / 4  # multiply-adds of both forms
    assert f"multiply-adds feature space n D^2/2 = {feature:.3g}, sample space n^2 D/2 + m^2 n^2/4 = {sample:.3g} " in (
        caplog.text
    )
    assert "(n = 20 items, m = 3 members, D = 105 columns)" in caplog.text


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("budget", [None, 2e-3])
def test_member_jobs_and_combine_give_the_one_job_kappa(tmp_path, debiased, budget):
    """Sketches as the workflow's member jobs write them (a Gram where n <= 2 d, item keys otherwise), then the
    combine: the one-job kappa, its dropped-item counts, each feature file read once in all."""
    from taskspace.kappa import kappa_from_sketches, read_sketch, save_sketch, sketch_member

    n = 40
    widths = (25, 7, 60, 19, 3)  # members 0, 2 (n <= 2 d) get a Gram; 1, 3, 4 do not
    features = [x.astype(np.float32).astype(np.float64) for x in members(seed=13, n=n, widths=widths)]
    keep = [np.ones(n, bool), np.ones(n, bool), np.arange(n) % 7 != 3, np.arange(n) != 0, np.arange(n) != 39]
    paths = write_members(tmp_path, features, keep)
    sketches = []
    for i, path in enumerate(paths):
        sketch = sketch_member(path, member=f"m{i}")
        assert (sketch.gram is not None) == (i in (0, 2)), sketch.describe()
        sketches.append(tmp_path / f"sketch{i}.h5")
        save_sketch(sketch, sketches[-1])
        assert read_sketch(sketches[-1])[1] == (i in (0, 2))
    one_job = kappa_from_feature_files(paths, debiased=debiased, memory_budget_mb=budget, block_items=6)
    combined = kappa_from_sketches(
        sketches,
        features=paths,
        members=[f"m{i}" for i in range(5)],
        debiased=debiased,
        memory_budget_mb=budget,
        block_items=6,
    )
    assert combined.meta["form"] == "sample"  # Grams exist: their members' files are not read again
    np.testing.assert_allclose(combined.kappa, one_job.kappa, atol=1e-12, rtol=0)
    for form in ("feature", "sample"):
        forced = kappa_from_feature_files(paths, debiased=debiased, form=form)
        np.testing.assert_allclose(combined.kappa, forced.kappa, atol=1e-12, rtol=0)
    assert combined.members == one_job.members and combined.n_items == one_job.n_items == 32
    assert combined.dropped.tolist() == one_job.dropped.tolist() == [0, 0, 6, 1, 1]
    assert combined.meta["items_dropped"] == one_job.meta["items_dropped"]
    # without any Gram the combine chooses the form itself, and reads every file
    plain = []
    for i, path in enumerate(paths):
        plain.append(tmp_path / f"plain{i}.h5")
        save_sketch(sketch_member(path, gram=False), plain[-1])
    np.testing.assert_allclose(kappa_from_sketches(plain, debiased=debiased).kappa, one_job.kappa, atol=1e-12, rtol=0)


def test_combine_refuses_sketches_of_other_files_or_members(tmp_path):
    from taskspace.kappa import kappa_from_sketches, save_sketch, sketch_member

    paths = write_members(tmp_path, members(seed=14, n=20, widths=(12, 15)))
    for i, path in enumerate(paths):
        save_sketch(sketch_member(path), tmp_path / f"s{i}.h5")
    sketches = [tmp_path / "s0.h5", tmp_path / "s1.h5"]
    with pytest.raises(TaskspaceError, match=r"s1.h5: made from .*m1.h5, not from .*m0.h5; delete it and rerun"):
        kappa_from_sketches(sketches, features=[paths[0], paths[0]])
    with pytest.raises(TaskspaceError, match=r"s1.h5: sketch of member 'm1', expected 'x'; delete it and rerun"):
        kappa_from_sketches(sketches, members=["m0", "x"])
    with pytest.raises(TaskspaceError, match=r"m1.h5: made for another config: member is 'm1', expected 'y'"):
        sketch_member(paths[1], member="y")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(TaskspaceError, match="junk.h5: not a readable HDF5 file"):
        kappa_from_sketches([tmp_path / "junk.h5"])


# --- bad inputs of `taskspace kappa` (issue 16): one line, exit 2, nothing left behind ----------------------------


def kappa_cli(*args):
    import contextlib
    import io

    from taskspace.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["kappa", *map(str, args)])
    return code, err.getvalue().strip()


@pytest.fixture
def pair(tmp_path):
    return write_members(tmp_path, members(seed=15, n=30, widths=(4, 6)))


@pytest.mark.parametrize(
    "options, message",
    [
        (["--block-items", "0"], "--block-items: must be a positive number of items, got 0"),
        (["--block-items", "-5"], "--block-items: must be a positive number of items, got -5"),
        (["--memory-mb", "-1"], "--memory-mb: must be a positive number of MB, got -1"),
        (["--memory-mb", "0"], "--memory-mb: must be a positive number of MB, got 0"),
        (["--memory-mb", "nan"], "--memory-mb: must be a positive number of MB, got nan"),
    ],
)
def test_options_out_of_range(pair, tmp_path, options, message):
    code, err = kappa_cli(*pair, "-o", tmp_path / "k.npz", *options)
    assert (code, err) == (2, f"taskspace: error: {message}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m0.h5", "m1.h5"]


def test_output_that_is_a_folder_or_under_a_file(pair, tmp_path):
    (tmp_path / "out").mkdir()
    code, err = kappa_cli(*pair, "-o", tmp_path / "out")
    assert code == 2 and err == (
        f"taskspace: error: --output: {tmp_path / 'out'} is a folder; give the kappa file's name, "
        f"e.g. {tmp_path / 'out' / 'kappa.npz'}"
    )
    code, err = kappa_cli(*pair, "-o", tmp_path / "m0.h5" / "k.npz")
    assert code == 2 and err == f"taskspace: error: --output: {tmp_path / 'm0.h5'} is a file, not a folder"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["m0.h5", "m1.h5", "out"]  # no partial file
    with pytest.raises(TaskspaceError, match="is a folder"):
        save_kappa(kappa_from_feature_files(pair), tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == [] and not list(tmp_path.glob(".*partial"))


def test_files_that_disagree_name_the_files(tmp_path):
    features = members(seed=16, n=30, widths=(4, 6, 5))
    a, b, c = write_members(tmp_path, features, provenance={"text_hash": "0123456789abcdef0123"})
    code, err = kappa_cli(a, b, a, "-o", tmp_path / "k.npz")
    assert code == 2 and err == f"taskspace: error: {a} and {a}: the same feature file given twice"
    code, err = kappa_cli(a, b, tmp_path / "." / "m0.h5", "-o", tmp_path / "k.npz")  # the same file, spelt anew
    assert code == 2 and err.endswith("the same feature file given twice") and str(a) in err
    other = tmp_path / "other.h5"  # made from another probe text
    write_features(other, {"probe": (np.arange(30), features[2])}, {"member": "m9", "text_hash": "fedcba9876543210fe"})
    code, err = kappa_cli(a, b, other, "-o", tmp_path / "k.npz")
    assert code == 2 and err == (
        f"taskspace: error: {a} and {other}: made from different probe data "
        "(text_hash 0123456789ab... against fedcba987654...)"
    )
    pairs = tmp_path / "pairs.h5"  # (sentence, word) keys beside single image ids
    write_features(
        pairs, {"probe": (np.stack([np.arange(30) // 5, np.arange(30) % 5], 1), features[2])}, {"member": "w"}
    )
    code, err = kappa_cli(a, pairs, "-o", tmp_path / "k.npz")
    assert code == 2 and err == (
        f"taskspace: error: {a} (1-column item keys) and {pairs} (2-column item keys): item keys of different "
        "widths, made from different probe data"
    )
    twin = tmp_path / "twin.h5"  # another file that says it is member m1
    write_features(twin, {"probe": (np.arange(30), features[1])}, {"member": "m1"})
    code, err = kappa_cli(a, b, twin, "-o", tmp_path / "k.npz")
    assert code == 2 and err == f"taskspace: error: {b} and {twin}: both are member 'm1'"
    assert not list(tmp_path.glob("k.npz")) and not list(tmp_path.glob(".*partial"))
    assert kappa_cli(a, b, c, "-o", tmp_path / "k.npz")[0] == 0


# --- a zoo that grows: a new member costs its own work, the combine and what reads kappa -------------------------


def dry_run_jobs(workdir, config, *targets):
    """[(rule, wildcards)] of a dry run."""
    import re

    from conftest import snakemake

    text = snakemake(workdir, "--dry-run", *targets, config=config).stdout
    jobs = []
    for line in text.splitlines():
        if m := re.match(r"^\s*(?:local)?rule (\w+):$", line):
            jobs.append((m.group(1), {}))
        elif jobs and (m := re.match(r"^\s+wildcards: (.*)$", line)):
            jobs[-1][1].update(item.split("=", 1) for item in m.group(1).split(", "))
    return jobs


@pytest.mark.workflow
def test_a_new_member_reruns_only_its_own_work_and_what_reads_kappa(tiny_run, tmp_path):
    """A finished tiny run with one LM member more: Snakemake's dry run lists the new member's features and its
    kappa sketch, the LM space's combine and what reads kappa or every member's features; no other member's
    features or sketch, nothing of the vision space. Then kappa itself: the combine equals the one-job kappa."""
    from collections import Counter

    import yaml
    from conftest import copy_run, snakemake
    from test_rebuilds import DOWNSTREAM_OF_FEATURES

    run = copy_run(tiny_run, tmp_path / "run")
    config = yaml.safe_load((run.workdir / "config.yaml").read_text())
    # a checkpoint of its own (a member at another layer of MiniLM would join the MiniLM members' pass)
    config["lm"]["members"].append({"name": "tiny-gpt2-b", "build": "gpt2", "seed": 2})
    grown = tmp_path / "grown.yaml"
    grown.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = dry_run_jobs(run.workdir, grown)
    counts = Counter(rule for rule, _ in jobs)
    new_member = Counter({"lm_build_member": 1, "lm_features": 2, "run_config": 1})
    assert counts == DOWNSTREAM_OF_FEATURES + new_member, counts
    assert {w["member"] for rule, w in jobs if rule in ("lm_build_member", "lm_features", "kappa_member")} == {
        "tiny-gpt2-b"
    }
    assert sorted((rule, sorted(w.items())) for rule, w in jobs if rule.startswith("kappa")) == [
        ("kappa", [("space", "lm")]),
        ("kappa_member", [("member", "tiny-gpt2-b"), ("space", "lm")]),
    ]
    assert not any(w.get("experiment") or w.get("space", "").startswith("vision") for _, w in jobs)

    sketches = sorted((run / "lm/kappa-members").glob("*.h5"))
    before = {p.name: p.stat().st_mtime_ns for p in sketches}
    snakemake(run.workdir, "results/lm/kappa.npz", config=grown)
    after = {p.name: p.stat().st_mtime_ns for p in (run / "lm/kappa-members").glob("*.h5")}
    assert set(after) == set(before) | {"tiny-gpt2-b.h5"} and all(after[k] == v for k, v in before.items())
    kappa = load_kappa(run / "lm/kappa.npz")
    members = ["minilm-l2", "minilm-l6", "tiny-gpt2", "tiny-gpt2-b"]
    assert kappa.members == members
    one_job = kappa_from_feature_files([run / f"lm/features/{m}/probe.h5" for m in members])
    np.testing.assert_allclose(kappa.kappa, one_job.kappa, atol=1e-12, rtol=0)
    assert kappa.n_items == one_job.n_items and kappa.dropped.tolist() == one_job.dropped.tolist()
    assert "kappa in feature space" in (run.workdir / "logs/lm/kappa.log").read_text()  # n > 2 d: no Grams
