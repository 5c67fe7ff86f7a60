"""What the middleware records of each answer for the metrics and the coverage, and when.

Counting every answer into the metrics (by route, method and status, with its latency) and
the coverage (by route template and status, with its catalogue entry) as it happened cost more
than the rest of recording it; and nearly every answer of a busy run has the route, method and
status of the one before. So the middleware notes each answer as one small tuple
(:meth:`AnswerTally.note`), and the tally hands them in grouped: one count per distinct answer,
the latencies of a route in one pass. It does so when the figures are read (a scrape, the
coverage's view, a reset: :attr:`~mockapi.web.metrics.Metrics.flush_pending` and
:attr:`~mockapi.domain.coverage.Coverage.flush_pending`), and every :data:`FLUSH_EVERY` answers,
so what it holds stays small.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from operator import itemgetter

from mockapi.domain.coverage import Coverage
from mockapi.domain.errors import ErrorSpec
from mockapi.web.metrics import Metrics

#: At most this many answers wait to be counted.
FLUSH_EVERY = 512


@dataclass(frozen=True, slots=True)
class RouteFacts:
    """What recording asks of a request's route: its name (the metrics' label), its path
    template (the coverage's) and whether its answers are journaled (None: it depends on the
    path, for a route whose path has a variable part)."""

    name: str | None
    template: str
    journaled: bool | None


#: An answer as noted: its route, method, the status sent (None: a fault kept it from the
#: client), the seconds it took (None: not timed, a WebSocket session), its catalogue entry,
#: and whether the coverage counts it (journaled, and sent).
Answer = tuple[RouteFacts, str, int | None, float | None, ErrorSpec | None, bool]
#: What one answer counts as: everything but its time.
_COUNTED = itemgetter(0, 1, 2, 4, 5)


class AnswerTally:
    """Answers noted by the middleware, counted into the metrics and the coverage in bulk.

    It makes itself the ``flush_pending`` of both, so neither is read without every answer
    noted before the read.
    """

    __slots__ = ("_answers", "_coverage", "_metrics")

    def __init__(self, metrics: Metrics, coverage: Coverage) -> None:
        self._answers: list[Answer] = []
        self._metrics = metrics
        self._coverage = coverage
        metrics.flush_pending = self.flush
        coverage.flush_pending = self.flush

    def note(
        self,
        route: RouteFacts,
        method: str,
        sent: int | None,
        seconds: float | None,
        error: ErrorSpec | None,
        covered: bool,
    ) -> None:
        """One answer (see :data:`Answer`)."""
        answers = self._answers
        answers.append((route, method, sent, seconds, error, covered))
        if len(answers) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Count every answer noted since the last flush."""
        answers, self._answers = self._answers, []
        if not answers:
            return
        metrics, coverage = self._metrics, self._coverage
        for (route, method, sent, error, covered), count in Counter(map(_COUNTED, answers)).items():
            metrics.count(route.name, method, sent, count)
            if covered and sent is not None:
                coverage.note_answer(method, route.template, sent, error, count)
        timed: dict[str | None, list[float]] = {}
        for route, _, _, seconds, _, _ in answers:
            if seconds is not None:
                times = timed.get(route.name)
                if times is None:
                    times = timed[route.name] = []
                times.append(seconds)
        for name, times in timed.items():
            metrics.time(name, times)
