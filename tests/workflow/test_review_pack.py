"""`review.yaml` in the governance pack: parsed into stages, every problem named with its line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dam.governance.pack import PackInvalid, load_pack
from dam.governance.review import DEFAULT_REVIEW
from tests.conftest import ROOT


def _pack(tmp_path: Path, review: str | None) -> Path:
    pack_dir = tmp_path / "pack"
    shutil.copytree(ROOT / "taxonomy", pack_dir)
    if review is None:
        (pack_dir / "review.yaml").unlink()
    else:
        (pack_dir / "review.yaml").write_text(review)
    return pack_dir


def test_without_review_yaml_one_brand_stage_applies(tmp_path: Path) -> None:
    pack = load_pack(_pack(tmp_path, None))
    assert pack.review is DEFAULT_REVIEW
    [stage] = pack.review.stages_for({"usage_rights": ["stock"]})
    assert (stage.id, stage.roles, stage.require, stage.sla_hours) == (
        "brand",
        ("admin", "brand_manager"),
        "any",
        None,
    )


def test_stages_are_scoped_with_when_like_rules(tmp_path: Path) -> None:
    pack = load_pack(ROOT / "taxonomy")
    route = pack.review.stages_for
    assert [s.id for s in route({"usage_rights": ["owned"]})] == ["brand"]
    # `licensed` matches its descendants; `emea` matches Nordic countries two levels down.
    assert [s.id for s in route({"usage_rights": ["talent"], "region": ["no"]})] == [
        "brand",
        "legal",
        "regional",
    ]
    assert [s.id for s in route({"region": ["global"]})] == ["brand"]


def test_a_pack_whose_stages_all_miss_still_reviews(tmp_path: Path) -> None:
    pack = load_pack(
        _pack(
            tmp_path,
            "stages:\n  - id: legal\n    when: {usage_rights: [licensed]}\n"
            "    approvers: {roles: [admin]}\n",
        )
    )
    assert [s.id for s in pack.review.stages_for({"usage_rights": ["owned"]})] == ["legal"]


BROKEN = """stages:
  - id: brand
    approvers: {roles: [designer]}
    require: most
    sla_hours: -2
    parallel: true
  - id: brand
    approvers: {users: [not-an-email]}
  - id: legal
    when: {rights: [licensed], usage_rights: [licenced]}
    approvers: {}
    sla_hours: "8"
    keep_on_resubmit: yes please
    escalate: true
"""


def test_every_problem_is_named_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(PackInvalid) as caught:
        load_pack(_pack(tmp_path, BROKEN))
    problems = [(e.line, e.message) for e in caught.value.errors if e.file.endswith("review.yaml")]
    messages = "\n".join(f"{line}: {m}" for line, m in problems)
    expected = [
        (3, "stage 'brand': approvers.roles: 'designer' does not review"),
        (4, "stage 'brand': require must be any or all, not 'most'"),
        (5, "stage 'brand': sla_hours must be a number of working hours above 0"),
        (6, "stage 'brand': the first stage has no stage before it to run beside"),
        (7, "duplicate stage id 'brand' (first at line 2)"),
        (8, "stage 'brand': approvers.users: 'not-an-email' is not an email"),
        (10, "stage 'legal': when: unknown facet 'rights'"),
        (10, "stage 'legal': when.usage_rights: unknown term 'licenced'"),
        (11, "stage 'legal': approvers: name at least one role or user"),
        (12, "stage 'legal': sla_hours must be a number of working hours above 0"),
        (13, "stage 'legal': keep_on_resubmit must be true or false"),
        (14, "stage 'legal': unknown key 'escalate'"),
    ]
    for line, text in expected:
        assert any(at == line and text in m for at, m in problems), f"{line}: {text}\n{messages}"
    assert len(problems) == len(expected), messages
