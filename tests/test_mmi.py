import numpy as np
import pytest

from taskspace.errors import TaskspaceError
from taskspace.mmi import (
    JITTER,
    GaussianZoo,
    NearSingularKappaWarning,
    greedy_mmi,
    task_aware_kappa,
    task_aware_picks,
    validate_kappa,
)
from taskspace.ties import first_best


def naive_greedy(kappa, k, hub_first=False):
    """The paper's formula, literally: for every candidate y, var(y|A) / var(y|V minus A minus y); near-ties to the
    smallest index (taskspace.ties.first_best)."""
    m = len(kappa)
    picked, mi, total = [], [], 0.0

    def conditional_variance(y, given):
        if not given:
            return kappa[y, y]
        s = kappa[np.ix_([y], given)]
        return kappa[y, y] - (s @ np.linalg.solve(kappa[np.ix_(given, given)], s.T))[0, 0]

    for step in range(k):
        candidates = [y for y in range(m) if y not in picked]
        ratios = []
        for y in candidates:
            rest = [z for z in candidates if z != y]
            ratios.append(conditional_variance(y, picked) / conditional_variance(y, rest))
        if step == 0 and hub_first:
            best = first_best(kappa.sum(1))
        else:
            best = candidates[first_best(ratios)]
        ratio = ratios[candidates.index(best)]
        total += np.log(ratio)
        picked.append(best)
        mi.append(total)
    return picked, np.array(mi)


def random_kappa(rng, m, rank=None):
    x = rng.standard_normal((m, rank or m + 3)) * rng.uniform(0.2, 2.0, size=(m, 1))
    x += rng.standard_normal(rank or m + 3)  # shared component: realistic positive alignments
    gram = x @ x.T
    scale = np.sqrt(np.diag(gram))
    return gram / np.outer(scale, scale)


@pytest.mark.parametrize("seed", range(40))
def test_greedy_matches_naive_formula(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(2, 16))
    kappa = random_kappa(rng, m)
    hub_first = bool(seed % 2)
    fast = greedy_mmi(kappa, m, hub_first=hub_first)
    order, mi = naive_greedy(kappa, m, hub_first=hub_first)
    assert list(fast.order) == order
    np.testing.assert_allclose(fast.cumulative_mi, mi, atol=1e-8)
    assert fast.jitter == 0.0


