"""Many linear heads trained at once (taskspace.heads): equal to training alone, equal budget, dev-only selection."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from taskspace.errors import TaskspaceError
from taskspace.heads import (
    HeadConfig,
    Protocol,
    Split,
    accuracy,
    feature_groups,
    pearson,
    stratified_holdout,
    train_heads,
    train_heads_in_feature_groups,
)

WIDTH = 8  # columns per member
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    """Real digits images; members 0-3 are random ReLU projections of the pixels, members 4-5 pure noise."""
    images, labels = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    images = images / 16.0
    blocks = [np.maximum(images @ rng.normal(size=(64, WIDTH)), 0) for _ in range(4)]
    blocks += [rng.normal(size=(len(labels), WIDTH)) for _ in range(2)]
    features = np.concatenate(blocks, axis=1).astype(np.float32)
    order = rng.permutation(len(labels))
    train, dev, test = order[:150], order[150:450], order[450:900]
    return {
        "train": Split(features[train], labels[train]),
        "dev": Split(features[dev], labels[dev]),
        "test": Split(features[test], labels[test]),
        "widths": [WIDTH] * 6,
    }


HEADS = [(0,), (1,), (4,), (0, 1), (2, 5), (3, 1, 0), (0, 1, 2, 3), (4, 5), (5, 4, 3, 2, 1, 0)]
CONFIG = HeadConfig(epochs=12, batch_size=16, lr=1e-2, device="cpu", seed=3)


def _run(data, heads=HEADS, config=CONFIG, **kwargs):
    return train_heads(data["train"], data["dev"], data["test"], data["widths"], heads, config=config, **kwargs)


def test_batched_equals_each_head_alone(digits):
    together = _run(digits)
    chunked = _run(digits, config=HeadConfig(**{**CONFIG.__dict__, "memory_budget_mb": 1e-4}))  # one head a chunk
    for h, head in enumerate(HEADS):
        alone = _run(digits, heads=[head])[0]
        for other in (together[h], chunked[h]):
            assert other.members == head
            np.testing.assert_allclose(other.dev_curve, alone.dev_curve, atol=2 / 300)
            np.testing.assert_allclose(other.test_curve, alone.test_curve, atol=2 / 450)
            np.testing.assert_allclose(other.train_loss_curve, alone.train_loss_curve, rtol=1e-4, atol=1e-5)
            assert other.best_epoch == alone.best_epoch
            assert other.steps == alone.steps


def test_same_seed_same_numbers_and_seed_matters(digits):
    first, second = _run(digits, heads=HEADS[:3]), _run(digits, heads=HEADS[:3])
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.train_loss_curve, b.train_loss_curve)
        np.testing.assert_array_equal(a.test_curve, b.test_curve)
    other = _run(digits, heads=HEADS[:3], config=HeadConfig(**{**CONFIG.__dict__, "seed": 4}))
    assert not np.array_equal(other[0].train_loss_curve, first[0].train_loss_curve)


def test_informative_members_beat_noise_members(digits):
    informative, noise = _run(digits, heads=[(0, 1, 2, 3), (4, 5)])
    assert informative.test > 0.7
    assert noise.test < 0.3  # chance is 0.1; 150 training images cannot be memorised into test accuracy
    assert informative.test > noise.test + 0.4


def test_equal_budget_for_every_head(digits):
    results = _run(digits)
    batches = -(-150 // CONFIG.batch_size)
    assert {r.steps for r in results} == {CONFIG.epochs * batches}
    assert {r.epochs for r in results} == {CONFIG.epochs}
    assert {len(r.train_loss_curve) for r in results} == {CONFIG.epochs}
    assert len({r.width for r in results}) > 1  # widths differ, budget does not


def test_selection_uses_dev_only(digits):
    results = _run(digits)
    for r in results:
        best = int(np.argmax(r.dev_curve))
        assert r.best_epoch == r.evaluated_epochs[best]
        assert r.dev == r.dev_curve[best] and r.test == r.test_curve[best]
    # Scrambling the test labels changes the test metric but not the selected epoch or the dev metric.
    rng = np.random.default_rng(1)
    scrambled = dict(digits, test=Split(digits["test"].features, rng.permutation(digits["test"].labels)))
    for a, b in zip(results, _run(scrambled)):
        assert (a.best_epoch, a.dev) == (b.best_epoch, b.dev)
        np.testing.assert_array_equal(a.train_loss_curve, b.train_loss_curve)


def test_eval_every_includes_last_epoch(digits):
    config = HeadConfig(**{**CONFIG.__dict__, "eval_every": 5})
    result = _run(digits, heads=[(0,)], config=config)[0]
    assert result.evaluated_epochs.tolist() == [5, 10, 12]
    assert result.best_epoch in (5, 10, 12)


def test_plain_callable_metric_matches_batched_accuracy(digits):
    def plain_accuracy(gold, pred):
        return float(np.mean(gold == pred))

    batched = _run(digits, heads=HEADS[:4])
    plain = _run(digits, heads=HEADS[:4], metric=plain_accuracy)
    for a, b in zip(batched, plain):
        np.testing.assert_allclose(a.test_curve, b.test_curve)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_other_optimizers_train(digits, optimizer):
    config = HeadConfig(**{**CONFIG.__dict__, "optimizer": optimizer, "lr": 0.05, "weight_decay": 1e-3})
    (result,) = _run(digits, heads=[(0, 1, 2, 3)], config=config)
    assert result.test > 0.7
    assert result.train_loss_curve[-1] < result.train_loss_curve[0]


def test_regression_kind():
    rng = np.random.default_rng(0)
    n, widths = 600, [5, 5, 5]
    x = rng.normal(size=(n, 15)).astype(np.float32) * rng.uniform(0.5, 3, size=15)
    target = x[:, :5] @ rng.normal(size=5) + 0.05 * rng.normal(size=n)  # only member 0 carries the target
    splits = [Split(x[s], target[s]) for s in (slice(0, 300), slice(300, 450), slice(450, n))]
    config = HeadConfig(kind="regression", epochs=30, batch_size=32, lr=3e-2, device="cpu")
    linear, noise = train_heads(*splits, widths, [(0, 1), (2,)], metric=pearson, config=config)
    loss = linear.train_loss_curve
    assert loss[-1] < 0.05 * loss[0]
    assert np.all(np.diff(loss[:10]) < 0)  # MSE goes down
    assert linear.test > 0.99 and linear.dev > 0.99
    assert abs(noise.test) < 0.3


CENTRES = np.random.default_rng(7).normal(size=(3, 4)) * 3


def _token_data(rng, n_sentences, with_unannotated):
    """Sentences of tokens; member 0 holds the class centre plus noise, member 1 noise. Unannotated tokens: junk."""
    feats, labels, groups = [], [], []
    centres = CENTRES
    for s in range(n_sentences):
        length = rng.integers(3, 9)
        cls = rng.integers(0, 3, size=length)
        x = np.concatenate([centres[cls] + rng.normal(size=(length, 4)), rng.normal(size=(length, 4))], axis=1)
        feats.append(x)
        labels.append(cls)
        groups.append(np.full(length, s))
    clean = Split(np.concatenate(feats).astype(np.float32), np.concatenate(labels), np.concatenate(groups))
    if not with_unannotated:
        return clean
    # Interleave junk tokens (huge features, label -100) into every sentence and add one all-junk sentence.
    junk_n = len(clean.labels)
    junk = rng.normal(size=(junk_n, 8)).astype(np.float32) * 100
    order = rng.permutation(2 * junk_n + 5)
    features = np.concatenate([clean.features, junk, rng.normal(size=(5, 8)).astype(np.float32) * 100])
    labels = np.concatenate([clean.labels, np.full(junk_n, -100), np.full(5, -100)])
    groups = np.concatenate([clean.groups, clean.groups, np.full(5, n_sentences)])
    # Reordering rows must keep every sentence's labelled tokens in their order: sort stably by (group, slot).
    slot = np.concatenate([np.arange(junk_n) * 2, np.arange(junk_n) * 2 + 1, np.arange(5)])
    order = np.lexsort((slot, groups))
    return Split(features[order], labels[order], groups[order])


def test_unannotated_tokens_do_not_affect_training_and_sentence_metrics():
    config = HeadConfig(epochs=5, batch_size=8, batch_unit="groups", lr=1e-2, device="cpu")
    heads = [(0,), (1,), (0, 1)]

    def sentence_accuracy(gold_sentences, pred_sentences):
        assert isinstance(gold_sentences, list) and len(gold_sentences) == len(pred_sentences)
        return float(np.mean(np.concatenate(gold_sentences) == np.concatenate(pred_sentences)))

    results = {}
    for with_junk in (False, True):
        splits = [_token_data(np.random.default_rng(seed), n, with_junk) for seed, n in ((0, 60), (1, 20), (2, 20))]
        results[with_junk] = (
            train_heads(*splits, [4, 4], heads, config=config),
            train_heads(*splits, [4, 4], heads, config=config, metric=sentence_accuracy, metric_input="sentences"),
        )
    for flat_clean, flat_junk, sent_clean, sent_junk in zip(*results[False], *results[True]):
        np.testing.assert_allclose(flat_clean.train_loss_curve, flat_junk.train_loss_curve, rtol=1e-6)
        np.testing.assert_array_equal(flat_clean.test_curve, flat_junk.test_curve)
        np.testing.assert_array_equal(flat_clean.test_curve, sent_clean.test_curve)
        np.testing.assert_array_equal(sent_clean.test_curve, sent_junk.test_curve)
        assert flat_clean.steps == flat_junk.steps == 5 * -(-60 // 8)  # batches of 8 sentences
    assert results[False][0][0].test > 0.75 and results[False][0][1].test < 0.6


def test_stratified_holdout():
    labels = np.repeat(np.arange(4), 5)
    train, val = stratified_holdout(labels, per_class=2, seed=0)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 20
    assert np.bincount(labels[val]).tolist() == [2, 2, 2, 2]
    np.testing.assert_array_equal(val, stratified_holdout(labels, per_class=2, seed=0)[1])
    with pytest.raises(TaskspaceError, match="class 0 has 5 training items"):
        stratified_holdout(labels, per_class=5)


def test_errors_name_the_problem(digits):
    with pytest.raises(TaskspaceError, match="head 0 names member 9"):
        _run(digits, heads=[(9,)])
    with pytest.raises(TaskspaceError, match="lists a member twice"):
        _run(digits, heads=[(1, 1)])
    with pytest.raises(TaskspaceError, match="block widths|add up to"):
        train_heads(digits["train"], digits["dev"], digits["test"], [WIDTH] * 5, [(0,)], config=CONFIG)
    with pytest.raises(TaskspaceError, match="optimizer='lbfgs'"):
        HeadConfig(optimizer="lbfgs")
    with pytest.raises(TaskspaceError, match="unknown key 'epoch'"):
        HeadConfig.from_mapping({"epoch": 3})
    bad = digits["train"].features.copy()
    bad[3, WIDTH + 2] = np.nan
    with pytest.raises(TaskspaceError, match="train features of m1 hold NaN"):
        train_heads(
            Split(bad, digits["train"].labels),
            digits["dev"],
            digits["test"],
            digits["widths"],
            [(0,)],
            config=CONFIG,
            member_names=[f"m{i}" for i in range(6)],
        )
    with pytest.raises(TaskspaceError, match="needs groups"):
        _run(digits, heads=[(0,)], config=HeadConfig(batch_unit="groups", device="cpu"))


def test_accuracy_and_pearson_are_batched():
    gold = np.array([0, 1, 1, 2])
    np.testing.assert_allclose(accuracy(gold, np.array([[0, 1, 1, 2], [2, 2, 2, 2]])), [1.0, 0.25])
    r = pearson(np.array([1.0, 2, 3]), np.array([[2.0, 4, 6], [1.0, 1, 1]]))
    np.testing.assert_allclose(r, [1.0, 0.0])


def test_small_evaluation_blocks_and_progress_log(digits, caplog):
    config = HeadConfig(**{**CONFIG.__dict__, "eval_batch_rows": 7, "log_every_s": 0.0})
    with caplog.at_level("INFO", logger="taskspace.heads"):
        blocked = _run(digits, heads=HEADS[:3], config=config)
    for a, b in zip(_run(digits, heads=HEADS[:3]), blocked):
        np.testing.assert_array_equal(a.test_curve, b.test_curve)
    assert any("ETA" in r.getMessage() and "head-epochs/s" in r.getMessage() for r in caplog.records)
    assert any("3 heads on 150 train / 300 dev / 450 test items" in r.getMessage() for r in caplog.records)


def test_row_count_mismatch_is_a_taskspace_error(digits):
    short = Split(digits["train"].features[:-1], digits["train"].labels)
    with pytest.raises(TaskspaceError, match="train has 149 feature rows for 150 labels"):
        train_heads(short, digits["dev"], digits["test"], digits["widths"], [(0,)], config=CONFIG)


# ------------------------------------------------------------------------------------------ feature groups


def test_feature_groups_cover_every_head_once_within_budget():
    rng = np.random.default_rng(0)
    for _trial in range(50):
        n_members = int(rng.integers(1, 12))
        member_bytes = rng.integers(1, 100, size=n_members).tolist()
        heads = [
            tuple(rng.choice(n_members, size=int(rng.integers(1, min(5, n_members) + 1)), replace=False))
            for _ in range(int(rng.integers(1, 40)))
        ]
        for budget in (0, 50, 150, 400, float("inf")):
            groups = feature_groups(heads, member_bytes, budget)
            assert sorted(h for group in groups for h in group) == list(range(len(heads)))
            for group in groups:
                members = {m for h in group for m in heads[h]}
                # over the budget only on the members of one head that alone exceeds it
                assert sum(member_bytes[m] for m in members) <= budget or any(set(heads[h]) == members for h in group)
            if budget == float("inf"):
                assert len(groups) == 1
    # Heads whose members are loaded already join for free, even a group over the budget.
    assert feature_groups([(0, 1), (2,), (1,), (0,)], [10, 10, 10], 20) == [[0, 2, 3], [1]]
    assert feature_groups([(0, 1), (2,), (1,), (0,)], [10, 10, 10], 5) == [[0, 2, 3], [1]]


def test_heads_in_feature_groups_equal_one_call(digits, caplog):
    widths = digits["widths"]
    offsets = np.cumsum([0] + widths)

    def load_members(members):
        columns = np.concatenate([np.arange(offsets[m], offsets[m + 1]) for m in members])
        return tuple(Split(digits[name].features[:, columns], digits[name].labels) for name in ("train", "dev", "test"))

    n_items = sum(len(digits[name].labels) for name in ("train", "dev", "test"))
    heads = HEADS[:-1]  # at most 4 members a head
    one_call = _run(digits, heads=heads, member_names=[f"m{i}" for i in range(6)])
    member_mb = 4 * n_items * WIDTH / 2**20
    with caplog.at_level("INFO", logger="taskspace.heads"):
        grouped = train_heads_in_feature_groups(
            load_members,
            widths,
            n_items,
            heads,
            2.5 * member_mb,
            "digits",
            config=CONFIG,
            member_names=[f"m{i}" for i in range(6)],
        )
    for a, b in zip(one_call, grouped):
        assert (a.head, a.members, a.width) == (b.head, b.members, b.width)
        # Loading fewer members is exact; heads that share a matrix product with other heads round differently.
        np.testing.assert_allclose(a.train_loss_curve, b.train_loss_curve, rtol=1e-6)
        np.testing.assert_array_equal(a.dev_curve, b.dev_curve)
        np.testing.assert_array_equal(a.test_curve, b.test_curve)
    lines = [r.getMessage() for r in caplog.records if "feature group" in r.getMessage()]
    # The four-member head exceeds 2.5 members' worth of features: it trains anyway, with the heads on its members.
    assert lines == [
        "heads: digits: feature group 1/3, 5 heads on 4 members (0.1 MB): m0, m1, m2, m3",
        "heads: digits: feature group 2/3, 1 heads on 2 members (0.1 MB): m2, m5",
        "heads: digits: feature group 3/3, 2 heads on 2 members (0.1 MB): m4, m5",
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "head 6 (m0+m1+m2+m3) alone needs" in warnings[0]


def test_vision_heads_in_feature_groups_give_the_same_table(tmp_path):
    """evaluate_task and peek_ranking on real agent feature files: a budget that splits the heads changes nothing."""
    from taskspace.vision.agents import default_train_config, train_split_agent
    from taskspace.vision.data import load_digits
    from taskspace.vision.evaluate import evaluate_task, peek_ranking
    from taskspace.vision.extract import extract_agent_features
    from taskspace.vision.split import SplitConfig, make_split

    images = load_digits(seed=0)
    split = make_split(
        images,
        SplitConfig(
            probe_per_class=2,
            admin_train_per_class=6,
            admin_test_per_class=8,
            tasks=2,
            task_classes=3,
            agents=5,
            agent_classes=3,
            agent_train_per_class=10,
            seed=1,
        ),
    )
    paths = []
    for agent in split.agent_names:
        trained = train_split_agent(
            images, split, agent, default_train_config("digits", epochs=1, milestones=(), width=8), device="cpu"
        )
        paths.append(tmp_path / f"{agent}.h5")
        extract_agent_features(trained, images, split, paths[-1])
    agents = split.agent_names
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(3):
        order = list(rng.permutation(agents)[:3])
        rows += [
            dict(method="random", round=seed, k=k, rank=r + 1, member=m)
            for k in range(1, 4)
            for r, m in enumerate(order[:k])
        ]
    selection = pd.DataFrame(rows)
    task = split.task_names[0]
    validated = Protocol("validated", HeadConfig(epochs=4, batch_size=8, lr=1e-2, device="cpu"), val_per_class=2)
    paper = Protocol(
        "paper",
        HeadConfig(
            epochs=3,
            batch_size=8,
            optimizer="sgd",
            lr=0.1,
            momentum=0.0,
            init="default",
            standardize="none",
            select_on="test",
            device="cpu",
        ),
        {"random": 4},
    )
    whole = evaluate_task(paths, agents, split, task, selection, [validated, paper], seed=0)
    grouped = evaluate_task(paths, agents, split, task, selection, [validated, paper], seed=0, feature_budget_mb=1e-6)
    pd.testing.assert_frame_equal(grouped, whole, check_exact=True)
    paper_rows = whole[whole.protocol == "paper"]
    assert (
        set(whole.protocol) == {"validated", "paper"} and (paper_rows[paper_rows.method == "random"].epochs == 4).all()
    )
    assert sorted(whole[whole.method == "single"].members.unique()) == sorted(agents)  # every agent alone
    # the paper's heads train on all 6 admin images per class and hold none out; validated holds out 2
    from taskspace.vision.evaluate import _task_images

    paper_images, validated_images = (_task_images(paths, split, task, p.val_per_class, 0) for p in (paper, validated))
    assert len(paper_images.labels["train"]) == 6 * 3 and "dev" not in paper_images.labels
    assert len(validated_images.labels["train"]) == 4 * 3 and len(validated_images.labels["dev"]) == 2 * 3
    assert paper_rows.dev.isna().all() and whole[whole.protocol == "validated"].dev.notna().all()
    pd.testing.assert_frame_equal(
        peek_ranking(paths, agents, split, task, validated, seed=0, feature_budget_mb=1e-6),
        peek_ranking(paths, agents, split, task, validated, seed=0),
        check_exact=True,
    )
