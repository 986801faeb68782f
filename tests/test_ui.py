"""The MLflow UI serves what a sweep logged: checked over its REST API and in headless Chromium."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, clean_env, project, train

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FILES = ("lr.png", "loss.png", "summary.csv", "summary.md", "groups.png", "groups.csv", "groups.md")
COMPARISON = {f"comparison/{name}" for name in FILES}
SCHEDS = ("step", "exp", "chain")
HISTORY = "/api/2.0/mlflow/metrics/get-history"
ML_VIEW = "workflowType=machine_learning"  # the UI's "Model training" view, not its GenAI one


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A launch folder where `python train.py -m sched=step,exp,chain seed=0,1` ran, 4 epochs."""
    folder = tmp_path_factory.mktemp("ui") / "project"
    project(folder)
    proc = train(folder, "-m", "sched=step,exp,chain", "seed=0,1", "trainer.epochs=4")
    (folder / "sweep.out").write_text(proc.stdout)  # what the user read, links included
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(sweep: Path):
    """`mlflow server` on the sweep's store, started in its launch folder; the base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = sweep / "mlflow-server.log"
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", f"sqlite:///{sweep / 'mlflow.db'}", "--workers", "1"]
    env = clean_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")  # no background job workers
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            command,
            cwd=sweep,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: teardown ends its workers too
        )
    try:
        wait_until_up(url, proc, log_path)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):  # whatever of its group is left
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_until_up(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"mlflow server not up after {timeout}s:\n{log_path.read_text()}")


def get(url: str, endpoint: str, **params: str) -> dict:
    with urllib.request.urlopen(f"{url}{endpoint}?{urllib.parse.urlencode(params)}") as response:
        return json.load(response)


def post(url: str, endpoint: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{url}{endpoint}", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def tags(run: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def sweep_runs(url: str) -> tuple[str, dict, list[dict]]:
    """Experiment id, parent run and child runs of the `lrchain` experiment, read over REST."""
    experiment = get(url, "/api/2.0/mlflow/experiments/get-by-name", experiment_name="lrchain")
    experiment_id = experiment["experiment"]["experiment_id"]
    runs = post(url, "/api/2.0/mlflow/runs/search", {"experiment_ids": [experiment_id]})["runs"]
    (parent,) = [r for r in runs if tags(r).get("lrchain.sweep") == "true"]
    parent_id = parent["info"]["run_id"]
    children = [r for r in runs if tags(r).get("mlflow.parentRunId") == parent_id]
    return experiment_id, parent, children


def test_rest_api_serves_the_sweep_its_lr_histories_and_comparison(server):
    _, parent, children = sweep_runs(server)
    assert parent["info"]["run_name"].startswith("sched=step,exp,chain seed=0,1 trainer.epochs=4 (")
    assert parent["info"]["status"] == "FINISHED"
    names = sorted(f"sched={s},seed={seed}" for s in SCHEDS for seed in (0, 1))
    assert sorted(r["info"]["run_name"] for r in children) == names

    lrs = {}
    for run in children:
        run_id = run["info"]["run_id"]
        history = get(server, HISTORY, run_id=run_id, metric_key="lr")["metrics"]
        lrs[run["info"]["run_name"]] = [
            m["value"] for m in sorted(history, key=lambda m: m["step"])
        ]
    expected = {
        "step": [0.1, 0.1, 0.1, 0.05],
        "exp": [0.1, 0.09, 0.081, 0.0729],
        "chain": [0.1, 0.09, 0.081, 0.03645],
    }
    assert all(lr == pytest.approx(expected[name.split(",")[0][6:]]) for name, lr in lrs.items())

    parent_id = parent["info"]["run_id"]
    listed = get(server, "/api/2.0/mlflow/artifacts/list", run_id=parent_id, path="comparison")
    assert {f["path"] for f in listed["files"]} == COMPARISON
    query = urllib.parse.urlencode({"run_uuid": parent_id, "path": "comparison/summary.md"})
    with urllib.request.urlopen(f"{server}/get-artifact?{query}") as response:
        summary = response.read().decode()
    assert all(r["info"]["run_id"] in summary for r in children)


def test_compare_reads_the_same_runs_through_the_server(server, tmp_path):
    from lrchain.cli import main as lrchain

    _, parent, _ = sweep_runs(server)
    parent_id = parent["info"]["run_id"]
    assert lrchain(["compare", parent_id, "--tracking-uri", server, "--out", str(tmp_path)]) == 0
    for name in ("summary.csv", "groups.csv"):
        query = urllib.parse.urlencode({"run_uuid": parent_id, "path": f"comparison/{name}"})
        with urllib.request.urlopen(f"{server}/get-artifact?{query}") as response:
            assert (tmp_path / name).read_text() == response.read().decode()


@pytest.fixture
def browser(tmp_path: Path):
    """A headless Chromium driven by selenium; skips where either is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    for binary in (CHROMIUM, CHROMEDRIVER):
        if not binary.exists():
            pytest.skip(
                f"{binary} missing: apt-get install chromium chromium-driver (.ci/run does)"
            )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--window-size=1440,800",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def page_text(driver, *expected: str, timeout: float = 90) -> str:
    """The page's visible text, once every `expected` string is in it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def loaded(d):
        text = d.find_element(By.TAG_NAME, "body").text
        return text if all(e in text for e in expected) else False

    return WebDriverWait(driver, timeout, poll_frequency=0.5).until(loaded)


def screenshot(driver, path: Path, docs_name: str | None = None) -> Path:
    """Save to `path`; with LRCHAIN_SCREENSHOTS=1 also a small copy under docs/."""
    time.sleep(1)  # let the last render settle
    driver.save_screenshot(str(path))
    if docs_name and os.environ.get("LRCHAIN_SCREENSHOTS") == "1":
        from PIL import Image

        with Image.open(path) as image:
            image.convert("RGB").quantize(colors=64).save(ROOT / "docs" / docs_name, optimize=True)
    return path


def printed_links(sweep: Path, server: str) -> tuple[str, str]:
    """The two links the sweep printed at its end, pointed at this test's server."""
    from lrchain.ui import LOCAL_UI

    lines = (sweep / "sweep.out").read_text().splitlines()
    runs = next(ln for ln in lines if ln.startswith("[lrchain] runs in MLflow's UI"))
    curves = next(ln for ln in lines if ln.startswith("[lrchain] their learning rates side"))
    return tuple(ln.rsplit(" ", 1)[1].replace(LOCAL_UI, server) for ln in (runs, curves))


