"""The two evaluation protocols on their behaviour: the paper's SGD schedule, raw features, nn.Linear's init,
best-test or best-dev epoch, per-method epochs; the validated protocol's z-scored features and dev choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO
from sklearn.datasets import load_digits

import taskspace.heads.train as trainer
from taskspace.config import PAPER_PROTOCOL, load_config
from taskspace.figures import violin_rows
from taskspace.heads import HeadConfig, Protocol, Split, protocols_from_config, train_heads

pytestmark = pytest.mark.usefixtures("one_torch_thread")
PAPER_VISION = HeadConfig.from_mapping({**PAPER_PROTOCOL["vision"]["heads"], "epochs": 25, "device": "cpu"})


@pytest.fixture(scope="module")
def digits():
    images, labels = load_digits(return_X_y=True)
    features = (images[:, :16] * 3.0 + 5.0).astype(np.float32)  # two members of 8 raw columns, far from z-scored
    return {
        name: Split(features[rows], labels[rows])
        for name, rows in (("train", slice(0, 200)), ("dev", slice(200, 400)), ("test", slice(400, 700)))
    }


def _train(data, config, heads=((0,), (0, 1)), dev=True):
    return train_heads(
        data["train"], data["dev"] if dev else None, data["test"], [8, 8], heads, config=config, member_names=["a", "b"]
    )


def test_paper_sgd_schedule_is_multisteplr_stepped_per_epoch(digits, monkeypatch):
    steps_per_epoch = -(-200 // 128)
    reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    schedule = torch.optim.lr_scheduler.MultiStepLR(reference, milestones=[5, 20], gamma=0.1)
    expected = []
    for _ in range(25):
        expected += [reference.param_groups[0]["lr"]] * steps_per_epoch
        reference.step()
        schedule.step()
    seen = []
    step = torch.optim.SGD.step
    monkeypatch.setattr(
        torch.optim.SGD,
        "step",
        lambda self, *a, **k: (
            seen.append((self.param_groups[0]["lr"], self.param_groups[0]["momentum"])),
            step(self, *a, **k),
        )[1],
    )
    _train(digits, PAPER_VISION, dev=False)
    np.testing.assert_allclose([lr for lr, _ in seen], expected, rtol=1e-12)
    assert {momentum for _, momentum in seen} == {0.0}
    assert [PAPER_VISION.lr_at(e) for e in (1, 5, 6, 20, 21)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])


@pytest.mark.parametrize("standardize", ["none", "column"])
def test_raw_or_z_scored_features_reach_the_head(digits, monkeypatch, standardize):
    reached = []
    epoch = trainer._train_epoch
    monkeypatch.setattr(
        trainer,
        "_train_epoch",
        lambda bank, opt, train, *a: (reached.append(train.x.numpy().copy()), epoch(bank, opt, train, *a))[1],
    )
    _train(digits, HeadConfig(epochs=1, standardize=standardize, device="cpu"))
    raw = digits["train"].features
    if standardize == "none":
        np.testing.assert_array_equal(reached[0], raw)
    else:
        std = raw.std(0)
        expected = (raw - raw.mean(0)) / np.where(std > 1e-12, std, 1.0)
        np.testing.assert_allclose(reached[0], expected, atol=1e-4)


def test_default_init_is_nn_linear_and_independent_of_the_heads_beside_it(digits):
    config = HeadConfig(epochs=3, init="default", standardize="none", device="cpu", seed=5)
    together = _train(digits, config)
    alone = _train(digits, config, heads=[(0, 1)])[0]
    np.testing.assert_allclose(together[1].train_loss_curve, alone.train_loss_curve, rtol=1e-5)
    zero = _train(digits, HeadConfig(epochs=3, standardize="none", device="cpu", seed=5), heads=[(0, 1)])[0]
    assert not np.allclose(zero.train_loss_curve, alone.train_loss_curve)
    # nn.Linear's bound: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and bias
    call, members, _ = trainer._prepare_call(
        digits["train"],
        digits["dev"],
        digits["test"],
        [8, 8],
        [(0, 1)],
        trainer.accuracy,
        config,
        None,
        "flat",
        ["a", "b"],
    )
    bank = trainer._HeadBank(members, call)
    weights = torch.cat([*bank.weights, bank.bias]).detach()
    assert weights.abs().max() <= 1 / np.sqrt(16) and weights.abs().max() > 0.8 / np.sqrt(16)


def test_paper_vision_reports_the_best_test_epoch_without_a_dev_split(digits):
    results = _train(digits, PAPER_VISION, dev=False)
    for r in results:
        assert r.test == r.test_curve.max() and np.isnan(r.dev)
        assert r.best_epoch == r.evaluated_epochs[int(np.argmax(r.test_curve))]
        assert r.evaluated_epochs.tolist() == list(range(1, 26))  # every epoch, as the paper's script
    with pytest.raises(Exception, match="select_on='dev' needs a dev split"):
        _train(digits, HeadConfig(epochs=1, device="cpu"), dev=False)


def test_per_method_epochs_and_the_protocols_of_the_demo_config():
    config = load_config(REPO / "config.yaml")
    vision = protocols_from_config(config["vision"]["experiments"]["digits"]["evaluation"], 0, "cpu")
    assert [p.name for p in vision] == ["validated", "paper"]
    validated, paper = vision
    assert validated.val_per_class == 1 and validated.heads.select_on == "dev"
    assert paper.val_per_class is None and paper.heads.select_on == "test" and paper.heads.standardize == "none"
    assert [paper.config_for(m).epochs for m in ("mmi", "random", "peek")] == [2000, 1500, 1500]
    assert {validated.config_for(m).epochs for m in ("mmi", "random", "peek")} == {200}
    groups = paper.epoch_groups(["mmi", "random", "peek", "mmi"])
    assert sorted(groups.values()) == [[0, 3], [1, 2]]
    lm_validated, lm_paper = protocols_from_config(config["lm"]["evaluation"], 0, "cpu")
    assert lm_validated.heads.standardize == "column" and lm_paper.heads.standardize == "none"
    assert lm_paper.heads.select_on == lm_validated.heads.select_on == "dev"  # the paper's LM: best dev epoch
    assert (lm_paper.heads.epochs, lm_paper.heads.batch_size, lm_paper.heads.batch_unit) == (40, 64, "groups")


def test_protocol_config_for_a_method_without_its_own_epochs():
    protocol = Protocol("paper", HeadConfig(epochs=7), {"mmi": 9})
    assert protocol.config_for("random") is protocol.heads and protocol.config_for("mmi").epochs == 9


def test_fig3_violin_leaves_out_mmis_first_pick():
    rows = pd.DataFrame(
        [
            dict(method="mmi", round=0, k=1, members="a", test=0.9),
            dict(method="mmi", round=0, k=2, members="a+b", test=0.9),
            *[dict(method="random", round=r, k=1, members=m, test=0.5) for r, m in enumerate("abc")],
            dict(method="random", round=0, k=2, members="a+c", test=0.5),
        ]
    )
    violins = violin_rows(rows)
    assert violins[violins.k == 1].members.tolist() == ["b", "c"]
    assert violins[violins.k == 2].members.tolist() == ["a+c"]
