"""Provoke each alarm on purpose and keep the evidence for docs/diagnostics.md.

    .venv/bin/python scripts/provoke_alarms.py --out runs/alarms --images docs/images/diagnostics

Three ring8 runs: D learning 100x faster than G under the minimax loss (dominance), a
generator forced to one point (collapse), and a NaN injected into D's loss at step 150
(watchdog). Each run's report.html is written; its curves are copied as PNGs, and with
Chromium + ChromeDriver installed a screenshot of the dominance report is saved too.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
from pathlib import Path

from gankit.config import TrainConfig
from gankit.losses import GANLoss
from gankit.outputs.report import write_report
from gankit.training.trainer import Trainer

COMMON = dict(dataset="ring8", model="toy-mlp", batch_size=64, device="cpu", log_every=5, sample_every=100,
              alarm_window=50, watch_every=5, tensorboard=False)  # fmt: skip


def dominance(out: Path) -> Trainer:
    config = TrainConfig(**COMMON, steps=400, loss="minimax", lr_g=5e-4, lr_d=5e-2, out=str(out))
    trainer = Trainer(config, progress=False)
    trainer.fit()
    return trainer


def collapse(out: Path) -> Trainer:
    trainer = Trainer(TrainConfig(**COMMON, steps=400, out=str(out)), progress=False)
    forward = trainer.generator.forward
    trainer.generator.forward = lambda z: forward(z) * 0.02  # every noise lands near the origin
    trainer.fit()
    return trainer


def nan(out: Path) -> Trainer:
    trainer = Trainer(TrainConfig(**COMMON, steps=400, checkpoint_every=100, out=str(out)), progress=False)
    loss_d, calls = trainer.loss.d, {"n": 0}

    def poisoned(real, fake):
        calls["n"] += 1
        value = loss_d(real, fake)
        return value * float("nan") if calls["n"] == 150 else value

    trainer.gan_step.loss = GANLoss(poisoned, trainer.loss.g, trainer.loss.g_needs_real)
    trainer.fit()
    return trainer


def screenshot(page: Path, png: Path) -> bool:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return False
    if not Path("/usr/bin/chromedriver").exists():
        return False
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,1800"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(page.resolve().as_uri())
        driver.save_screenshot(str(png))
    finally:
        driver.quit()
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/alarms")
    parser.add_argument("--images", default="docs/images/diagnostics")
    args = parser.parse_args()
    out, images = Path(args.out), Path(args.images)
    images.mkdir(parents=True, exist_ok=True)
    for name, provoke in (("dominance", dominance), ("collapse", collapse), ("nan", nan)):
        shutil.rmtree(out / name, ignore_errors=True)
        trainer = provoke(out / name)
        page = write_report(out / name).read_text()
        curves = re.search(r"id='curves' alt='curves' src='data:image/png;base64,([^']+)'", page)
        if curves:
            (images / f"{name}_curves.png").write_bytes(base64.b64decode(curves.group(1)))
        last_grid = sorted((out / name / "samples").glob("step_*.png"))[-1]
        shutil.copy(last_grid, images / f"{name}_samples.png")
        for line in (out / name / "metrics.jsonl").read_text().splitlines():
            record = json.loads(line)
            if "alarm" in record:
                print(
                    f"{name}: step {record['step']} {record['alarm']} {record['state']}: {record['message']}"
                )
        print(f"{name}: finished at step {trainer.step}, learning-rate factor {trainer.lr_factor:g}")
    if screenshot(out / "dominance" / "report.html", images / "report_dominance.png"):
        print(f"screenshot: {images / 'report_dominance.png'}")


if __name__ == "__main__":
    main()
