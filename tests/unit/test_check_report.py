"""vecbridge.testing's report: printed and shown in a REPL as the `vecbridge check` report, not as a dataclass repr."""

from __future__ import annotations

from vecbridge.testing import CheckReport, NotChecked


def test_a_report_prints_and_shows_readably_and_counts_what_it_could_not_check():
    report = CheckReport("my game")
    report.run("handshake", lambda: "Box(0, 1, (4,), float32)")
    report.run("seeding", lambda: (_ for _ in ()).throw(AssertionError("reset(seed) twice differed")))

    def autoreset():
        raise NotChecked("no episode ended within 100 steps")

    report.run("autoreset", autoreset)
    expected = ("vecbridge check: my game\n"
                "  [PASS] handshake  (Box(0, 1, (4,), float32))\n"
                "  [FAIL] seeding\n"
                "         AssertionError: reset(seed) twice differed\n"
                "  [SKIP] autoreset  (no episode ended within 100 steps)\n"
                "1 passed, 1 failed, 1 not checked")  # fmt: skip
    assert str(report) == repr(report) == report.format() == expected
    assert not report.ok
    report.results.pop(1)
    assert report.ok  # a check that could not run does not fail the report
