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
