"""Bad input, damaged files and faults, generated for every command: each case must end in one
`error:` line and exit 2 with the run directory's files unchanged, or in a correct result; never a
traceback, never exit 1. `CASES` counts what ran (the README's "Errors and recovery" cites it).

Runs go through `gankit.cli.main` in this process (a few ms each); the run they damage is a
20-step toy run trained once per module.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import typing
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gankit.outputs.files as gfiles
from gankit.cli import main
from gankit.config import TrainConfig
from gankit.config.options import SIZE_LIMITS, scalar_type
from gankit.outputs.checkpoint import load_checkpoint
from gankit.outputs.report import render_report

CASES: Counter[str] = Counter()
TOY = ["--dataset", "ring8", "--model", "toy-mlp", "--device", "cpu", "--quiet", "--no-tensorboard"]


# -- the runs the cases damage ---------------------------------------------------------------------
def _train_run(path: Path, *extra: str) -> Path:
    argv = ["train", *TOY, "--steps", "20", "--checkpoint-every", "10", "--ema-half-life", "500"]
    argv += ["--eval-every", "20", "--eval-n", "200", *extra]  # eval.json at the end
    assert main([*argv, "--out", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return _train_run(tmp_path_factory.mktemp("bad") / "run")


@pytest.fixture(scope="module")
def foreign(tmp_path_factory) -> Path:
    """Another run, of another model, whose files are copied over the pristine run's."""
    return _train_run(tmp_path_factory.mktemp("bad") / "foreign", "--model", "toy-mlp-deep", "--seed", "3")


def _snapshot(run: Path) -> dict[str, str]:
    return {
        str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run.rglob("*"))
        if p.is_file() and p.name != ".gankit.lock"
    }


def _outcome(capsys, argv: list[str], run: Path | None, kind: str, must_fail: bool = False) -> int:
    """Run `argv`; assert one error line + exit 2 + `run` unchanged, or a clean success."""
    before = _snapshot(run) if run is not None and run.is_dir() else None
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    out, err = capsys.readouterr()
    CASES[kind] += 1
    assert "Traceback" not in out + err and "unexpected" not in err, (argv, err)
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        lines = err.strip().splitlines()
        errors = [line for line in lines if line.startswith("error: ")]
        assert len(errors) == 1 and lines[-1] == errors[0], (argv, err)
        if before is not None:
            assert _snapshot(run) == before, argv
    else:
        assert not must_fail, (argv, out, err)
    return code


# -- 1. every option of every command, with values its type or range rules out ----------------------
def _bad_values(name: str, scalar: type) -> list[str]:
    if scalar is int:
        values = ["abc", "", "1.5", "-5", "1e3"]
        if name in SIZE_LIMITS:
            values.append(str(SIZE_LIMITS[name] + 1))
        return values
    if scalar is float:
        return ["abc", "", "nan", "-inf", "1e400"]
    return ["\x00", f"no-such-{name}\x00"]


def _train_option_cases() -> list[tuple[str, list[str]]]:
    cases = []
    for _, field, kind in TrainConfig.options():
        flag = "--" + field.name.replace("_", "-")
        scalar = scalar_type(typing.get_type_hints(kind)[field.name])[0]
        if scalar is bool:
            cases.append((field.name, [f"{flag}=maybe"]))
            continue
        cases.extend((field.name, [flag, value]) for value in _bad_values(field.name, scalar))
    return cases


TRAIN_OPTION_CASES = _train_option_cases()


@pytest.mark.parametrize(("name", "flags"), TRAIN_OPTION_CASES, ids=lambda v: repr(v)[:40])
def test_a_bad_train_option_is_one_error_line_and_writes_nothing(tmp_path, capsys, name, flags):
    out = tmp_path / "new"
    argv = ["train", *TOY, "--steps", "2", "--out", str(out), *flags]
    if name == "out":
        argv = ["train", *TOY, "--steps", "2", *flags]
    _outcome(capsys, argv, None, "train option", must_fail=True)
    assert not out.exists() or not any(p.name != ".gankit.lock" for p in out.iterdir())


