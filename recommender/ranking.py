"""What a query answers (an Answer of Recommendations) and the score arithmetic that ranks
them: scaling to a top of 1, the best positive scores, trending fillers' scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# reasons and strategies of answers that are no model's own
TRENDING = "trending"
BUY_AGAIN = "buy_again"
PERSONAL = "personal"


@dataclass(frozen=True)
class Recommendation:
    product_id: str
    score: float
    reason: str
    because: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answer:
    strategy: str
    items: list[Recommendation]


def share(scores: np.ndarray) -> np.ndarray:
    """`scores` clipped at 0 and scaled so the top is 1 (all 0 if none is positive)."""
    clipped = np.maximum(np.asarray(scores, np.float64), 0.0)
    top = float(clipped.max()) if len(clipped) else 0.0
    return clipped / top if top > 0 else clipped


def share_rows(scores: np.ndarray) -> np.ndarray:
    """Each row of `scores` (n, items) as `share` makes it, at once."""
    if len(scores) == 1:  # one customer: share's own arithmetic is quicker on a vector
        return share(scores[0])[None]
    clipped: np.ndarray = np.maximum(scores, 0.0)
    if not clipped.shape[1]:
        return clipped
    top = clipped.max(axis=1, keepdims=True)
    top[top <= 0] = 1.0  # a row whose top is 0 is all 0 already
    clipped /= top
    return clipped


SORT_ALL = 1024  # up to this many scores a full sort is cheaper than partition + sort


def best(scores: np.ndarray, n: int) -> list[int]:
    """Indices of the `n` best positive scores, best first, ties by index."""
    n = min(n, len(scores))
    if n <= 0:
        return []
    if len(scores) <= SORT_ALL:  # a small catalog: one stable sort (ties keep index order)
        ordered = np.argsort(-scores, kind="stable")[:n]
    else:
        top = np.argpartition(-scores, n - 1)[:n]
        ordered = top[np.lexsort((top, -scores[top]))]
    return ordered[scores[ordered] > 0].tolist()  # type: ignore[no-any-return]


def best_rows(scores: np.ndarray, n: int) -> list[list[int]]:
    """`best` of each row of `scores` (rows, items): one sort for all rows of a small catalog."""
    n = min(n, scores.shape[1])
    if n <= 0 or scores.shape[1] > SORT_ALL or len(scores) == 1:
        return [best(row, n) for row in scores]
    ordered = np.argsort(-scores, axis=1, kind="stable")[:, :n]
    positive = scores[np.arange(len(scores))[:, None], ordered] > 0
    return [row[keep].tolist() for row, keep in zip(ordered, positive, strict=True)]


def filler_score(floor: float | None, share: float) -> float:
    """A trending filler's score from its trending share (1 = the top seller): the share itself
    when nothing else was found, else strictly below `floor`, the lowest score found (which
    may be negative), keeping the trending order."""
    if floor is None:
        return share
    margin = max(abs(floor), 1e-6) * 0.5
    return floor - margin * (2.0 - share)


class Fillers:
    """Trending products in trending order (ties by product id), each with its share of the
    top seller: what tops up an answer (`fill`)."""

    def __init__(self, item_ids: np.ndarray, trending: np.ndarray) -> None:
        order = np.lexsort((item_ids, -trending))
        top = float(trending.max()) if len(trending) else 0.0
        shares = (trending / top if top > 0 else 0.0 * trending)[order]
        self.items = list(zip(item_ids[order].tolist(), shares.tolist(), strict=True))

    def fill(self, found: list[Recommendation], limit: int,
             exclude: set[str]) -> list[Recommendation]:
        """`found` but `exclude`, cut to `limit`, topped up to `limit` with trending products
        not in `exclude`, scored below everything found (filler_score)."""
        found = [r for r in found if r.product_id not in exclude][:limit]
        taken = exclude | {r.product_id for r in found}
        floor = min((r.score for r in found), default=None)
        for item, part in self.items:
            if len(found) >= limit:
                break
            if item not in taken:
                found.append(Recommendation(item, filler_score(floor, part), TRENDING))
                taken.add(item)
        return found
