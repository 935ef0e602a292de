"""A CPU rehearsal of the GPU path: every registered method trains a few steps and translates under
the CUDA settings that also run on the CPU (bf16 autocast, channels_last, fused Adam), so a method
that would crash on its first GPU step fails here first; and torch.compile (dynamo and AOT autograd) for
the methods with compile exclusions, checking that each network's compile record tells the truth.
Before a first GPU contact, `./run.sh test -m compile_all tests/test_gpu_rehearsal.py` does the same for
every method, and inductor's code generation for one."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from harness.data.prepare import prepare_data
from harness.pipeline import RunSpec, build_method
from harness.registry import METHODS, SCHEDULES, TASKS
from harness.training import compile as compile_module
from harness.training.compile import forget_dynamo_sinks, networks_of
from harness.training.device import cuda_rehearsal_on_cpu
from harness.training.trainer import Interrupted, Trainer
from harness.translate import translate_test_set

METHOD_NAMES = [entry.name for entry in METHODS.entries()]
# Narrow networks (every size field a method has); the architecture and losses are unchanged.
TINY_FIELDS = {"ngf": 4, "ndf": 4, "n_blocks": 1, "gen_dim": 8, "dis_dim": 8, "g_conv_dim": 8, "d_conv_dim": 8,
               "g_repeat_num": 1, "n_critic": 1}  # n_critic 1: StarGAN's generator steps at once too
# PatchNCE reads layers inside the blocks; at width 4 its features degenerate (NaN even in fp32).
PER_METHOD = {m: {"ngf": 8, "ndf": 8, "n_blocks": 5} for m in ("cut", "fastcut")}
STEPS = 2


@pytest.fixture(scope="module")
def demo():
    return prepare_data(TASKS.get("demo"))


def tiny_overrides(name: str) -> dict:
    fields = {f.name for f in dataclasses.fields(METHODS.get(name).config_class)}
    return {k: v for k, v in {**TINY_FIELDS, **PER_METHOD.get(name, {})}.items() if k in fields}


def rehearse(name: str, demo, tmp_path, compile: bool):
    """Train STEPS steps and translate the test set on the CUDA-like CPU setup; returns (method, device)."""
    torch.manual_seed(0)
    device = cuda_rehearsal_on_cpu(compile=compile)
    try:
        spec = RunSpec("demo", name, "smoke", 0, "cpu", out=str(tmp_path), overrides=tiny_overrides(name))
        method, setting, image = build_method(spec, demo.task, demo)
        method = device.prepare_method(method)
        (tmp_path / "run").mkdir(parents=True)
        trainer = Trainer(method, demo, SCHEDULES.get("smoke"), image, device, tmp_path / "run", 0,
                          setting == "supervised")
        if getattr(method, "trainable", True):
            with pytest.raises(Interrupted):
                trainer.fit(stop_at_step=STEPS)
        record = translate_test_set(method, demo.split, image, device, tmp_path / "translations", 0)
        for direction in method.directions:
            assert record[direction]["n_images"] == len(list((tmp_path / "translations" / direction).glob("*.png")))
        return method, device
    finally:
        torch.use_deterministic_algorithms(True, warn_only=True)  # the CPU default of the other tests


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_method_trains_and_translates_under_the_cuda_settings_on_the_cpu(name, demo, tmp_path):
    method, device = rehearse(name, demo, tmp_path, compile=False)
    assert device.record()["amp_dtype"] == "torch.bfloat16" and device.channels_last
    for opt in method.optimizers.values():
        if isinstance(opt, (torch.optim.Adam, torch.optim.AdamW)):
            assert all(group["fused"] for group in opt.param_groups)
    assert all(torch.isfinite(p).all() for p in method.parameters())


# In every run of the suite: the methods with exclusions (StarGAN's critic skipped for its double backward,
# CUT's generators under channels_last). Every method, and pix2pix under inductor: `-m compile_all`
# (about 20 CPU-seconds a method), before a first GPU contact.
COMPILE_SAMPLE = ("stargan", "cut")
# The check that dynamo holds code for a network's forward does not find it where that forward is a shared
# container's (nn.Sequential inside UNIT's encoders, AGGAN's attention nets): known, not yet explained.
SHARED_FORWARD = pytest.mark.xfail(reason="dynamo cache lookup for a shared nn.Sequential forward", strict=False)


@pytest.mark.parametrize("name", COMPILE_SAMPLE)
def test_method_trains_with_compile_and_records_each_network_truthfully(name, demo, tmp_path, monkeypatch):
    """Under dynamo + AOT autograd (backend aot_eager); inductor itself: the slow test below."""
    monkeypatch.setattr(compile_module, "BACKEND", "aot_eager")
    _compile_and_check(name, demo, tmp_path)


@pytest.mark.compile_all
@pytest.mark.parametrize("name", [pytest.param(m, marks=SHARED_FORWARD if m in ("unit", "aggan") else ())
                                  for m in METHOD_NAMES])
def test_every_method_trains_with_compile_and_records_each_network_truthfully(name, demo, tmp_path,
                                                                              monkeypatch):
    monkeypatch.setattr(compile_module, "BACKEND", "aot_eager")
    _compile_and_check(name, demo, tmp_path)


@pytest.mark.compile_all  # inductor's C++ code generation: half a minute a method with a cold cache
def test_one_method_compiles_with_inductor_on_the_cpu(demo, tmp_path):
    _compile_and_check("pix2pix", demo, tmp_path)


def _compile_and_check(name, demo, tmp_path):
    torch._dynamo.reset()
    try:
        method, device = rehearse(name, demo, tmp_path, compile=True)
        record = device.compile_record()
    finally:
        forget_dynamo_sinks()
    nets = dict(networks_of(method))
    assert set(record) == set(nets)  # every network, and only networks, has a record
    for net_name, status in record.items():
        assert status == "compiled" or status.startswith(("skipped (", "fell back (")), status
        if status == "compiled":  # dynamo really holds compiled code for its forward
            code = type(nets[net_name]).forward.__code__
            assert torch._dynamo.eval_frame._debug_get_cache_entry_list(code), net_name
    if name == "stargan":
        assert record["D"].startswith("skipped (") and "double backward" in record["D"]
    if name in ("cut", "fastcut"):  # channels_last here: its generators' known inductor failure is skipped
        assert all(record[f"G.{d}"].startswith("skipped (") for d in method.directions)
    if nets:
        assert any(status == "compiled" for status in record.values())


def test_scored_translations_are_float32_whatever_the_training_precision(demo, tmp_path):
    """Under bf16 autocast (the CUDA training setting) the translation files are those of float32."""
    method, device = rehearse("cyclegan", demo, tmp_path / "bf16", compile=False)
    image = build_method(RunSpec("demo", "cyclegan", "smoke", 0, "cpu", overrides=tiny_overrides("cyclegan")),
                         demo.task, demo)[2]
    with_amp = translate_test_set(method, demo.split, image, device, tmp_path / "amp", 0)
    method.amp_dtype = None
    without = translate_test_set(method, demo.split, image, device, tmp_path / "fp32", 0)
    assert {d: r["sha256"] for d, r in with_amp.items()} == {d: r["sha256"] for d, r in without.items()}
    # The check can fail: translated under bf16 autocast, the same weights give other pixels.
    from harness.data.datasets import TestSet, collate, to_uint8
    refs = demo.split.test["A"][:4]
    images = device.to_device(collate([TestSet(refs, image)[i] for i in range(len(refs))]))["image"]
    method.eval()
    with torch.no_grad():
        fp32 = to_uint8(method.translate(images, "A2B").float())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = to_uint8(method.translate(images, "A2B").float())
    assert (fp32 != bf16).any()
