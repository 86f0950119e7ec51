"""--precision (fp32, tf32, bf16 autocast) and --compile-mode: choices, errors, and what a step computes."""

from __future__ import annotations

import pytest
import torch

from gankit.config import TrainConfig
from gankit.errors import GankitError
from gankit.runtime.precision import (
    cpu_bf16_instructions,
    emulated_bf16_note,
    resolve_precision,
    step_numerics,
)
from gankit.training.trainer import Trainer

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_auto_is_bf16_on_cuda_and_fp32_elsewhere():
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"


def test_bf16_native_is_bf16_only_where_the_device_runs_it_natively(tmp_path):
    with_, without = cpuinfo(tmp_path, "avx2 avx512_bf16", "with"), cpuinfo(tmp_path, "avx2", "without")
    cpu = torch.device("cpu")
    assert resolve_precision("bf16-native", cpu, with_) == "bf16"
    assert resolve_precision("bf16-native", cpu, cpuinfo(tmp_path, "amx_tile amx_bf16", "amx")) == "bf16"
    assert resolve_precision("bf16-native", cpu, without) == "fp32"
    assert resolve_precision("bf16-native", cpu, tmp_path / "missing") == "fp32"  # unknown: no guess
    assert resolve_precision("bf16-native", torch.device("cuda"), without) == "bf16"
    assert resolve_precision("bf16-native", torch.device("mps"), with_) == "fp32"
    # what it resolves to is never the emulated kind the warning is about
    assert emulated_bf16_note(resolve_precision("bf16-native", cpu, without), cpu, without) is None


@pytest.mark.parametrize(
    ("name", "device", "message"),
    [
        ("tf32", "cpu", "--precision tf32 needs CUDA"),
        ("bf16", "mps", "--precision bf16 runs on cuda or cpu"),
        ("fp16", "cpu", "--precision must be one of"),
    ],
)
def test_unusable_precisions_are_refused(name, device, message):
    with pytest.raises(GankitError, match=message):
        resolve_precision(name, torch.device(device))


def cpuinfo(tmp_path, flags: str, name: str = "cpuinfo"):
    path = tmp_path / name
    path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    return path


def test_cpu_bf16_instructions_are_read_from_the_flags(tmp_path):
    assert cpu_bf16_instructions(cpuinfo(tmp_path, "fpu sse avx2 avx512f avx512_bf16 vaes")) == [
        "avx512_bf16"
    ]
    assert cpu_bf16_instructions(cpuinfo(tmp_path, "avx512_bf16 amx_tile amx_bf16")) == [
        "avx512_bf16",
        "amx_bf16",
    ]
    assert cpu_bf16_instructions(cpuinfo(tmp_path, "fpu sse avx2 fma avx512f")) == []  # avx512f is not bf16
    assert cpu_bf16_instructions(tmp_path / "missing") is None
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")
    assert cpu_bf16_instructions(arm) is None  # not x86: unknown, so no warning either


def test_bf16_on_a_cpu_without_bf16_instructions_is_warned_about(tmp_path):
    without, with_ = cpuinfo(tmp_path, "avx2", "without"), cpuinfo(tmp_path, "avx2 avx512_bf16", "with")
    cpu = torch.device("cpu")
    note = emulated_bf16_note("bf16", cpu, without)
    assert note is not None and note.startswith("--precision bf16 on a CPU without bf16 instructions")
    assert emulated_bf16_note("bf16", cpu, with_) is None
    assert emulated_bf16_note("fp32", cpu, without) is None
    assert emulated_bf16_note("bf16", torch.device("cuda"), without) is None
    assert emulated_bf16_note("bf16", cpu, tmp_path / "missing") is None  # unknown: no guess


def test_config_checks_precision_and_compile_mode():
    with pytest.raises(GankitError, match="unknown precision 'half'"):
        TrainConfig(precision="half").validated()
    with pytest.raises(GankitError, match="unknown compile-mode 'fast'"):
        TrainConfig(compile=True, compile_mode="fast").validated()
    with pytest.raises(GankitError, match="--compile-mode reduce-overhead needs --compile"):
        TrainConfig(compile_mode="reduce-overhead").validated()


def test_cuda_graphs_are_refused_off_cuda(tiny_images, tmp_path):
    config = TrainConfig(model="dcgan", device="cpu", compile=True, compile_mode="reduce-overhead",
                         out=str(tmp_path))  # fmt: skip
    with pytest.raises(GankitError, match="reduce-overhead is CUDA graphs and needs CUDA"):
        Trainer(config, dataset=tiny_images, progress=False)