@pytest.mark.parametrize(("name", "flags"), TRAIN_OPTION_CASES, ids=lambda v: repr(v)[:40])
def test_a_bad_option_given_to_resume_is_one_error_line_and_changes_nothing(
    pristine, tmp_path, capsys, name, flags
):
    run = shutil.copytree(pristine, tmp_path / "run")
    argv = ["train", "--resume", str(run), "--quiet", *flags]
    _outcome(capsys, argv, run, "resume option", must_fail=True)


def _other_command_cases() -> list[list[str]]:
    ints = ["abc", "", "1.5"]
    cases: list[list[str]] = []
    for command in ("sample", "eval"):
        extra = ["--out", "{tmp}/s.png"] if command == "sample" else []
        base = [command, "{run}", *extra]
        for value in [*ints, "0", "-3", str(SIZE_LIMITS["n"] + 1)]:
            cases.append([*base, "--n", value])
        for value in [*ints, "-1", str(2**64)]:
            cases.append([*base, "--seed", value])
        cases += [[*base, "--drs-gamma", v] for v in ("abc", "nan", "inf", "-inf")]
        cases += [[*base, "--drs-burn-in", v] for v in ("abc", "-1", "0")]
        cases += [[*base, "--drs-refine-steps", v] for v in ("abc", "-1")]
        cases += [[*base, "--drs-refine-lr", v] for v in ("abc", "nan", "-1", "inf")]
        cases += [[*base, "--drs-critic", v] for v in ("no-such", "")]
        cases += [[*base, "--drs-fourier-scale", v] for v in ("abc", "nan", "0", "-2")]
        cases += [[*base, "--no-ema=yes"], [command, "{tmp}/no-such-run", *extra]]
        cases += [[command, where, *extra] for where in ("{tmp}/file", "{tmp}/empty", "\x00", "")]
    sample = ["sample", "{run}", "--out", "{tmp}/s.png"]
    cases += [[*sample, "--device", v] for v in ("no-such", "cuda:99", "", "\x00")]
    cases += [[*sample, "--class", v] for v in ("abc", "-1", "3")]
    cases += [[*sample, "--frames", v, "--interpolate"] for v in ("abc", "0", "1", "1001")]
    bad_outs = ("{tmp}/file/x.png", "{tmp}/no/such/dir/x.png", "\x00.png", "")
    cases += [["sample", "{run}", "--out", v] for v in bad_outs]
    cases += [["sample", "{run}", "--out", "{tmp}/s.txt", "--interpolate"], ["sample", "{run}"]]
    cases += [["eval", "{run}", "--metrics", v] for v in ("no-such", ",", "\x00", "fid,no-such")]
    cases += [["eval", "{run}", "--device", "cpu"]]  # eval has no --device: argparse says so
    for value in ("abc", "-1", "65536", "70000", ""):
        cases.append(["report", "{run}", "--serve", "--port", value])
    cases += [["report", "{tmp}/no-such-run"], ["report", "{tmp}/file"], ["report", "{tmp}/empty"]]
    cases += [["report", "\x00"], ["report"], ["report", "{run}", "--serve=yes"]]
    cases += [["eval", "{run}", "--inception-weights", v] for v in ("{tmp}/no-such.pth", "\x00", "")]
    prepare = ["dataset", "prepare", "{tmp}/empty", "{tmp}/prepared"]
    cases += [
        [*prepare[:2], source, "{tmp}/prepared", "--size", "32"] for source in ("{tmp}/nope", "{tmp}/file")
    ]
    cases += [
        [*prepare, "--size", "32"],
        [*prepare[:3], "{tmp}/file", "--size", "32"],
    ]  # no image; DEST a file
    cases += [[*prepare, "--size", v] for v in ("abc", "0", "-8", "100", "")]
    cases += [[*prepare, "--size", "32", "--channels", v] for v in ("2", "abc")]
    cases += [["dataset"], ["dataset", "prepare"], ["dataset", "prepare", "{tmp}/empty"], ["dataset", "nope"]]
    cases += [["dataset", "prepare", "\x00", "{tmp}/p", "--size", "32"]]
    cases += [["theory", "--seed", v] for v in ("abc", "-1", str(2**64), "")]
    cases += [["theory", "--out", v, "--quick"] for v in ("{tmp}/file", "\x00")]
    cases += [["no-such-command"], [], ["train", "--no-such-option"], ["--debug"], ["sample"]]
    cases += [["train", *TOY, "--steps", "2", "--resume", "{tmp}/no-such-run"]]
    cases += [["train", *TOY, "--steps", "2", "--resume", "{run}", "--out", "{tmp}/other"]]
    cases += [["train", *TOY, "--steps", "2", "--resume", "{run}", "--overwrite"]]
    cases += [["train", *TOY, "--steps", "2", "--out", where] for where in ("{run}", "{tmp}/file", "")]
    cases += [["train", *TOY, "--steps", "2", "--outdir", "{tmp}/file"]]
    cases += [["train", *TOY, "--steps", "2", "--outdir", "{tmp}/p", "--out", "{tmp}/q"]]
    cases += [["train", "--resume", "{run}", "--steps", "10"], ["train", "--resume", "{run}", "--seed", "5"]]
    cases += [["train", "--resume", "{run}", "--model", "mlp"]]
    cases += [["train", "--resume", "{run}", "--epochs", "0.001"], ["train", "--resume", ""]]
    cases += [["train", *TOY[:4], "--dataset", "folder:{tmp}/empty", "--model", "dcgan", "--steps", "2"]]
    cases += [["train", "--dataset", "mnist", "--data-dir", "{tmp}/empty", "--steps", "2", "--quiet"]]
    cases += [["train", "--dataset", "ring8", "--model", "dcgan", "--steps", "2", "--quiet"]]
    cases += [["train", "--dataset", "mnist-5k", "--model", "toy-mlp", "--steps", "2", "--quiet"]]
    return cases


