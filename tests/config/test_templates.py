"""Templates are checked: only the documented fields, each bare (no attribute or index access,
no conversion, no width or precision), a short template, and a capped expansion."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocd.config import fill_template, parse_type
from ocd.config.values import MAX_EXPANDED_CHARS, MAX_TEMPLATE_CHARS
from ocd.shots.inputs import InputLocator, ShotInputError

SPEC = parse_type("template(shotid|ifuslot|track)")
FIELDS = {"shotid": "20171119v009", "ifuslot": "047", "track": "E"}


@pytest.mark.parametrize("template", [
    "{shotid}_{ifuslot}_{track}.cfg", "plain.cfg", "{{literal}}_{shotid}", "{track}{track}",
])
def test_bare_documented_fields_are_accepted(template):
    assert SPEC.convert(template, Path.cwd()) == template


@pytest.mark.parametrize("template", [
    "{shotid.__class__}",                  # attribute
    "{shotid.__class__.__mro__}",
    "{shotid[0]}",                         # index
    "{shotid!r}",                          # conversion
    "{shotid:>200000000}",                 # width
    "{shotid:.3}",                         # precision
    "{shotid:{track}}",                    # nested field in the spec
    "{0}", "{}",                           # positional
    "{ifu}",                               # not a documented field
    "{shotid",                             # not a template at all
])
def test_anything_else_is_refused_with_one_line(template):
    with pytest.raises(ValueError) as refused:
        SPEC.convert(template, Path.cwd())
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith(("expected a template with the fields {shotid}, "
                                          "{ifuslot}, {track}, each bare: not {",
                                          "not a template"))


def test_a_long_template_is_refused():
    SPEC.convert("x" * MAX_TEMPLATE_CHARS, Path.cwd())
    with pytest.raises(ValueError, match=f"at most {MAX_TEMPLATE_CHARS} characters"):
        SPEC.convert("x" * (MAX_TEMPLATE_CHARS + 1), Path.cwd())


def test_fill_template_fills_the_fields():
    assert fill_template("{shotid}_{ifuslot}_{track}.cfg", FIELDS) == "20171119v009_047_E.cfg"
    assert fill_template("{{x}}{track}", FIELDS) == "{x}E"


@pytest.mark.parametrize("template", ["{shotid:>99999}", "{shotid.__class__}", "{shotid[0]}",
                                      "{shotid!r}", "{nope}"])
def test_fill_template_checks_again_what_did_not_come_through_the_kind(template):
    with pytest.raises(ValueError, match="each bare"):
        fill_template(template, FIELDS)


def test_the_expanded_text_is_capped():
    long = {**FIELDS, "shotid": "s" * 200}
    with pytest.raises(ValueError, match=f"at most {MAX_EXPANDED_CHARS}"):
        fill_template("{shotid}{shotid}", long)
    assert len(fill_template("{shotid}", long)) == 200


def test_a_shot_with_a_runaway_name_is_refused_with_one_line(tmp_path):
    locator = InputLocator(tmp_path, "{shotid}_{shotid}_{track}.cfg", tmp_path, "{shotid}.jpg")
    with pytest.raises(ShotInputError, match="bad file name template: the name would be"):
        locator.paths("v" * 200, "047", "E")
    rogue = InputLocator(tmp_path, "{shotid:>200000000}", tmp_path, "{shotid}.jpg")
    with pytest.raises(ShotInputError, match="each bare"):
        rogue.paths("v", "047", "E")
