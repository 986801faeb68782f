"""Body and head with their own rates (`optim.head_lr`): built, checked, trained, logged, shown."""

from __future__ import annotations

import argparse
import csv
import io
import math
import re

import pytest
import torch
from conftest import (
    artifact_text,
    client_for,
    history,
    kill_after_epoch,
    lrchain,
    project,
    runs_of,
    train,
)
from torch import nn

from lrchain.configs import compose, plain
from lrchain.errors import ConfigError
from lrchain.models import build_model, build_model_optimizer
from lrchain.param_groups import head_layer, sched_for_groups
from lrchain.testing import start_train
from lrchain.validate import validate

EPOCHS, STEPS = 4, 23  # digits: 1,437 training images in batches of 64
HEAD = ("optim.head_lr=0.5", "sched=onecycle", f"trainer.epochs={EPOCHS}")


def torch_onecycle(epochs: int = EPOCHS) -> tuple[list[float], list[float]]:
    """Body and head lr per epoch from torch's own OneCycleLR on two groups (lr 0.1 and 0.5),
    with conf/sched/onecycle.yaml's arguments and max_lr 0.2 kept in each group's ratio."""
    groups = [{"params": [torch.zeros(1, requires_grad=True)]} for _ in range(2)]
    groups[1]["lr"] = 0.5
    opt = torch.optim.SGD(groups, lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=[0.2, 1.0], total_steps=epochs * STEPS, pct_start=0.3, anneal_strategy="cos"
    )
    body, head = [], []
    for _ in range(epochs):
        body.append(opt.param_groups[0]["lr"])
        head.append(opt.param_groups[1]["lr"])
        for _ in range(STEPS):
            opt.step()
            scheduler.step()
    return body, head


@pytest.mark.parametrize("model", ["cnn", "mlp", "resnet18"])
def test_the_head_is_the_final_linear_layer_and_the_body_everything_else(model):
    config = plain(compose([f"model={model}", "optim.head_lr=0.5"]))
    net = build_model(config["model"], (1, 8, 8), 10)
    optimizer = build_model_optimizer(config["optim"], net)
    body, head = optimizer.param_groups
    assert isinstance(head_layer(net), nn.Linear) and head_layer(net).out_features == 10
    assert head["params"] == list(head_layer(net).parameters())
    assert len(body["params"]) + len(head["params"]) == len(list(net.parameters()))
    assert (body["lr"], head["lr"]) == (0.1, 0.5)


def test_without_head_lr_one_group_trains_at_optim_lr():
    config = plain(compose([]))
    assert config["optim"]["head_lr"] is None
    net = build_model(config["model"], (1, 8, 8), 10)
    [group] = build_model_optimizer(config["optim"], net).param_groups
    assert group["lr"] == 0.1 and len(group["params"]) == len(list(net.parameters()))


def test_one_number_for_a_rate_is_the_bodys_and_the_head_keeps_its_ratio():
    optim = {"lr": 0.1, "head_lr": 0.5}
    tree = {
        "sequence": {
            "cyclic": {"type": "CyclicLR", "base_lr": 0.01, "max_lr": [0.1, 0.3]},
            "plateau": {"type": "ReduceLROnPlateau", "monitor": "val/loss", "min_lr": 0.001},
        },
        "milestones": [3],
    }
    scaled = sched_for_groups(tree, optim)
    assert scaled["sequence"]["cyclic"]["base_lr"] == [0.01, 0.05]
    assert scaled["sequence"]["cyclic"]["max_lr"] == [0.1, 0.3]  # a list says both, as given
    assert scaled["sequence"]["plateau"]["min_lr"] == [0.001, 0.005]
    assert sched_for_groups(tree, {"lr": 0.1, "head_lr": None}) is tree


REFUSED = [
    (["optim.head_lr=-1"], "optim.head_lr: got -1; allowed: null (the head trains at optim.lr)"),
    (["optim.head_lr=nan"], "optim.head_lr: got nan; allowed: null"),
    (
        ["optim.head_lr=0.5", "sched=cyclic", "sched.max_lr=[0.1,0.2,0.3]"],
        "sched.max_lr: got [0.1, 0.2, 0.3]; allowed: a number above 0, or a list of 2"
        " (one per param group: body, head)",
    ),
    (
        ["sched=onecycle", "sched.max_lr=[0.2,1.0]"],
        "sched.max_lr: got [0.2, 1.0]; allowed: a number above 0, or a list of 1 (one per param"
        " group; optim.head_lr gives the model's head a group of its own)",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), REFUSED, ids=[" ".join(o) for o, _ in REFUSED])
