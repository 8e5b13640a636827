"""How a page's code blocks are read: run, written as a file, or marked illustrative."""

from ocd.dev.doc_commands import blocks, command_lines

PAGE = """\
# A page

    ocd config copy     # a comment stays
    ocd config show \\
        --config

<!-- illustrative: sample output -->

    03:00:00  shot started

<!-- file: night.cfg -->

    [dates]
    mock_time = 2017-11-19T03:00:00

```json
{"shots_completed": 2}
```

```sh
# a comment line
ocd run --config night.cfg --yes
ocd listen --config night.cfg
```

- a list item
  with a continuation line

    03:00:01  an unmarked sample is run (and fails)
"""


def test_each_block_has_its_kind_and_first_line():
    found = blocks("page.md", PAGE)
    assert [(b.kind, b.name, b.line) for b in found] == [
        ("run", "", 3), ("illustrative", "sample output", 9),
        ("file", "night.cfg", 13), ("illustrative", "a json block", 17),
        ("run", "", 21), ("run", "", 29)]
    assert found[2].lines == ("[dates]", "mock_time = 2017-11-19T03:00:00")


def test_command_lines_carry_their_block_and_the_files_above():
    commands = command_lines("page.md", PAGE)
    assert [(c.line, c.text) for c in commands] == [
        (3, "ocd config copy     # a comment stays"),
        (4, "ocd config show --config"),
        (22, "ocd run --config night.cfg --yes"),
        (23, "ocd listen --config night.cfg"),
        (29, "03:00:01  an unmarked sample is run (and fails)")]
    assert commands[0].words == ["ocd", "config", "copy"]
    assert commands[1].before == ("ocd config copy     # a comment stays",)
    assert commands[1].files == ()
    assert commands[3].before == ("ocd run --config night.cfg --yes",)
    assert commands[3].files == (("night.cfg", "[dates]\nmock_time = 2017-11-19T03:00:00\n"),)