def test_the_links_printed_at_the_end_of_a_sweep_open_its_runs_and_lr_curves(
    sweep, server, browser, tmp_path
):
    experiment_id, parent, children = sweep_runs(server)
    runs_link, lr_link = printed_links(sweep, server)
    assert ML_VIEW in runs_link  # the runs view, not MLflow 3's GenAI overview
    browser.get(runs_link)
    text = page_text(browser, parent["info"]["run_name"], "matching runs")
    assert "Detect Issues" not in text
    browser.get(lr_link)
    names = [r["info"]["run_name"] for r in children]
    text = page_text(browser, *names)  # one series per run of the sweep, in one chart
    screenshot(browser, tmp_path / "lr_link.png", "mlflow_lr_link.png")
    assert "lr" in text.split() and parent["info"]["run_name"] not in text


def test_browser_shows_the_sweep_and_its_comparison(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    experiment_id, parent, children = sweep_runs(server)
    names = sorted(r["info"]["run_name"] for r in children)
    parent_name = parent["info"]["run_name"]

    browser.get(f"{server}/#/experiments/{experiment_id}?{ML_VIEW}")
    page_text(browser, parent_name)
    for close in browser.find_elements(By.CSS_SELECTOR, "button[aria-label='Close']"):
        if close.is_displayed():
            close.click()  # the assistant panel covers the runs table
    for expand in browser.find_elements(By.CSS_SELECTOR, "button[data-component-id*='runname']"):
        if expand.is_displayed():
            expand.click()  # show the children under their parent run
    lines = page_text(browser, parent_name, *names).splitlines()
    shot = screenshot(browser, tmp_path / "experiment.png", "mlflow_ui.png")
    assert parent_name in lines and set(names) <= set(lines)
    assert shot.stat().st_size > 10_000

    artifacts = f"#/experiments/{experiment_id}/runs/{parent['info']['run_id']}/artifacts"
    browser.get(f"{server}/{artifacts}/comparison/summary.md?{ML_VIEW}")
    ids = {r["info"]["run_id"]: r["info"]["run_name"] for r in children}
    text = page_text(browser, "lr.png", "loss.png", "summary.csv", "summary.md", *ids)
    screenshot(browser, tmp_path / "artifacts.png")
    cells = [line.strip() for line in text.splitlines()]
    for run_id, name in ids.items():  # the rendered summary: a row per child, id then name
        row = cells.index(run_id)
        assert name in cells[row + 1].split(), cells[row : row + 3]


def click(driver, css: str, text: str | None = None, timeout: float = 90) -> None:
    """Click the first visible element matching `css` (whose text is `text`), once it shows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def found(d):
        for element in d.find_elements(By.CSS_SELECTOR, css):
            if element.is_displayed() and (text is None or element.text == text):
                return element
        return False

    element = WebDriverWait(driver, timeout, poll_frequency=0.5).until(found)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def escape(driver) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)


def test_browser_groups_runs_by_schedule_with_their_average_metrics(server, browser, tmp_path):
    """MLflow's own "Group by" on the param sched.name: a row per schedule, its runs averaged."""
    from selenium.webdriver.common.by import By

    experiment_id, _, children = sweep_runs(server)
    browser.get(f"{server}/#/experiments/{experiment_id}?{ML_VIEW}")
    page_text(browser, "matching runs")
    for close in browser.find_elements(By.CSS_SELECTOR, "button[aria-label='Close']"):
        if close.is_displayed():
            close.click()  # the assistant panel covers the runs table
    click(browser, "button[data-component-id*='groupbyselector']")
    click(browser, "[role='menuitemcheckbox']", "sched.name")
    page_text(browser, "Group by: sched.name")
    escape(browser)
    click(browser, "button[data-component-id*='columnselector']")
    for column in ("val/loss", "val/acc", "Dataset", "Source", "Models"):  # shown, then hidden
        click(browser, f"span[title='{column}']")
    escape(browser)
    page_text(browser, "val/loss", *(f"Group: {s}" for s in SCHEDS))
    for sched in SCHEDS:  # fold each group to its one row
        click(browser, f"div[row-id='param.sched.name.{sched}'] span[role='button']")

    for sched in SCHEDS:
        runs = [r for r in children if tags(r)["lrchain.sched"] == sched]
        latest = [m["value"] for r in runs for m in r["data"]["metrics"] if m["key"] == "val/loss"]
        rows = browser.find_elements(By.CSS_SELECTOR, f"div[row-id='param.sched.name.{sched}']")
        text = "\n".join(row.text for row in rows).splitlines()
        assert f"Group: {sched}" in text and str(len(runs)) in text, text
        cell = f"div[row-id='param.sched.name.{sched}'] [col-id='metrics.`val/loss`']"
        shown = float(browser.find_element(By.CSS_SELECTOR, cell).text)
        assert shown == pytest.approx(sum(latest) / len(latest)), (sched, shown, latest)
    browser.set_window_size(1320, 620)
    shot = screenshot(browser, tmp_path / "group_by.png", "mlflow_group_by.png")
    assert shot.stat().st_size > 10_000