def test_a_head_lr_or_rate_list_that_does_not_fit_is_refused_before_a_run(overrides, message):
    with pytest.raises(ConfigError) as caught:
        validate(plain(compose(overrides)))
    assert str(caught.value).startswith(message), caught.value


def test_per_group_lists_for_body_and_head_are_accepted():
    validate(plain(compose(["optim.head_lr=0.5", "sched=onecycle", "sched.max_lr=[0.2,0.9]"])))


def test_preview_draws_the_body_and_the_head_without_data(tmp_path, monkeypatch):
    from lrchain import data
    from lrchain.commands import preview

    monkeypatch.setattr(data, "load_data", lambda *a, **k: pytest.fail("preview loaded data"))
    drawn = {}
    monkeypatch.setattr(
        "lrchain.preview_figure.plot_lr_curves",
        lambda lines, path, title, heads=None: drawn.update(lines=lines, heads=heads) or path,
    )
    out = tmp_path / "p"
    args = argparse.Namespace(names=["onecycle"], overrides=list(HEAD[:1]), epochs=EPOCHS, out=out)
    assert preview.run(args) == 0
    assert list(drawn["lines"]) == ["onecycle"] and list(drawn["heads"]) == ["onecycle"]
    rows = list(csv.DictReader(io.StringIO((tmp_path / "p.csv").read_text())))
    body, head = torch_onecycle()
    assert [float(r["onecycle"]) for r in rows] == body
    assert [float(r["onecycle head"]) for r in rows] == head


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`python train.py optim.head_lr=0.5 sched=onecycle`, 4 epochs, in a fresh folder."""
    folder = project(tmp_path_factory.mktemp("head"))
    train(folder, *HEAD, "trainer.checkpoint_every=0")
    [run] = runs_of(folder)
    return folder, run.info.run_id


@pytest.mark.slow
def test_train_logs_lr_and_lr_head_exactly_as_torch_onecycle_on_two_groups(trained):
    folder, run_id = trained
    body, head = torch_onecycle()
    assert history(folder, run_id, "lr") == list(enumerate(body))
    assert history(folder, run_id, "lr/head") == list(enumerate(head))
    assert all(math.isclose(h, 5 * b, rel_tol=1e-12) for b, h in zip(body, head, strict=True))
    text = artifact_text(folder, run_id, "lr_expected.csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["epoch", "lr", "lr/head"]
    assert [float(r["lr"]) for r in rows] == body
    assert [float(r["lr/head"]) for r in rows] == head
    assert len(history(folder, run_id, "lr_step")) == EPOCHS * STEPS


@pytest.mark.slow
def test_comparison_figures_draw_lr_head_beside_lr(trained, tmp_path, monkeypatch):
    from lrchain import comparison

    folder, run_id = trained
    figures = []  # what the comparison hands over to be drawn (here or by lrchain.drawing's helper)
    monkeypatch.setattr(comparison, "draw_all", figures.extend)
    client = client_for(folder)
    comparison.write_comparison(client, [client.get_run(run_id)], tmp_path, "head")
    [lr_figure] = [f for f in figures if f.function == "plot_run_lrs"]
    [(name, (epochs, lrs))] = lr_figure.kwargs["heads"].items()
    assert name == "onecycle" and epochs == list(range(1, EPOCHS + 1))
    assert lrs == [v for _, v in history(folder, run_id, "lr/head")]


@pytest.mark.slow
def test_reproduce_compares_lr_head_too(trained):
    folder, run_id = trained
    proc = lrchain(folder, "reproduce", run_id)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.startswith("lr/head "))
    assert row.split()[1:] == [str(EPOCHS), "0"]
    assert "agree bit for bit: reproduced" in proc.stdout


@pytest.mark.slow
def test_resume_restores_the_schedule_of_both_groups(trained):
    folder, reference = trained
    proc = start_train(folder, *HEAD, "trainer.checkpoint_every=0")
    run_id = kill_after_epoch(proc, folder, 2)
    done = lrchain(folder, "resume", run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r" from epoch [1-9]", done.stdout), done.stdout  # a checkpoint, not scratch
    for key in ("lr", "lr/head", "lr_step", "train/loss", "val/loss"):
        assert history(folder, run_id, key) == history(folder, reference, key), key


def test_a_resume_cannot_add_or_drop_the_heads_group():
    from lrchain.commands.resume import check_same_groups

    before = plain(compose([]))
    check_same_groups(before, plain(compose(["optim.lr=0.05"])))
    with pytest.raises(ConfigError, match=r"^optim.head_lr: got 0.5, the run trained with None"):
        check_same_groups(before, plain(compose(["optim.head_lr=0.5"])))