@pytest.mark.parametrize("template", _other_command_cases(), ids=lambda v: " ".join(v)[:50])
def test_bad_arguments_to_every_command_are_one_error_line(pristine, tmp_path, capsys, template):
    run = shutil.copytree(pristine, tmp_path / "run")
    (tmp_path / "file").write_text("not a run\n")
    (tmp_path / "empty").mkdir()
    argv = [part.format(run=run, tmp=tmp_path) for part in template]
    _outcome(capsys, argv, run, f"{template[0] if template else 'none'} argument", must_fail=True)


# -- 2. damaged copies of every run file, under every command that reads them ----------------------
def _json_damage(data: object) -> list[tuple[str, object]]:
    """Each top-level key missing, and each set to a value of the wrong type."""
    if not isinstance(data, dict):
        return [("not an object", ["x"])]
    damaged: list[tuple[str, object]] = [("a list", [data]), ("null", None)]
    for key, value in data.items():
        damaged.append((f"no {key}", {k: v for k, v in data.items() if k != key}))
        wrong = "x" if not isinstance(value, str) else {"x": [1]}
        damaged.append((f"{key} of the wrong type", {**data, key: wrong}))
        if isinstance(value, int | float) and not isinstance(value, bool):
            damaged.append((f"{key} negative", {**data, key: -abs(value) - 7}))
    return damaged


