"""Regenerate examples/clinic-dialogue/knowledge/home-blood-pressure-monitoring.pdf.

A one-off (the PDF is committed, 3 KB): run it with fpdf2 installed anywhere, e.g.
``python -m venv /tmp/pdf && /tmp/pdf/bin/pip install fpdf2 &&
/tmp/pdf/bin/python tests/knowledge/make_example_pdf.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF  # type: ignore[import-untyped]  # fpdf2 is not a dependency; no stubs

TARGET = (
    Path(__file__).resolve().parents[2]
    / "examples/clinic-dialogue/knowledge/home-blood-pressure-monitoring.pdf"
)
TITLE = "Measuring your blood pressure at home"
PAGES = [
    [
        (
            "Why measure at home",
            "Home readings show your usual blood pressure away from the stress of a clinic. "
            "They are used to confirm a diagnosis of high blood pressure and to check whether "
            "treatment is working. Use a validated automatic upper-arm monitor; wrist and "
            "finger monitors are less accurate.",
        ),
        (
            "Choosing the cuff",
            "The cuff must fit your arm: the inflatable part should go around at least 80 "
            "percent of the upper arm. A cuff that is too small gives readings that are falsely "
            "high. Measure your arm and check the size range printed on the cuff.",
        ),
    ],
    [
        (
            "How to take a reading",
            "Do not smoke, exercise or drink caffeine in the 30 minutes before. Sit with your "
            "back supported and both feet flat on the floor, legs uncrossed, and rest quietly "
            "for 5 minutes. Put the cuff on your bare upper arm with the arm resting on a table "
            "at the level of your heart. Do not talk during the measurement.",
        ),
        (
            "How many readings",
            "Take two readings, one minute apart, in the morning and in the evening, for at "
            "least four and ideally seven days. Ignore the first day and work out the average "
            "of the rest. Write every reading down or use the monitor's memory, and bring them "
            "to your appointment.",
        ),
    ],
]


def main() -> None:
    pdf = FPDF()
    pdf.set_title(TITLE)
    pdf.set_author("synthloom example")
    pdf.set_creation_date(datetime(2026, 1, 1, tzinfo=UTC))  # reproducible bytes
    for number, sections in enumerate(PAGES):
        pdf.add_page()
        if number == 0:
            pdf.set_font("Helvetica", "B", 16)
            pdf.multi_cell(0, 10, TITLE, new_x="LMARGIN", new_y="NEXT")
        for heading, body in sections:
            pdf.set_font("Helvetica", "B", 12)
            pdf.multi_cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 11)
            pdf.multi_cell(0, 6, body, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    pdf.output(str(TARGET))


if __name__ == "__main__":
    main()