def read_expected(folder):
    runs, current = {}, None
    for line in (folder / "expected_mmi.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) == 1:
            current = runs.setdefault(parts[0], [])
        elif parts:
            current.append((int(parts[1]), parts[2], float(parts[3])))
    return runs


@pytest.mark.parametrize("variant", ["plain", "hub"])
def test_paper_kappa_reproduces_published_order(paper_kappa_dir, paper_reference_dir, variant):
    kappa = np.load(paper_kappa_dir / "kappa.npy")
    names = (paper_kappa_dir / "members.txt").read_text().split()
    expected = read_expected(paper_reference_dir)[variant]
    selection = GaussianZoo(kappa, names).greedy(len(expected), hub_first=variant == "hub")
    assert [names[i] for i in selection.order] == [name for _, name, _ in expected]
    assert list(selection.order) == [index for index, _, _ in expected]
    np.testing.assert_allclose(selection.cumulative_mi, [mi for _, _, mi in expected], atol=2e-6)


def test_paper_top5(paper_kappa_dir, paper_reference_dir):
    kappa = np.load(paper_kappa_dir / "kappa.npy")
    names = (paper_kappa_dir / "members.txt").read_text().split()
    top5 = (paper_reference_dir / "mmi_top5.txt").read_text().split()
    assert [names[i] for i in greedy_mmi(kappa, 5).order] == top5


def test_duplicate_members_warn_and_pick_deterministically():
    rng = np.random.default_rng(3)
    base = random_kappa(rng, 6)
    kappa = np.ones((7, 7))
    kappa[:6, :6] = base
    kappa[6, :6] = kappa[:6, 6] = base[2]  # member 6 duplicates member 2
    with pytest.warns(NearSingularKappaWarning, match="near-singular"):
        first = greedy_mmi(kappa, 7)
    with pytest.warns(NearSingularKappaWarning):
        second = greedy_mmi(kappa, 7)
    assert first.jitter == JITTER
    assert list(first.order) == list(second.order)
    assert np.isfinite(first.cumulative_mi).all()
    # the smaller-index twin first (the rest predicts it perfectly; its twin's ratio is the same), the other last
    assert (first.order[0], first.order[-1]) == (2, 6)
    # the documented outcome equals the exact rule on the jittered matrix
    jittered = (kappa + JITTER * np.eye(7)) / (1 + JITTER)
    assert list(first.order) == naive_greedy(jittered, 7)[0]


def with_copies(base, source, copies, seed):
    """base with member ``source`` present ``copies`` times, every member moved to a seeded random position."""
    rows = list(range(len(base))) + [source] * (copies - 1)
    rows = [rows[p] for p in np.random.default_rng(seed).permutation(len(rows))]
    return base[np.ix_(rows, rows)], [i for i, row in enumerate(rows) if row == source]


@pytest.mark.parametrize("m", [4, 11, 30])
@pytest.mark.parametrize("copies", [2, 3, 4])
@pytest.mark.parametrize("seed", range(3))
def test_copies_are_picked_in_index_order_whatever_their_positions(m, copies, seed):
    base = random_kappa(np.random.default_rng(seed), m)
    kappa, positions = with_copies(base, source=seed % m, copies=copies, seed=100 * m + 10 * copies + seed)
    with pytest.warns(NearSingularKappaWarning):
        order = list(greedy_mmi(kappa, len(kappa)).order)
    assert order[0] == positions[0]
    assert [i for i in order if i in positions] == positions
    if copies == 2:
        assert order[-1] == positions[1]
    jittered = (kappa + JITTER * np.eye(len(kappa))) / (1 + JITTER)
    assert order == naive_greedy(jittered, len(kappa))[0]


def test_copy_that_is_the_hub_is_the_smallest_index():
    base = random_kappa(np.random.default_rng(4), 8)
    hub = int(np.argmax(base.sum(1)))
    kappa, positions = with_copies(base, source=hub, copies=3, seed=5)
    with pytest.warns(NearSingularKappaWarning):
        order = list(greedy_mmi(kappa, len(kappa), hub_first=True).order)
    assert order[0] == positions[0]
    assert [i for i in order if i in positions] == positions


@pytest.mark.parametrize("m", [2, 5, 17])
@pytest.mark.parametrize("hub_first", [False, True])
def test_exchangeable_members_are_picked_in_index_order(m, hub_first):
    """Equal correlations: every candidate ties at every step, so the order is the zoo's order."""
    kappa = np.full((m, m), 0.37) + 0.63 * np.eye(m)
    assert list(greedy_mmi(kappa, m, hub_first=hub_first).order) == list(range(m))


@pytest.mark.parametrize("m", [6, 9, 14])
def test_ring_symmetry_ties_go_to_the_smaller_index(m):
    """A ring (kappa depends on the distance around it): every member ties for the first pick, and while the picks
    are symmetric under the reflection through member 0, a member and its mirror image tie: the smaller is taken."""
    distance = np.minimum(np.arange(m), m - np.arange(m))
    kappa = 0.45 ** distance[np.abs(np.arange(m)[:, None] - np.arange(m)[None, :])]
    order = list(greedy_mmi(kappa, m).order)
    assert order[0] == 0
    mirror = {i: (-i) % m for i in range(m)}  # the ring's reflection through member 0 leaves kappa unchanged
    tied_pairs = 0
    for step, pick in enumerate(order[1:], start=1):
        if {mirror[i] for i in order[:step]} == set(order[:step]) and mirror[pick] != pick:
            assert pick < mirror[pick]
            tied_pairs += 1
    assert tied_pairs >= 1
    assert order == naive_greedy(kappa, m)[0]


@pytest.mark.parametrize("block, seed", [(3, 0), (5, 1), (8, 2)])
def test_mirrored_blocks_tie_at_every_pick(block, seed):
    """Two unrelated copies of one block structure, interleaved at random positions: a member and its mirror
    always tie while both are available (the picks of the other block change neither), so the smaller index
    of the two is taken."""
    base = random_kappa(np.random.default_rng(seed), block)
    whole = np.kron(np.eye(2), base)
    positions = np.random.default_rng(seed + 10).permutation(2 * block)
    kappa = np.empty_like(whole)
    kappa[np.ix_(positions, positions)] = whole
    mirror = {int(positions[i]): int(positions[(i + block) % (2 * block)]) for i in range(2 * block)}
    order = list(greedy_mmi(kappa, 2 * block).order)
    for step, pick in enumerate(order):
        if mirror[pick] not in order[:step]:
            assert pick < mirror[pick]
    assert order == naive_greedy(kappa, 2 * block)[0]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda k: k.__setitem__((0, 1), k[0, 1] + 0.1), "not symmetric"),
        (lambda k: k.__setitem__((2, 2), 0.9), "diagonal must be 1"),
        (lambda k: k.__setitem__((1, 3), np.nan), "NaN"),
    ],
)
def test_bad_kappa_is_one_line_error(mutate, message):
    kappa = random_kappa(np.random.default_rng(0), 5)
    mutate(kappa)
    with pytest.raises(TaskspaceError, match=message) as error:
        greedy_mmi(kappa, 2)
    assert "\n" not in str(error.value)


