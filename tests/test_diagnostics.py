"""Per-step signals, alarms provoked on purpose, the NaN watchdog, and TensorBoard."""

import dataclasses
import json
import math

import pytest
import torch

from gankit.cli import main
from gankit.config import TrainConfig
from gankit.monitor.alarms import CollapseAlarm, DominanceAlarm, FiniteChecks, NonFiniteError, check_finite
from gankit.outputs.report import render_report
from gankit.training.resume import resume
from gankit.training.trainer import Trainer


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _ring(tmp_path, name, *extra):
    args = ["train", "--dataset", "ring8", "--model", "toy-mlp", "--batch-size", "64", "--device", "cpu",
            "--out", str(tmp_path / name), "--quiet", "--log-every", "5", "--alarm-window", "50",
            *extra]  # fmt: skip
    return main(args), tmp_path / name


def test_every_signal_is_logged(tmp_path):
    code, run = _ring(tmp_path, "signals", "--steps", "10", "--log-every", "1")
    assert code == 0
    record = _records(run)[-1]
    for key in ("loss/d", "loss/g", "d/real", "d/fake", "v/estimate", "jsd/lower_bound", "grad/d", "grad/g",
                "lr/g", "lr/d", "samples/s", "diversity/ratio"):  # fmt: skip
        assert key in record and math.isfinite(record[key]), key
    assert record["jsd/lower_bound"] == pytest.approx(max(0.0, (record["v/estimate"] + math.log(4)) / 2))
    assert record["lr/g"] == 2e-4 and record["grad/d"] > 0


def test_dominance_alarm_fires_when_d_learns_100x_faster(tmp_path, capsys):
    code, run = _ring(tmp_path, "dominance", "--steps", "200", "--loss", "minimax", "--lr-g", "5e-4",
                      "--lr-d", "5e-2", "--no-alarm-collapse")  # fmt: skip
    assert code == 0
    alarms = [r for r in _records(run) if r.get("alarm") == "dominance"]
    assert alarms and alarms[0]["state"] == "start"
    assert "lower D learning rate" in alarms[0]["message"]
    err = capsys.readouterr().err
    assert err.count("ALARM dominance") == sum(
        a["state"] == "start" for a in alarms
    )  # printed once per start


def test_dominance_alarm_needs_a_sustained_window_and_clears():
    alarm = DominanceAlarm(window=20)
    won = {"d/real": 0.99, "d/fake": 0.01, "grad/g": 1.0, "loss/g": 5.0}
    assert alarm.observe(0, won) is None and alarm.observe(10, won) is None
    start = alarm.observe(20, won)
    assert start is not None and start.state == "start"
    assert alarm.observe(30, won) is None  # already on: no repeat
    clear = alarm.observe(40, {"d/real": 0.7, "d/fake": 0.3, "grad/g": 1.0})
    assert clear is not None and clear.state == "clear"


def test_collapse_alarm_fires_for_a_constant_generator(tmp_path):
    config = TrainConfig(dataset="ring8", model="toy-mlp", steps=60, batch_size=64, device="cpu",
                         out=str(tmp_path / "collapse"), log_every=5, alarm_window=20,
                         watch_every=5)  # fmt: skip
    trainer = Trainer(config, progress=False)
    original_forward = trainer.generator.forward
    trainer.generator.forward = lambda z: original_forward(z) * 0 + 0.5  # every noise -> one point
    trainer.fit()
    alarms = [r for r in _records(tmp_path / "collapse") if r.get("alarm") == "collapse"]
    assert [a["state"] for a in alarms] == ["start"] and alarms[0]["step"] == 20
    ratios = [r["diversity/ratio"] for r in _records(tmp_path / "collapse") if "diversity/ratio" in r]
    assert max(ratios) < 1e-6


def test_collapse_alarm_hysteresis_and_class_concentration():
    alarm = CollapseAlarm(warmup=0)
    assert alarm.observe(1, ratio=0.9) is None
    assert alarm.observe(2, ratio=0.1).state == "start"
    assert alarm.observe(3, ratio=0.3) is None  # between the two thresholds: stays on
    assert alarm.observe(4, ratio=0.5).state == "clear"
    fired = alarm.observe(5, ratio=0.9, kl=math.log(10) - 0.1)  # diverse pixels, but one or two classes
    assert fired is not None and "KL to uniform" in fired.message
    assert CollapseAlarm(warmup=100).observe(50, ratio=0.0) is None


