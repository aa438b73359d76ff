import pandas as pd

from taskspace.lm.report import markdown, table2


def test_table2_summarises_methods_per_task_and_k():
    rows = [
        ("pos", "accuracy", "mmi", 0, 1, "a", 0.9),
        ("pos", "accuracy", "mmi", 0, 2, "a+b", 0.95),
        ("pos", "accuracy", "random", 0, 1, "b", 0.8),
        ("pos", "accuracy", "random", 1, 1, "c", 0.6),
        ("pos", "accuracy", "random", 0, 2, "b+c", 0.7),
        ("pos", "accuracy", "random", 1, 2, "a+c", 0.9),
        ("pos", "accuracy", "single", 0, 1, "b", 0.8),
    ]
    metrics = pd.DataFrame(rows, columns=["task", "metric", "method", "round", "k", "members", "test"])
    metrics = pd.concat([metrics.assign(protocol="validated"), metrics.assign(protocol="paper", test=metrics.test / 2)])
    table = table2(metrics[metrics.protocol == "validated"], baselines=["b"])
    both = table2(metrics, baselines=["b"])
    assert both.protocol.tolist() == ["validated"] * 2 + ["paper"] * 2 and both.mmi.tolist()[2:] == [0.45, 0.475]
    assert table.k.tolist() == [1, 2]
    assert table.mmi.tolist() == [0.9, 0.95]
    assert table.random_mean.round(6).tolist() == [0.7, 0.8]
    assert table["single b"].tolist() == [0.8, 0.8]
    text = markdown(table.drop(columns="protocol"))
    assert text.splitlines()[0] == "| task | metric | k | mmi | random_mean | random_std | random_n | single b |"
    sections = markdown(both)
    assert sections.startswith("### validated protocol\n") and "### paper protocol\n" in sections
    assert "| pos | accuracy | 1 | 0.900 | 0.700 |" in text