def test_not_psd_is_error():
    kappa = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    with pytest.raises(TaskspaceError, match="not positive semi-definite: smallest eigenvalue"):
        greedy_mmi(kappa, 1)
    with pytest.raises(TaskspaceError, match="not positive semi-definite"):
        validate_kappa(kappa)


@pytest.mark.parametrize("k", [0, -1, 6])
def test_k_out_of_range(k):
    with pytest.raises(TaskspaceError, match=f"k = {k}: must be between 1 and the number of members \\(5\\)"):
        greedy_mmi(random_kappa(np.random.default_rng(1), 5), k)


def test_score_of_greedy_order_equals_greedy_mi():
    zoo = GaussianZoo(random_kappa(np.random.default_rng(5), 12))
    greedy = zoo.greedy(6)
    np.testing.assert_allclose(zoo.score(greedy.order).cumulative_mi, greedy.cumulative_mi, atol=1e-12)


def test_subset_mi_is_log_determinant_identity():
    """Cumulative MI of any subset A is log det K_AA + log det K_BB - log det K (twice Gaussian MI)."""
    kappa = random_kappa(np.random.default_rng(9), 10)
    zoo = GaussianZoo(kappa)
    subset = [7, 1, 4]
    rest = [i for i in range(10) if i not in subset]

    def logdet(idx):
        return np.linalg.slogdet(kappa[np.ix_(idx, idx)])[1]

    expected = logdet(subset) + logdet(rest) - logdet(list(range(10)))
    assert zoo.score(subset).cumulative_mi[-1] == pytest.approx(expected, abs=1e-10)


# --- task-aware MMI ----------------------------------------------------------------------------------------


def brute_force_task_aware(kappa, k):
    """Literal: for every candidate y, var(t | A + y) by a linear solve; pick the largest reduction of var(t | A)
    (near-ties to the smallest index); I = 0.5 log ratio."""
    t = len(kappa) - 1

    def target_variance(given):
        s = kappa[np.ix_([t], given)]
        return kappa[t, t] - (s @ np.linalg.solve(kappa[np.ix_(given, given)], s.T))[0, 0] if given else kappa[t, t]

    picked, values = [], []
    for _ in range(k):
        candidates = [y for y in range(t) if y not in picked]
        variances = np.array([target_variance(picked + [y]) for y in candidates])
        chosen = first_best(target_variance(picked) - variances)
        picked.append(candidates[chosen])
        values.append(0.5 * np.log(kappa[t, t] / variances[chosen]))
    return picked, np.array(values)


