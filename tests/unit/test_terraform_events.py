from __future__ import annotations

from kprov.tools.terraform import TerraformError, _diagnostic, _outputs, _parse, _summary


def test_non_json_lines_from_a_crashing_provider_are_skipped() -> None:
    assert _parse("panic: runtime error: invalid memory address\n") is None
    assert _parse("goroutine 1 [running]:") is None
    assert _parse('{"type": "version", "ui": "1.2"}') == {"type": "version", "ui": "1.2"}
    assert _parse("{not json") is None


def test_diagnostics_carry_file_and_line() -> None:
    d = _diagnostic({"severity": "error", "summary": "Unsupported argument",
                     "detail": "An argument named \"nam\" is not expected here. Did you mean \"name\"?",
                     "range": {"filename": "main.tf", "start": {"line": 12, "column": 3}}})
    assert str(d) == ('Unsupported argument: An argument named "nam" is not expected here. '
                      'Did you mean "name"? (main.tf:12)')
    err = TerraformError("plan", 1, [d])
    assert str(err).startswith("terraform plan failed: Unsupported argument")
    assert err.exit_code == 4


def test_last_change_summary_and_outputs_win() -> None:
    msgs = [{"type": "change_summary", "changes": {"add": 3, "change": 0, "remove": 0}},
            {"type": "change_summary", "changes": {"add": 2, "change": 1, "remove": 0}},
            {"type": "outputs", "outputs": {"nodes": {"value": {"a": 1}, "sensitive": False}}}]
    s = _summary(msgs)
    assert (s.add, s.change, s.remove) == (2, 1, 0)
    assert _outputs(msgs) == {"nodes": {"a": 1}}