def test_check_finite_names_the_tensor():
    check_finite(3, **{"loss/d": torch.tensor(1.0)})
    with pytest.raises(NonFiniteError, match="non-finite grad/g at step 7"):
        check_finite(7, **{"loss/g": torch.tensor(1.0), "grad/g": torch.tensor(float("inf"))})


def test_finite_checks_at_once_deferred_and_under_ddp():
    nan, one = torch.tensor(float("nan")), torch.tensor(1.0)
    with pytest.raises(NonFiniteError, match="non-finite loss/d at step 2"):
        FiniteChecks(1).check(2, "loss/d", nan, "grad/d", one)
    deferred = FiniteChecks(4)
    deferred.check(1, "loss/d", one, "grad/d", one)
    deferred.check(2, "loss/d", nan, "grad/d", one)  # flagged, not raised
    deferred.check(3, "loss/d", one, "grad/d", one)  # a finite step does not clear the flag
    with pytest.raises(NonFiniteError, match="within the last 4 steps at step 4"):
        deferred.verify(4)
    deferred.verify(8)  # the flags were read and dropped
    deferred.check(9, "loss/g", nan, "grad/g", one)
    deferred.clear()
    deferred.verify(12)
    ddp = FiniteChecks(1, distributed=True)  # a rank's own loss may differ; the averaged grad norm not
    ddp.check(1, "loss/g", nan, "grad/g", one)
    with pytest.raises(NonFiniteError, match="grad/g"):
        ddp.check(2, "loss/g", one, "grad/g", nan)
    with pytest.raises(ValueError, match="every >= 1"):
        FiniteChecks(0)


def _nan_after(trainer, calls_before_nan, times):
    """Make the D loss NaN on a number of calls, once `calls_before_nan` calls have passed."""
    loss_d, calls = trainer.loss.d, {"n": 0, "nan": 0}

    def poisoned(real_logits, fake_logits):
        calls["n"] += 1
        out = loss_d(real_logits, fake_logits)
        if calls["n"] > calls_before_nan and calls["nan"] < times:
            calls["nan"] += 1
            return out * float("nan")
        return out

    trainer.gan_step.loss = dataclasses.replace(trainer.loss, d=poisoned)


def test_nan_watchdog_restores_halves_lr_and_continues(tmp_path, capsys):
    config = TrainConfig(dataset="ring8", model="toy-mlp", steps=30, batch_size=32, device="cpu",
                         out=str(tmp_path / "nan"), checkpoint_every=10, log_every=1)  # fmt: skip
    trainer = Trainer(config, progress=False)
    _nan_after(trainer, calls_before_nan=15, times=1)
    before = {k: v.clone() for k, v in trainer.discriminator.state_dict().items()}
    trainer.fit()
    assert trainer.step == 30 and trainer.recoveries == 1 and trainer.lr_factor == 0.5
    assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(1e-4)
    records = _records(tmp_path / "nan")
    alarm = next(r for r in records if r.get("alarm") == "nonfinite")
    assert alarm["step"] == 16 and "loss/d" in alarm["message"] and "step 10" in alarm["message"]
    steps = [r["step"] for r in records if "loss/d" in r]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # the rolled-back steps were dropped
    assert all(math.isfinite(r["loss/d"]) for r in records if "loss/d" in r)
    assert any(not torch.equal(before[k], v) for k, v in trainer.discriminator.state_dict().items())
    assert "ALARM nonfinite" in capsys.readouterr().err


