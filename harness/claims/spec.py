"""Claims as data: one YAML file per claim set (a paper, or the demo), a list of claims in each.

A claim states the paper's words, where they come from, and a machine-checkable form over the cells
of one leaderboard table (`harness/leaderboard/tables/*.yaml`, or a user's with `--tables DIR`):

- `beats`:      each of `method` (one name or a list) is better than each of `than`, on every column;
- `best`:       `method` is the best (`sense: worst`: the worst) of `among` (default: every row) on every column;
- `best_count`: `method` is the best of `among` in `count` of the columns (`mode`: exactly, at_least, at_most);
- `order`:      `methods` from best to worst (an item may be a list: a group of equals in rank);
- `tie`:        every pair of `methods` is within the noise (or within `margin`, a stated tolerance);
- `qualitative`: a statement no result cell measures (a figure); listed, never given a verdict.

Columns are named by the table's column labels, or as `direction metric` (`A2B fcn_mean_iou`, which survives
a relabelled table); `columns` left out means every column, `except` removes some.
Methods are the table's row names (the paper's names; the table maps them to harness methods).
Adding a claim is adding a YAML entry here or in a folder passed with `harness claims --claims DIR`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional, Union

from harness.config import from_dict, load_yaml
from harness.errors import UsageError, did_you_mean

CLAIMS_DIR = Path(__file__).resolve().parent / "paper"
FORMS = ("beats", "best", "best_count", "order", "tie", "qualitative")
ALPHA = 0.05


@dataclass(frozen=True)
class ClaimSpec:
    id: str
    words: str  # the claim as the paper states it
    form: Literal["beats", "best", "best_count", "order", "tie", "qualitative"]
    source: str = ""  # table, section or figure
    table: str = ""  # the leaderboard table whose cells it uses
    method: Union[str, list[str], None] = None
    than: list[str] = field(default_factory=list)
    among: list[str] = field(default_factory=list)
    methods: list[Union[str, list[str]]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    except_: list[str] = field(default_factory=list)  # `except:` in YAML
    sense: Literal["best", "worst"] = "best"
    count: Optional[int] = None
    mode: Literal["exactly", "at_least", "at_most"] = "exactly"
    margin: Optional[float] = None  # differences up to this size count as ties (a stated tolerance)
    note: str = ""  # shown with the claim: what the form leaves out, where to look for a qualitative one

    @property
    def subjects(self) -> tuple[str, ...]:
        if self.method is None:
            return ()
        return (self.method,) if isinstance(self.method, str) else tuple(self.method)

    @property
    def ranks(self) -> list[tuple[str, ...]]:
        """`methods` as groups, best first (a plain name is a group of one)."""
        return [(m,) if isinstance(m, str) else tuple(m) for m in self.methods]


@dataclass(frozen=True)
class ClaimSet:
    name: str
    title: str
    claims: tuple[ClaimSpec, ...]
    # The schedule the claims are about (the paper's protocol, the demo's): results of another schedule check
    # them only when asked with --schedule. None: the most complete schedule in the results, as leaderboards do.
    schedule: Optional[str] = None
    seeds: int = 1  # runs per cell a claim needs before it can be decided
    alpha: float = ALPHA  # family-wise error rate per claim (Holm)
    source_file: str = ""


def _check(claim: ClaimSpec, where: str) -> None:
    need = {"beats": ("method", "than"), "best": ("method",), "best_count": ("method", "count"),
            "order": ("methods",), "tie": ("methods",), "qualitative": ()}[claim.form]
    for key in need:
        if getattr(claim, key) in (None, [], ""):
            raise UsageError(f"{where}: a `{claim.form}` claim needs `{key}`")
    if claim.form != "qualitative" and not claim.table:
        raise UsageError(f"{where}: give the `table` whose cells the claim uses (harness/leaderboard/tables/)")
    if claim.form == "order" and len(claim.methods) < 2:
        raise UsageError(f"{where}: an `order` claim needs at least two ranks in `methods`")
    if claim.form == "tie" and len([m for g in claim.ranks for m in g]) < 2:
        raise UsageError(f"{where}: a `tie` claim needs at least two `methods`")
    if claim.form == "best_count" and claim.count is not None and claim.count < 0:
        raise UsageError(f"{where}: `count` must be 0 or more")


def load_claim_set(path: Path) -> ClaimSet:
    """One claim file; unknown keys, missing fields and duplicate ids are errors naming the file and claim."""
    data = load_yaml(path)
    raw_claims = data.pop("claims", None)
    if not isinstance(raw_claims, list) or not raw_claims:
        raise UsageError(f"{path}: give a non-empty `claims:` list")
    claims, seen = [], set()
    for i, raw in enumerate(raw_claims):
        if not isinstance(raw, dict):
            raise UsageError(f"{path}: claim {i + 1} is not a mapping")
        raw = dict(raw)
        if "except" in raw:
            raw["except_"] = raw.pop("except")
        where = f"{path} claim {raw.get('id') or i + 1}"
        if raw.get("form") not in FORMS:
            sugg = did_you_mean(str(raw.get("form")), FORMS)
            raise UsageError(f"{where}: form {raw.get('form')!r} is not one of {', '.join(FORMS)}"
                             + (f"; did you mean {sugg[0]!r}?" if sugg else ""))
        claim = from_dict(ClaimSpec, raw, where=where)
        if claim.id in seen:
            raise UsageError(f"{where}: the id {claim.id!r} appears twice")
        seen.add(claim.id)
        _check(claim, where)
        claims.append(claim)
    data.setdefault("name", path.stem)
    data.setdefault("title", data["name"])
    header = from_dict(ClaimSet, {**data, "claims": []}, where=str(path))
    if header.seeds < 1 or not 0 < header.alpha < 1:
        raise UsageError(f"{path}: `seeds` must be 1 or more and `alpha` between 0 and 1")
    return dataclasses.replace(header, claims=tuple(claims), source_file=str(path))


def load_claim_sets(extra_dirs: tuple[Path, ...] = ()) -> list[ClaimSet]:
    """The shipped claim sets, then those in `extra_dirs`; a later file with the same name replaces an earlier."""
    sets: dict[str, ClaimSet] = {}
    for folder in (CLAIMS_DIR, *map(Path, extra_dirs)):
        if not folder.is_dir():
            raise UsageError(f"claims folder {folder} does not exist (--claims DIR: a folder of *.yaml claim files)")
        for path in sorted(folder.glob("*.yaml")):
            claim_set = load_claim_set(path)
            sets[claim_set.name] = claim_set
    return list(sets.values())