def random_kappa_plus(rng, m, rank=None, noise=0.0):
    """Normalised Gram of m + 1 random vectors (the last is the target); low rank plus noise: near-singular."""
    x = rng.standard_normal((m + 1, rank or m + 4)) + rng.standard_normal(rank or m + 4)
    if noise:
        x = np.concatenate([x, noise * rng.standard_normal((m + 1, m + 1))], axis=1)
    gram = x @ x.T
    scale = np.sqrt(np.diag(gram))
    return gram / np.outer(scale, scale)


@pytest.mark.parametrize("seed", range(30))
def test_task_aware_picks_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(2, 14))
    kappa = random_kappa_plus(rng, m)
    order, values = task_aware_picks(kappa, m)
    expected_order, expected_values = brute_force_task_aware(kappa, m)
    assert list(order) == expected_order
    np.testing.assert_allclose(values, expected_values, rtol=1e-9, atol=1e-12)
    assert np.all(np.diff(values) >= -1e-12)  # information never decreases


@pytest.mark.parametrize("seed", range(20))
def test_task_aware_picks_match_brute_force_near_singular(seed):
    rng = np.random.default_rng(100 + seed)
    m = int(rng.integers(4, 12))
    kappa = random_kappa_plus(rng, m, rank=3, noise=1e-3)  # rank 3 plus a small full-rank part
    k = min(m, 6)
    order, values = task_aware_picks(kappa, k)
    expected_order, expected_values = brute_force_task_aware(kappa, k)
    assert list(order) == expected_order
    np.testing.assert_allclose(values, expected_values, rtol=1e-6)


def test_task_aware_duplicate_member_is_never_picked_before_the_others():
    rng = np.random.default_rng(7)
    base = random_kappa_plus(rng, 5)  # members 0..4, target 5
    kappa = np.ones((7, 7))
    kappa[np.ix_([0, 1, 2, 3, 4, 6], [0, 1, 2, 3, 4, 6])] = base
    kappa[5, [0, 1, 2, 3, 4, 6]] = kappa[[0, 1, 2, 3, 4, 6], 5] = base[0]  # member 5 duplicates member 0
    order, values = task_aware_picks(kappa, 5)
    assert [i for i in order if i in (0, 5)] == [0]  # the smaller-index twin; the other adds nothing: never picked
    assert np.isfinite(values).all()
    with pytest.warns(NearSingularKappaWarning, match="determined by the earlier picks"):
        order, values = task_aware_picks(kappa, 6)
    assert order[-1] in (0, 5) and values[-1] == pytest.approx(values[-2])


@pytest.mark.parametrize("m", [3, 9, 20])
@pytest.mark.parametrize("copies", [2, 4])
def test_task_aware_copies_go_to_the_smallest_index_whatever_their_positions(m, copies):
    base = random_kappa_plus(np.random.default_rng(m + copies), m)  # members 0..m-1, target m
    source = m // 2
    rows = list(range(m)) + [source] * (copies - 1)
    rows = [rows[p] for p in np.random.default_rng(10 * m + copies).permutation(len(rows))] + [m]
    kappa = base[np.ix_(rows, rows)]
    positions = [i for i, row in enumerate(rows) if row == source]
    order, _ = task_aware_picks(kappa, m)  # as many picks as distinct members: no copy needs to be taken twice
    assert [i for i in order if i in positions] == positions[:1]
    kept = [i for i in range(len(rows)) if i not in positions[1:]]  # the zoo without the later copies
    assert list(order) == [kept[j] for j in brute_force_task_aware(kappa[np.ix_(kept, kept)], m)[0]]