def _damages(run: Path, foreign: Path, name: str) -> list[tuple[str, bytes | None]]:
    """(what, new bytes) for the file `name` of `run`; None deletes it."""
    raw = (run / name).read_bytes()
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0x5A
    out: list[tuple[str, bytes | None]] = [
        ("truncated", raw[: len(raw) // 2]),
        ("bit-flipped", bytes(flipped)),
        ("empty", b""),
        ("missing", None),
        ("not UTF-8", b"\xff\xfe\x00garbage"),
    ]
    if (foreign / name).is_file():
        out.append(("of another model", (foreign / name).read_bytes()))
    if name.endswith(".json"):
        data = json.loads(raw)
        out += [(what, json.dumps(value).encode()) for what, value in _json_damage(data)]
    if name.endswith(".jsonl"):
        out += [("a line of garbage", raw + b'{"step": "x"}\n[1, 2]\n{"step": 5, "loss/d": "high"}\n')]
    return out


READERS = {  # which commands read which file
    "config.json": ("resume", "report", "eval"),
    "metrics.jsonl": ("resume", "report"),
    "generator.json": ("sample", "eval", "report"),
    "generator.safetensors": ("sample", "eval"),
    "generator_raw.safetensors": ("sample-raw",),
    "eval.json": ("report", "eval"),
    "checkpoint/latest.json": ("resume",),
    "checkpoint/ckpt_0000020.json": ("resume",),
    "checkpoint/ckpt_0000020.safetensors": ("resume",),
}
MUST_FAIL = {  # damage a command cannot shrug off (others may load a fallback or skip a bad line)
    # a missing generator.safetensors is no damage: sample loads the latest checkpoint instead
    ("generator.safetensors", "sample"): ("truncated", "bit-flipped", "empty", "of another model"),
    ("generator_raw.safetensors", "sample-raw"): ("truncated", "bit-flipped", "empty", "of another model"),
}


def _command(reader: str, run: Path, tmp: Path) -> list[str]:
    return {
        "resume": ["train", "--resume", str(run), "--steps", "22", "--quiet"],
        "report": ["report", str(run)],
        "eval": ["eval", str(run), "--n", "64"],
        "sample": ["sample", str(run), "--n", "4", "--out", str(tmp / "s.npz")],
        "sample-raw": ["sample", str(run), "--n", "4", "--no-ema", "--out", str(tmp / "s.npz")],
    }[reader]


def _damage_cases() -> list[tuple[str, str]]:
    return [(name, reader) for name, readers in READERS.items() for reader in readers]


@pytest.mark.parametrize(("name", "reader"), _damage_cases())
def test_damaged_run_files_give_one_error_line_or_a_correct_result(
    pristine, foreign, tmp_path, capsys, name, reader
):
    for index, (what, data) in enumerate(_damages(pristine, foreign, name)):
        run = shutil.copytree(pristine, tmp_path / f"run{index}")
        if data is None:
            (run / name).unlink()
        else:
            (run / name).write_bytes(data)
        must = what in MUST_FAIL.get((name, reader), ())
        code = _outcome(capsys, _command(reader, run, tmp_path), run, f"damaged {name}", must_fail=must)
        if code == 0 and reader == "resume":  # a correct result: the run continued to its budget
            assert json.loads((run / "generator.json").read_text())["step"] == 22, what


# -- 3. hostile strings in every field that reaches the HTML report --------------------------------
HOSTILE = st.sampled_from(
    ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "</li><b>x</b>", "'\"&<>", "<!--"]
)


def _report_fields(run: Path, payload: str, field: str) -> None:
    """Put `payload` into one report-bound field of `run`'s files."""
    if field.startswith("alarm."):
        key = field.split(".", 1)[1]
        record = {"step": 10, "alarm": "collapse", "state": "start", "message": "m", key: payload}
        with (run / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps(record) + "\n")
    elif field == "metric key":
        with (run / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps({"step": 20, payload: 1.0}) + "\n")
    elif field.startswith("config."):
        config = json.loads((run / "config.json").read_text())
        group, key = field.split(".")[1:]
        config[group][key] = payload
        (run / "config.json").write_text(json.dumps(config))
    elif field.startswith("eval."):
        data = json.loads((run / "eval.json").read_text())
        if field == "eval.metric":
            data["metrics"][payload] = {"score": 1.0}
        elif field == "eval.value":
            next(iter(data["metrics"].values()))["note"] = payload
        else:
            data["dataset"] = payload
        (run / "eval.json").write_text(json.dumps(data))


REPORT_FIELDS = [
    "alarm.state", "alarm.step", "alarm.alarm", "alarm.message", "metric key",
    "config.data.dataset", "config.architecture.model", "config.run.out", "config.objective.diffaugment",
    "eval.metric", "eval.value", "eval.dataset",
]  # fmt: skip


@pytest.mark.parametrize("field", REPORT_FIELDS)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=HOSTILE)
def test_hostile_strings_reach_the_report_only_escaped(pristine, tmp_path_factory, field, payload):
    run = shutil.copytree(pristine, tmp_path_factory.mktemp("hostile") / "run")
    _report_fields(run, payload, field)
    page = render_report(run)
    CASES["report field"] += 1
    assert payload not in page, field


