"""`gankit theory`: every check in one table, figures written to a directory."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from gankit.config import TrainConfig
from gankit.theory.checks import Check, exact_checks, format_table
from gankit.theory.empirical import Figure1Run, fit_discriminator, train_figure1
from gankit.theory.figures import plot_saturation, render_figure1, render_ring, ring_stages
from gankit.training.trainer import Trainer


@dataclasses.dataclass(frozen=True)
class TheoryReport:
    rows: list[Check]
    jsd_curve: list[tuple[int, float]]
    figures: list[Path]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)


def run_theory(out: Path, quick: bool = False, seed: int = 0) -> TheoryReport:
    """Run the exact checks, the empirical checks with real training, and draw the figures.

    `quick` shortens every training run (for tests); its thresholds stay the same for the
    exact checks and for D vs D*, while Figure 1 is drawn from a shorter run whose
    end-of-training numbers are reported but not checked.
    """
    out.mkdir(parents=True, exist_ok=True)
    rows = exact_checks()
    fit = fit_discriminator(steps=1000 if quick else 2000, seed=seed)
    rows += [
        Check("neural D vs D*: max |D − D*| (central 99%)", 0.0, fit.max_abs_error, 0.05),
        Check("neural D: sample V(D,G) vs −log4 + 2·JSD", fit.c_of_g, fit.v_estimate, 0.02),
    ]
    run = train_figure1(steps=600, snapshot_every=60, seed=seed) if quick else train_figure1(seed=seed)
    rows += figure1_quick_checks(run) if quick else figure1_checks(run)
    figures = [
        out / "saturation.png",
        out / "figure1.png",
        out / "figure1.gif",
        out / "ring8.png",
        out / "ring8.gif",
    ]
    plot_saturation(figures[0])
    render_figure1(run, figures[1], figures[2])
    ring_steps = 400 if quick else 3000
    config = TrainConfig(
        dataset="ring8",
        model="toy-mlp",
        noise="normal",
        noise_dim=2,
        batch_size=256,
        lr_g=1e-3,
        lr_d=1e-3,
        steps=ring_steps,
        seed=seed,
        device="cpu",
        out=str(out / "ring8-run"),
    )
    trainer = Trainer(config, progress=False)
    stages, grid = ring_stages(trainer, ring_steps, max(1, ring_steps // 40))
    render_ring(stages, trainer.dataset.tensor("test")[:2000].numpy(), figures[3], figures[4], grid)
    return TheoryReport(rows, run.jsd_curve, figures)


def format_report(report: TheoryReport) -> str:
    curve = ", ".join(
        f"{step}:{value:.4f}" for step, value in report.jsd_curve[:: max(1, len(report.jsd_curve) // 10)]
    )
    failed = [r.name for r in report.rows if not r.passed]
    lines = [
        format_table(report.rows),
        "",
        f"Figure 1 JSD over training (step:nats): {curve}",
        "figures: " + ", ".join(str(p) for p in report.figures),
    ]
    lines.append(
        f"{len(report.rows) - len(failed)} passed, {len(failed)} failed"
        if failed
        else f"all {len(report.rows)} checks passed"
    )
    return "\n".join(lines)


__all__ = ["TheoryReport", "format_report", "run_theory"]


def figure1_checks(run: Figure1Run) -> list[Check]:
    """Figure 1 at convergence: p_g = p_data (JSD 0) and D = 1/2 on the data's mass."""
    return [
        Check("Figure 1: JSD(p_data‖p_g) at the end (histogram, 100k)", 0.0, run.final_jsd, 0.01),
        Check("Figure 1: max |D(x) − 1/2| on p_data's 99% mass", 0.0, run.final_d_max_dev, 0.05),
    ]


def figure1_quick_checks(run: Figure1Run, mean: float = 4.0) -> list[Check]:
    """Figure 1 after a run too short to converge (`--quick`): G must still have moved onto the
    data. It starts two standard deviations off (JSD about 0.6, mean 1 below): the JSD must fall
    below a quarter of its start, and G's sample mean come within 0.15 of the data's (in 600
    steps seeds 0-2 reach 0.027-0.070 and 0.011-0.053). D is still far from 1/2 then."""
    start = run.jsd_curve[0][1]
    end_mean = float(run.snapshots[-1].samples.mean())
    return [
        Check(
            "Figure 1 [quick]: JSD(p_data‖p_g) at the end < ¼ of its start",
            start / 4,
            run.final_jsd,
            0.0,
            "<",
        ),
        Check("Figure 1 [quick]: mean of G's samples at the end vs the data's", mean, end_mean, 0.15),
    ]
