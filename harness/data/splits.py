"""Explicit, seeded, hashed train/test splits.

A split lists every train and test image per domain side. Official splits come from the
release's folders; a `random` split (day2night: the paper's 80/20) permutes each domain's
sorted images with the task's own seed, so every method and every training seed sees the
same split. The split digest goes into every result file.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from harness.data.layouts import ImageRef, Listing
from harness.errors import HarnessError
from harness.tasks import SplitSpec


@dataclass(frozen=True)
class Split:
    root: Path
    train: dict[str, list[ImageRef]]
    test: dict[str, list[ImageRef]]
    rule: str

    def lines(self) -> list[str]:
        out = []
        for name, part in (("train", self.train), ("test", self.test)):
            for side in "AB":
                for ref in part[side]:
                    rel = ref.path.relative_to(self.root).as_posix()
                    out.append(f"{name}\t{side}\t{ref.id}\t{rel}\t{ref.half or ''}")
        return out

    @property
    def digest(self) -> str:
        text = "".join(line + "\n" for line in self.lines())
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def counts(self) -> dict[str, int]:
        return {f"{name}{side}": len(part[side]) for name, part in (("train", self.train), ("test", self.test))
                for side in "AB"}

    def paired_ids(self, part: str) -> bool:
        """True when domain A and B of `part` hold the same ids in the same order (aligned data)."""
        refs = getattr(self, part)
        return [r.id for r in refs["A"]] == [r.id for r in refs["B"]]

    def save(self, path: Path) -> None:
        from harness.io import write_json
        write_json(path, {"rule": self.rule, "digest": self.digest, "counts": self.counts(),
                          "lines": self.lines()})


def make_split(root: Path, listing: Listing, spec: SplitSpec) -> Split:
    """Turn a layout listing into a split following the task's rule."""
    if spec.kind == "official":
        if "train" not in listing or "test" not in listing:
            raise HarnessError(f"{root} has no official train/test folders; the task needs them")
        split = Split(root, listing["train"], listing["test"], "official")
    else:
        # Pool every part (a release's own split is replaced, as the paper's 80/20 protocol does).
        pool = {side: sorted((r for part in listing.values() for r in part[side]), key=lambda r: (r.id, str(r.path)))
                for side in "AB"}
        train: dict[str, list[ImageRef]] = {}
        test: dict[str, list[ImageRef]] = {}
        for side, refs in pool.items():
            order = list(range(len(refs)))
            random.Random(f"{spec.seed}:{side}").shuffle(order)
            n_test = int(round(len(refs) * spec.test_fraction))
            test_idx = sorted(order[:n_test])
            train_idx = sorted(order[n_test:])
            test[side] = [refs[i] for i in test_idx]
            train[side] = [refs[i] for i in train_idx]
        split = Split(root, train, test, f"random(test_fraction={spec.test_fraction}, seed={spec.seed})")
    for name, part in (("train", split.train), ("test", split.test)):
        for side in "AB":
            if not part[side]:
                raise HarnessError(f"the {name} split of domain {side} under {root} is empty")
            ids = [r.id for r in part[side]]
            if len(set(ids)) != len(ids):
                dup = next(i for i in ids if ids.count(i) > 1)
                raise HarnessError(f"image id {dup!r} appears twice in the {name} split of domain {side} under {root}")
    return split