def steps(tiny_images, tmp_path, device: str = "cpu", n: int = 3, **options: object):
    """A dcgan trainer after `n` steps, its last step's statistics, and the dtypes D's first conv gave."""
    config = TrainConfig(model="dcgan", dataset="blobs", batch_size=16, noise_dim=8, device=device,
                         out=str(tmp_path), **options)  # fmt: skip
    trainer = Trainer(config, dataset=tiny_images, progress=False)
    seen: set[torch.dtype] = set()
    conv = next(m for m in trainer.discriminator.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda module, args, out: seen.add(out.dtype))
    for _ in range(n):
        stats = trainer.train_step()
    return trainer, {k: float(v) for k, v in stats.items()}, seen


def test_bf16_autocast_runs_the_convolutions_in_bf16_and_keeps_fp32_weights(tiny_images, tmp_path):
    fp32, exact, seen32 = steps(tiny_images, tmp_path / "fp32", precision="fp32")
    bf16, rounded, seen16 = steps(tiny_images, tmp_path / "bf16", precision="bf16")
    assert seen32 == {torch.float32} and seen16 == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in bf16.generator.parameters())
    assert all(p.dtype == torch.float32 for p in bf16.discriminator.parameters())
    assert rounded != exact  # autocast did round
    for name in exact:  # ... by bf16's 8 bits of mantissa, not by a different computation
        assert rounded[name] == pytest.approx(exact[name], rel=0.02, abs=1e-3), name
    torch.testing.assert_close(bf16.fixed_samples(), fp32.fixed_samples(), rtol=0, atol=5e-3)


def test_step_numerics_is_a_no_op_off_cuda():
    before = torch.backends.cudnn.benchmark
    with step_numerics("bf16", torch.device("cpu")):
        assert torch.backends.cudnn.benchmark == before


@CUDA
def test_step_numerics_sets_tf32_for_the_step_and_restores_it():
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark)
    with step_numerics("tf32", torch.device("cuda")):
        assert matmul.allow_tf32 and cudnn.allow_tf32
    with step_numerics("fp32", torch.device("cuda")):
        assert not matmul.allow_tf32 and not cudnn.allow_tf32
    assert (matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark) == saved


@CUDA
def test_bf16_on_cuda_tracks_the_fp32_step(tiny_images, tmp_path):
    _, exact, _ = steps(tiny_images, tmp_path / "fp32", "cuda", precision="fp32")
    _, rounded, seen = steps(tiny_images, tmp_path / "bf16", "cuda")  # auto: bf16
    assert seen == {torch.bfloat16}
    for name in exact:
        assert rounded[name] == pytest.approx(exact[name], rel=0.03, abs=2e-3), name


@CUDA
def test_cuda_graphs_leave_a_training_step_unchanged(tiny_images, tmp_path):
    eager, exact, _ = steps(tiny_images, tmp_path / "eager", "cuda", n=5, precision="fp32")
    graphs, replayed, _ = steps(tiny_images, tmp_path / "graphs", "cuda", n=5, precision="fp32",
                                compile=True, compile_mode="reduce-overhead")  # fmt: skip
    assert graphs.cuda_graphs
    for name in exact:
        assert replayed[name] == pytest.approx(exact[name], rel=1e-3, abs=1e-4), name
    torch.testing.assert_close(graphs.fixed_samples(), eager.fixed_samples(), rtol=0, atol=1e-3)


def test_compile_leaves_layouts_to_inductor(tiny_images, tmp_path):
    config = TrainConfig(model="dcgan", device="cpu", compile=True, out=str(tmp_path))
    trainer = Trainer(config, dataset=tiny_images, progress=False)
    weight = next(p for p in trainer.discriminator.parameters() if p.dim() == 4 and p.size(1) > 1)
    assert not weight.is_contiguous(memory_format=torch.channels_last)


def test_a_bf16_native_run_says_what_it_resolved_to_on_this_machine(tmp_path, capsys):
    from gankit.cli import main

    args = ["train", "--g-width", "8", "--d-width", "8", "--steps", "2", "--device", "cpu", "--quiet",
            "--no-tensorboard", "--precision", "bf16-native", "--out", str(tmp_path / "run")]  # fmt: skip
    assert main(args) == 0
    here = resolve_precision("bf16-native", torch.device("cpu"))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("precision:")]
    assert lines == [f"precision: bf16-native is {here} on this cpu"]
    assert TrainConfig.load(tmp_path / "run" / "config.json").run.precision == "bf16-native"