def test_nan_watchdog_gives_up_with_one_line(tmp_path, capsys):
    args = ["train", "--dataset", "ring8", "--model", "toy-mlp", "--steps", "20", "--lr-d", "1e30",
            "--lr-g", "1e30", "--max-recoveries", "2", "--out", str(tmp_path / "inf"), "--quiet"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: non-finite ") and "after 2 recoveries" in err[-1]
    assert sum("ALARM nonfinite" in line for line in err) == 2


def test_no_weight_changes_on_a_non_finite_step(tmp_path):
    config = TrainConfig(dataset="ring8", model="toy-mlp", steps=5, batch_size=32, device="cpu",
                         out=str(tmp_path / "r"))  # fmt: skip
    trainer = Trainer(config, progress=False)
    _nan_after(trainer, calls_before_nan=0, times=1)
    before = {k: v.clone() for k, v in trainer.discriminator.state_dict().items()}
    with pytest.raises(NonFiniteError):
        trainer.train_step()
    assert all(torch.equal(before[k], v) for k, v in trainer.discriminator.state_dict().items())


def test_tensorboard_logs_when_installed(tmp_path):
    pytest.importorskip(
        "tensorboard", reason="tensorboard is not installed (pip install 'gankit[tensorboard]')"
    )
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    args = ["train", "--dataset", "digits", "--model", "mlp", "--steps", "4", "--batch-size", "16",
            "--log-every", "2", "--sample-every", "2", "--out", str(tmp_path / "tb"), "--quiet"]  # fmt: skip
    assert main(args) == 0
    events = EventAccumulator(str(tmp_path / "tb" / "tensorboard"), size_guidance={"images": 0}).Reload()
    assert "loss/d" in events.Tags()["scalars"] and "samples" in events.Tags()["images"]
    assert "d_output/real" in events.Tags()["histograms"]
    assert [e.step for e in events.Scalars("loss/g")] == [2, 4]


def test_training_runs_without_tensorboard(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name == "torch.utils.tensorboard":
            raise ImportError("TensorBoard logging requires TensorBoard")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    code, run = _ring(tmp_path, "notb", "--steps", "3")
    assert code == 0 and not (run / "tensorboard").exists()


def test_deferred_nan_check_restores_before_any_checkpoint_holds_nan(tmp_path):
    config = TrainConfig(dataset="ring8", model="toy-mlp", steps=30, batch_size=32, device="cpu",
                         out=str(tmp_path / "nan"), checkpoint_every=10, log_every=1,
                         nan_check_every=4)  # fmt: skip
    trainer = Trainer(config, progress=False)
    assert trainer.nan_check_every == 4
    _nan_after(trainer, calls_before_nan=12, times=1)  # step 13 is poisoned, checked at step 16
    trainer.fit()
    assert trainer.step == 30 and trainer.recoveries == 1 and trainer.lr_factor == 0.5
    records = _records(tmp_path / "nan")
    alarm = next(r for r in records if r.get("alarm") == "nonfinite")
    assert alarm["step"] == 16 and "within the last 4 steps" in alarm["message"]
    assert all(math.isfinite(r["loss/d"]) for r in records if "loss/d" in r)
    assert all(torch.isfinite(v).all() for v in trainer.discriminator.state_dict().values())


def test_deferred_check_runs_before_a_checkpoint(tmp_path):
    config = TrainConfig(dataset="ring8", model="toy-mlp", steps=30, batch_size=32, device="cpu",
                         out=str(tmp_path / "nan"), checkpoint_every=10, log_every=1,
                         nan_check_every=8)  # fmt: skip
    trainer = Trainer(config, progress=False)
    _nan_after(trainer, calls_before_nan=8, times=1)  # step 9 is poisoned; step 10 writes a checkpoint
    trainer.fit()
    alarm = next(r for r in _records(tmp_path / "nan") if r.get("alarm") == "nonfinite")
    assert alarm["step"] == 10 and "the checkpoint of step 0" in alarm["message"]


def test_each_recovery_halves_the_rates_of_the_last_attempt_and_a_resume_keeps_the_factor(tmp_path):
    config = TrainConfig(dataset="ring8", model="toy-mlp", steps=30, batch_size=32, device="cpu",
                         out=str(tmp_path / "nan"), checkpoint_every=10, log_every=1)  # fmt: skip
    trainer = Trainer(config, progress=False)
    _nan_after(trainer, calls_before_nan=15, times=3)  # three attempts in a row blow up
    trainer.fit()
    assert trainer.recoveries == 3 and trainer.lr_factor == 0.125
    assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(2e-4 * 0.125)
    messages = [r["message"] for r in _records(tmp_path / "nan") if r.get("alarm") == "nonfinite"]
    assert ["(now x0.5)" in messages[0], "(now x0.25)" in messages[1], "(now x0.125)" in messages[2]] == [
        True
    ] * 3
    resumed = resume(tmp_path / "nan", {"steps": 31}, progress=False)
    assert resumed.lr_factor == 0.125


def test_report_escapes_every_field_of_an_alarm_record(tmp_path):
    code, run = _ring(tmp_path, "xss", "--steps", "3")
    assert code == 0
    hostile = {"step": 2, "alarm": "<b>x</b>", "state": "'><script>alert(2)</script>",
               "message": "<script>alert(1)</script><img src=x onerror=alert(3)>"}  # fmt: skip
    not_a_step = {**hostile, "step": "<script>alert(4)</script>"}  # a damaged record: skipped
    with (run / "metrics.jsonl").open("a") as handle:
        handle.write(json.dumps(hostile) + "\n" + json.dumps(not_a_step) + "\n")
    page = render_report(run)
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>x</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "alert(4)" not in page