@pytest.mark.parametrize("m", [2, 6, 15])
def test_task_aware_exchangeable_members_are_picked_in_index_order(m):
    """Members equally correlated with each other and with the target: every candidate ties at every step."""
    kappa = np.full((m + 1, m + 1), 0.3) + 0.7 * np.eye(m + 1)
    order, values = task_aware_picks(kappa, m)
    assert list(order) == list(range(m))
    assert np.all(np.diff(values) > 0)


@pytest.mark.parametrize("block, seed", [(3, 0), (6, 1), (10, 2)])
def test_task_aware_mirrored_blocks_tie_at_every_pick(block, seed):
    """Two copies of one member structure in orthogonal subspaces and a target that sits symmetrically between
    them, members interleaved at random positions: while a member's mirror image is available the two tie."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((block, block + 2)) + rng.standard_normal(block + 2)
    u = rng.standard_normal(block + 2)
    vectors = np.block([[x, np.zeros_like(x)], [np.zeros_like(x), x]])
    vectors = np.vstack([vectors[rng.permutation(2 * block)], np.concatenate([u, u])])
    gram = vectors @ vectors.T
    kappa = gram / np.sqrt(np.outer(np.diag(gram), np.diag(gram)))
    twin_of = {}
    for i in range(2 * block):
        for j in range(2 * block):
            if (
                i != j
                and np.allclose(vectors[i, : block + 2], vectors[j, block + 2 :])
                and not vectors[i, block + 2 :].any()
            ):
                twin_of[i], twin_of[j] = j, i
    assert len(twin_of) == 2 * block
    order, _ = task_aware_picks(kappa, 2 * block)
    mirrored = 0
    for step, pick in enumerate(order):
        if {twin_of[i] for i in order[:step]} == set(order[:step].tolist()):
            assert pick < twin_of[pick]
            mirrored += 1
    assert mirrored >= 1
    assert list(order) == brute_force_task_aware(kappa, 2 * block)[0]


def centred_alignment(x, y):
    x, y = x - x.mean(0), y - y.mean(0)
    return np.linalg.norm(x.T @ y) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def test_task_aware_kappa_is_linear_cka_with_the_label_kernel():
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 4, size=300)
    onehot = np.eye(4)[labels]
    members = [
        rng.standard_normal((300, 6)) + 2 * onehot @ rng.standard_normal((4, 6)),
        rng.standard_normal((300, 9)),
        onehot @ rng.standard_normal((4, 3)) + 0.1 * rng.standard_normal((300, 3)),
    ]
    kappa = task_aware_kappa(members, labels + 10)
    assert kappa.shape == (4, 4)
    validate_kappa(kappa)
    for i, x in enumerate(members):
        assert kappa[i, 3] == pytest.approx(centred_alignment(x, onehot), rel=1e-9)
        for j, z in enumerate(members):
            assert kappa[i, j] == pytest.approx(centred_alignment(x, z), rel=1e-9)
    order, values = task_aware_picks(kappa, 3)
    assert order[0] == 2 and order[-1] == 1  # the label-like member first, the unrelated one last


def test_task_aware_errors():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((20, 3))
    with pytest.raises(TaskspaceError, match="only one class"):
        task_aware_kappa([x], np.zeros(20, dtype=int))
    with pytest.raises(TaskspaceError, match=r"member 0: features of shape \(20, 3\) for 19 labelled items"):
        task_aware_kappa([x], np.arange(19) % 2)
    with pytest.raises(TaskspaceError, match="integer classes"):
        task_aware_kappa([x], np.linspace(0, 1, 20))
    with pytest.raises(TaskspaceError, match=r"k = 3: must be between 1 and the number of members \(2\)"):
        task_aware_picks(random_kappa_plus(rng, 2), 3)
    with pytest.raises(TaskspaceError, match="kappa_plus: not symmetric"):
        task_aware_picks(np.array([[1.0, 0.5], [0.2, 1.0]]), 1)
