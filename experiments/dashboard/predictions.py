"""Predict, then run: each lesson's prediction question, the outcome it is checked against in the student's own
run, and the answer book a teacher reads for the debrief.

The answer book lives in the server's memory only (one per `compute-market dashboard` process, shared by the
browser sessions of that server, gone when it stops): nothing is written to disk or sent anywhere.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from experiments.dashboard import lesson_figures as lf


@dataclass(frozen=True)
class Prediction:
    """A lesson's question. kind "number" (answered in `unit`) or "choice" (one of `choices`); `outcome` reads the
    student's run once it has `months` months (a number in `unit`, or one of the choices)."""

    question: str
    kind: str
    unit: str
    outcome: Callable[[lf.Run], float | str]
    months: int
    choices: tuple[str, ...] = ()

    def shown(self, value) -> str:
        if isinstance(value, str):
            return value
        return f"{value:,.2f} {self.unit}".strip() if np.isfinite(value) else "n/a"


def _falls_more(run: lf.Run) -> str:
    """Which of NVIDIA's 2027 margins fell further from 2026: booked or posted (within 0.01: about the same)."""
    booked = lf.margin("nvidia", 2026)(run) - lf.margin("nvidia", 2027)(run)
    posted = (lf.margin("nvidia", 2026, "margin_posted")(run) - lf.margin("nvidia", 2027, "margin_posted")(run))
    if abs(booked - posted) < 0.01:
        return "about the same"
    return "booked" if booked > posted else "posted"


BY_LESSON: dict[str, Prediction] = {  # keyed by the lesson file's number
    "01": Prediction("With lock-in 0, NVIDIA's 2024 gross margin (booked) will be (0 to 1):", "number", "",
                     lf.margin("nvidia", 2024), 24),
    "02": Prediction("With an open software stack, NVIDIA's 2032 share of chip revenue will be (0 to 1):", "number",
                     "", lf.yearly("revenue_share_nvidia", 2032), 120),
    "03": Prediction("With half the HBM, total chip revenue in 2024 will be (USD billion):", "number", "USD B",
                     lf.chip_revenue_b(2024), 24),
    "04": Prediction("With export controls, total chip revenue in 2024 will be (USD billion):", "number", "USD B",
                     lf.chip_revenue_b(2024), 24),
    "05": Prediction("Share of deals that return less than the money invested (per cent):", "number", "%",
                     lf.deal_share(below=1.0), 60),
    "06": Prediction("In the 2027 bust, which of NVIDIA's margins falls further from 2026?", "choice", "", _falls_more,
                     60, ("booked", "posted", "about the same")),
}


def for_lesson(slug: str) -> Prediction | None:
    return BY_LESSON.get(slug[:2])


def outcome(prediction: Prediction, model) -> str | None:
    """The outcome in this run, as shown beside the answer, or None until the run has the months it needs."""
    if model.month < prediction.months:
        return None
    venture = model.venture
    run = lf.Run(model.model_table(), model.vendor_table(), venture.deal_table() if venture else None,
                 venture.fund_table() if venture else None)
    return prediction.shown(prediction.outcome(run))


def parse_answer(prediction: Prediction, text: str):
    """The answer as entered (a number for a number question), or a ValueError saying what is expected."""
    if prediction.kind == "choice":
        if text not in prediction.choices:
            raise ValueError(f"choose one of: {', '.join(prediction.choices)}")
        return text
    match = re.fullmatch(r"\s*\$?\s*(-?[\d.]+)\s*(b|bn|billion|%)?\s*", text.replace(",", ""), flags=re.IGNORECASE)
    try:
        value = float(match.group(1)) if match else float("x")
    except ValueError:
        raise ValueError(f"enter a number{' in ' + prediction.unit if prediction.unit else ''}") from None
    if not np.isfinite(value):
        raise ValueError("enter a finite number")
    return value


COLUMNS = ("time", "student", "lesson", "question", "answer", "run", "outcome")


class AnswerBook:
    """Every session's latest answer per lesson, with the outcome of its run once known. Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], dict] = {}

    def record(self, session: str, student: str, lesson: str, question: str, answer) -> None:
        with self._lock:
            self._rows[(session, lesson)] = {"time": time.strftime("%H:%M:%S"), "student": student or session[:6],
                                             "lesson": lesson, "question": question, "answer": answer, "run": "",
                                             "outcome": ""}

    def set_outcome(self, session: str, lesson: str, run: str, value: str) -> None:
        with self._lock:
            row = self._rows.get((session, lesson))
            if row is not None:
                row.update(run=run, outcome=value)

    def answer(self, session: str, lesson: str):
        with self._lock:
            row = self._rows.get((session, lesson))
            return None if row is None else row["answer"]

    def table(self) -> pd.DataFrame:
        with self._lock:
            return pd.DataFrame([dict(r) for r in self._rows.values()], columns=list(COLUMNS))

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


BOOK = AnswerBook()
