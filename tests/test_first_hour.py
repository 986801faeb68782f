"""A new user's first hour: README's commands, mistakes in lrchain's words, Ctrl-C, output."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys

import pytest
from conftest import ROOT, clean_env, client_for, lrchain, newest_run_id, train

from lrchain.colours import FIXED, colour_of, colours_for
from lrchain.commands.preview import catalog
from lrchain.errors import ConfigError
from lrchain.overrides import check_command_line
from lrchain.progress import EpochPrinter

TOOLS = {"python": "python", "lrchain": "lrchain", "mlflow": "mlflow", "pip": "pip"}
ADMIN = ("sudo",)  # the team server's set-up, run by its administrator on that host


def readme_commands() -> list[list[str]]:
    """Every command of README's ```bash blocks, split as a shell would (comments dropped)."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():  # continued lines joined
            words = shlex.split(line, comments=True)
            while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value before a command
                words = words[1:]
            if words:
                commands.append(words)
    return commands


def test_every_readme_command_exists_after_set_up():
    targets = re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), re.M)
    for words in readme_commands():
        tool = words[0]
        if tool == "make":
            assert words[1] in targets, words
        elif tool == "source":
            assert (ROOT / words[1]).exists(), words
        elif tool in ADMIN:
            continue
        else:
            assert tool in TOOLS, f"README runs {tool!r}, which set-up does not provide: {words}"
            assert (ROOT / ".venv" / "bin" / TOOLS[tool]).exists(), words


def test_every_train_py_command_in_readme_names_real_options_and_keys():
    for words in readme_commands():
        if words[:2] == ["python", "train.py"] and "--config-dir" not in words:
            check_command_line(words[2:], ROOT / "conf")  # raises on an unknown option or key


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["sched=chian"], "sched: no option 'chian' (did you mean 'chain'?); allowed: chain,"),
        (
            ["sched.chain.exp.gama=0.8"],
            "sched.chain.exp.gama: sched.chain.exp has no key 'gama' (did you mean 'gamma'?)",
        ),
        (["trainer.epoch=3"], "trainer has no key 'epoch' (did you mean 'epochs'?)"),
        (["-m", "sched=step,chain", "sched.gamma=0.5"], "sched has no key 'gamma'"),
    ],
)
def test_typos_are_answered_with_the_closest_valid_names(args, words):
    with pytest.raises(ConfigError) as caught:
        check_command_line(args, ROOT / "conf")
    assert words in str(caught.value)
    assert "+" not in str(caught.value)  # never Hydra's "append with +KEY": the wrong fix


def test_a_typo_on_the_command_line_gets_lrchains_message_and_no_run(launch_dir):
    proc = train(launch_dir, "sched.chain.exp.gama=0.8", check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        "lrchain: sched.chain.exp.gama: sched.chain.exp has no key 'gama' (did you mean"
        " 'gamma'?); allowed: gamma, type"
    ]
    assert not (launch_dir / "mlflow.db").exists()


@pytest.mark.slow
def test_ctrl_c_ends_in_one_line_with_the_resume_command(launch_dir):
    proc = subprocess.Popen(
        [sys.executable, "train.py", "trainer.epochs=200"],
        cwd=launch_dir,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stdout:
        if re.search(r"epoch +2/200", line):
            proc.send_signal(signal.SIGINT)
            break
    _, err = proc.communicate(timeout=120)
    run_id = newest_run_id(client_for(launch_dir))
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        f"[lrchain] interrupted: run {run_id} is KILLED, its last checkpoint kept; continue it"
        f" with `lrchain resume {run_id}`"
    ]
    assert client_for(launch_dir).get_run(run_id).info.status == "KILLED"


def test_help_says_what_lrchain_is(launch_dir):
    proc = train(launch_dir, "--help")
    assert proc.stdout.startswith("lrchain trains a small vision model")
    assert "sched: chain, chain_plateau" in proc.stdout and "Powered by Hydra" not in proc.stdout


IMPORTED = """
import sys
from lrchain import cli
try:
    cli.main(sys.argv[1:])
except SystemExit:
    pass
heavy = ("torch", "mlflow", "matplotlib", "sklearn", "optuna")
print(",".join(m for m in heavy if m in sys.modules))
"""


@pytest.mark.parametrize("command", ["--help", "compare --help", "sync --help"])
def test_lrchain_help_imports_nothing_heavy(command):
    proc = subprocess.run(
        [sys.executable, "-c", IMPORTED, *command.split()], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == ""


def test_epoch_lines_line_up_whatever_the_run_names(caplog):
    metrics = {"lr": 0.1, "train/loss": 1.5, "val/loss": 1.25, "val/acc": 0.5, "epoch_seconds": 0.1}
    with caplog.at_level("INFO", logger="lrchain"):
        for name in ("step", "sched=warmup_cosine,seed=3"):
            EpochPrinter(name, 20)(3, metrics | {"lr": 0.0123456})
    first, second = (r.getMessage() for r in caplog.records)
    assert first.startswith("epoch  4/20") and first.endswith("  step")
    assert first.index("val/acc") == second.index("val/acc")
    assert first.rsplit("  ", 1)[0] == second.rsplit("  ", 1)[0]  # only the name differs


def test_every_schedule_keeps_one_colour_and_the_catalog_never_shares_one():
    names = catalog()
    assert len({colour_of(n) for n in names}) == len(names)
    assert set(names) <= set(FIXED)
    assert colours_for(["exp", "step"])["step"] == colours_for(["step", "chain"])["step"]
    picked = colours_for([f"sched=x{i}" for i in range(20)])
    assert len(set(picked.values())) == 20  # names outside the catalog still get distinct colours


def test_preview_of_the_whole_catalog_reads_in_a_terminal_and_in_a_grid(tmp_path):
    proc = lrchain(tmp_path, "preview", "all", "--out", str(tmp_path / "all"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines[:-1]) <= 100  # the table; the last line names files
    assert lines[0].split()[:3] == ["epoch", "1", "4"]  # epochs from 1
    assert len(lines) == 1 + len(catalog()) + 1  # header, a row per schedule, what it wrote
    from PIL import Image

    width, height = Image.open(tmp_path / "all.png").size
    assert height > 600 and width > 1000  # a grid of panels, not one crowded pair of axes


def test_a_run_ends_with_one_line_saying_what_it_reached():
    from lrchain.progress import summary_line

    history = [
        {"epoch": e, "metrics": {"val/loss": loss, "val/acc": acc}}
        for e, (loss, acc) in enumerate([(0.5, 0.8), (0.3, 0.9), (0.4, 0.9)])
    ]
    line = summary_line("chain", "abc123", history)
    assert line == (
        "[lrchain] chain (abc123) done: best val/loss 0.3000 at epoch 2,"
        " best val/acc 0.9000 at epoch 2, 3 epochs"
    )  # epochs counted from 1; the first epoch reaching the best accuracy
