"""Every place where the ASGIT paper and its reference code (voidstrike/ASGIT) differ, as a config field.

Defaults follow the paper where it is clear and the reference code where the paper is silent or
ambiguous (asgit_official_code.md §2; the P-numbers below refer to its table). The resolved config
goes into every result.json, so each run records which reading it used. Family-specific fields
(CycleGAN or pix2pix backbone) live in `unsupervised.py` and `supervised.py`.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from harness.registry import register_method
from harness.training.method import MethodConfig


@dataclass(frozen=True)
class AttentionOptions(MethodConfig):
    # Options that change only the test path: `harness evaluate RUN_DIR --set test_placeholder=ones`
    # evaluates a finished run's checkpoint under another value without retraining (harness/retest.py).
    test_time_options: ClassVar[tuple[str, ...]] = ("test_placeholder",)
    # Which map: post-hoc activations (Eq. 2) or the trainable branch (Eq. 3). Set by the variant.
    attention: Literal["pha", "tam"] = "pha"
    # How the map enters G: RHP x·(1+g(M)) (Eq. 4) or Alpha [x, g(M)] (Eq. 5, RGBA reading). Set by the variant.
    injection: Literal["rhp", "alpha"] = "rhp"
    # P1: "the 4th conv layer" is ambiguous (layers from l_0, activations from a_1); the code taps the
    # output of the 3rd conv block (stride 8), the only grid that fits g's x8 upsampling.
    pha_layer: int = 3
    # P3/P4: Eq. 2 min-max normalises PHA. TAM's M = Avg(A) read literally ("none") averages 256
    # sigmoid channels to ~0.5 everywhere (spatial std ~0.004: no guidance); the reference TAM that
    # runs (`trainable_attn`) min-maxes it, so every variant defaults to "minmax". Scope and epsilon
    # are not in the paper: per sample with a clamped denominator (the code: whole batch, no epsilon).
    attn_norm: Literal["minmax", "none"] = "minmax"
    attn_norm_scope: Literal["sample", "batch"] = "sample"
    attn_norm_eps: float = 1e-8
    # P5: the reference hard-codes BatchNorm in the TAM branch whatever the discriminator's norm.
    tam_branch_norm: Literal["batch", "instance"] = "batch"
    # P13: the paper has a learned g in every setting (one g shared by G and F); the reference
    # unsupervised code has none (a parameter-free resize of the map): "fixed", the unsupervised
    # default for that reason. (A larger influence is no argument: a generator that never saw a map
    # moves as much under x·(1 + M), see README "Measured".)
    transfer_block: Literal["learned", "fixed"] = "fixed"
    # The reference g ends with an InstanceNorm on the 1-channel logits (standardises each map).
    transfer_last_norm: Literal["instance", "none"] = "instance"
    # P8: all-ones at the start (paper and code); U[0,1) noise was tried in the paper ("limited impact").
    # The test path's first pass starts from the same kind of map (test_placeholder="training").
    memory_init: Literal["ones", "uniform"] = "ones"
    # P11: "image" keeps stored maps in the whole image's frame and maps them through each batch's
    # crop and flip (the batch carries them), so a map lines up with the content it describes;
    # "crop" replays a map under the next visit's crop and flip (the reference code, flip off there).
    memory_frame: Literal["image", "crop"] = "image"
    # P16: what G sees at test. "training": what it saw in training for an image: memory variants
    # run Eq. 1 once (first pass with the memory's initial map, then D_Y's map of that output),
    # online variants the live map of the input. "ones": the paper's all-ones placeholder through
    # the training path (RHP 2x fixed / g(1) learned). "code": the reference's per-model behaviour
    # (memory RHP: constant 0.5, i.e. 1.5x; memory Alpha: ones; online: the live D map).
    test_placeholder: Literal["training", "ones", "code"] = "training"
    # Alpha's unguided passes (reconstruction, identity): "transfer" feeds g(initial map), the
    # channel G's translation pass sees at a first visit; "ones" the reference's literal 1.0, a value
    # the learned g's sigmoid never reaches (the two agree for the fixed block).
    alpha_unguided: Literal["transfer", "ones"] = "transfer"


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))


def register_variant(name: str, family: type, description: str, **defaults: Any) -> type:
    """Register `family` under `name` with its config's defaults changed to `defaults`.

    A variant is a configuration, not new code: the subclass only carries a config class whose
    defaults differ, so `harness list methods` shows it and its result records every field.
    """
    base = family.config_class
    hints = typing.get_type_hints(base)
    unknown = sorted(set(defaults) - set(hints))
    if unknown:
        raise TypeError(f"variant {name!r}: {base.__name__} has no fields {unknown}")
    cls_name = _class_name(name)
    config_cls = dataclasses.make_dataclass(
        f"{cls_name}Config", [(k, hints[k], dataclasses.field(default=v)) for k, v in defaults.items()],
        bases=(base,), frozen=True)
    config_cls.__module__ = family.__module__
    variant = type(cls_name, (family,), {"config_class": config_cls, "__module__": family.__module__,
                                         "__qualname__": cls_name, "__doc__": description})
    return register_method(name, description=description)(variant)