# -- 4. faults: a full disk, a read-only run directory, a kill during a checkpoint write -----------
def _fail_checkpoint_writes(monkeypatch, error: OSError, after: int) -> None:
    """From the `after`-th checkpoint tensor write on, `atomic_write_bytes` raises `error`."""
    real, seen = gfiles.atomic_write_bytes, Counter()

    def writer(path, data):
        if str(path).endswith(".safetensors") and "checkpoint" in str(path):
            seen["n"] += 1
            if seen["n"] > after:
                raise error
        return real(path, data)

    for module in ("gankit.outputs.files", "gankit.outputs.checkpoint"):
        monkeypatch.setattr(f"{module}.atomic_write_bytes", writer)


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device", "ckpt.safetensors"),
        PermissionError(errno.EACCES, "Permission denied", "ckpt.safetensors"),
        OSError(errno.EROFS, "Read-only file system", "ckpt.safetensors"),
    ],
    ids=["full disk", "not writable", "read-only"],
)
def test_a_failed_checkpoint_write_is_one_error_line_and_the_last_checkpoint_still_loads(
    tmp_path, capsys, monkeypatch, error
):
    _fail_checkpoint_writes(monkeypatch, error, after=2)  # step 0 and step 10 are written, 20 fails
    run = tmp_path / "run"
    code = main(["train", *TOY, "--steps", "30", "--checkpoint-every", "10", "--out", str(run)])
    err = capsys.readouterr().err.strip().splitlines()
    CASES["fault"] += 1
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and error.strerror in err[0]
    assert load_checkpoint(run / "checkpoint", fallback=False)["step"] == 10
    assert not list(run.rglob("*.tmp"))
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0  # and the run goes on from there


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_run_directory_is_one_error_line(pristine, tmp_path, capsys):
    run = shutil.copytree(pristine, tmp_path / "run")
    for path in [run, *run.rglob("*")]:
        if path.is_dir():
            path.chmod(0o555)
    try:
        _outcome(capsys, ["train", "--resume", str(run), "--steps", "22", "--quiet"], run, "fault", True)
    finally:
        for path in [run, *run.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)


def test_a_kill_during_a_checkpoint_write_leaves_the_previous_one_and_no_tmp_after_restart(tmp_path, capsys):
    run = tmp_path / "run"
    script = textwrap.dedent(
        f"""
        import os, signal
        import gankit.outputs.checkpoint as checkpoint
        import gankit.outputs.files as files
        from gankit.cli import main
        real_write, real_sync, target = checkpoint.atomic_write_bytes, files._write_and_sync, []
        def marking(path, data):  # the tensors of the step-10 checkpoint are the ones to cut
            target[:] = [str(path).endswith("ckpt_0000010.safetensors")]
            real_write(path, data)
        def half_then_kill(handle, data):
            if target == [True]:
                handle.write(data[: len(data) // 2]); handle.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            real_sync(handle, data)
        checkpoint.atomic_write_bytes, files._write_and_sync = marking, half_then_kill
        main({["train", *TOY, "--steps", "30", "--checkpoint-every", "10", "--out", str(run)]!r})
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    CASES["fault"] += 1
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert list(run.rglob("*.tmp")), "the kill should have left a half-written temporary file"
    assert load_checkpoint(run / "checkpoint", fallback=False)["step"] == 0  # the one before the kill
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert not list(run.rglob("*.tmp"))
    assert json.loads((run / "generator.json").read_text())["step"] == 30


def test_the_suite_generates_at_least_300_cases():
    """Runs last in this module (pytest keeps file order): the counts of what ran above."""
    total = sum(CASES.values())
    print(f"\nbad-input cases run: {total} " + json.dumps(dict(sorted(CASES.items()))))
    if total == 0:
        pytest.skip("run with the rest of this module to count its cases")
    assert total >= 300


def test_resume_from_a_damaged_latest_checkpoint_says_so_and_goes_on_from_the_one_before(
    pristine, tmp_path, capsys
):
    run = shutil.copytree(pristine, tmp_path / "run")
    latest = run / "checkpoint" / "ckpt_0000020.safetensors"
    latest.write_bytes(latest.read_bytes()[:100])
    assert main(["train", "--resume", str(run), "--steps", "25", "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: ") and "ckpt_0000010" in err[0], err
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 25  # one history, continued from step 10
