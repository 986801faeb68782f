"""Make the README's pictures from a real sweep: docs/comparison.png and docs/mlflow_ui.png.

    .venv/bin/python scripts/screenshots.py [--epochs N] [--no-ui]

The comparison figure comes from `python train.py -m sched=step,exp,chain` in a scratch folder;
the UI screenshot from the browser test (tests/test_ui.py) run with LRCHAIN_SCREENSHOTS=1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from lrchain.testing import clean_env, launch_folder

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
COLOURS = 96  # a palette PNG keeps each picture well under 200 KB


def sweep(folder: Path, epochs: int) -> Path:
    """Run the classic sweep in `folder`; return its comparison folder."""
    launch_folder(folder)
    args = ["-m", "sched=step,exp,chain", f"trainer.epochs={epochs}"]
    subprocess.run([sys.executable, "train.py", *args], cwd=folder, env=clean_env(), check=True)
    (comparison,) = folder.glob("multirun/*/*/comparison")
    return comparison


def stack(images: list[Path], path: Path) -> Path:
    """The images one above the other on white, saved as a small palette PNG."""
    from PIL import Image

    opened = [Image.open(p).convert("RGB") for p in images]
    width = max(im.width for im in opened)
    canvas = Image.new("RGB", (width, sum(im.height for im in opened)), "white")
    top = 0
    for im in opened:
        canvas.paste(im, ((width - im.width) // 2, top))
        top += im.height
    canvas.quantize(colors=COLOURS).save(path, optimize=True)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12, help="epochs per job (default: 12)")
    parser.add_argument("--no-ui", action="store_true", help="skip the MLflow UI screenshot")
    args = parser.parse_args()
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lrchain-shots-") as scratch:
        comparison = sweep(Path(scratch), args.epochs)
        made = [stack([comparison / "lr.png", comparison / "loss.png"], DOCS / "comparison.png")]
    if not args.no_ui:
        test = "tests/test_ui.py::test_browser_shows_the_sweep_and_its_comparison"
        env = clean_env(LRCHAIN_SCREENSHOTS="1")
        shot = DOCS / "mlflow_ui.png"
        before = shot.stat().st_mtime_ns if shot.exists() else None
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rs", test], cwd=ROOT, env=env, check=True
        )
        if not shot.exists() or shot.stat().st_mtime_ns == before:
            print(f"{shot} not made: the browser test was skipped (see above)", file=sys.stderr)
            return 1
        made.append(shot)
    for path in made:
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
