"""The budget: a plan over it is refused before anything is sent, and while running, requests in
flight reserve their estimate, so that spend plus reservations never passes it. One rule,
`Budget.allows`, for both."""

from __future__ import annotations

from storyboard.errors import BudgetError

EPSILON = 1e-9  # a plan exactly at its budget fits: sums of float prices land a hair above it


class Budget:
    """Spend so far and reservations in flight against a limit (None: no limit)."""

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self.spent = 0.0
        self.reserved = 0.0

    def allows(self, cost: float) -> bool:
        """Tell whether `cost` more still fits beside what is spent and reserved."""
        return self.limit is None or self.spent + self.reserved + cost <= self.limit + EPSILON

    def reserve(self, estimate: float) -> bool:
        """Reserve a request's estimate if it fits; tell whether it did."""
        if not self.allows(estimate):
            return False
        self.reserved += estimate
        return True

    def settle(self, estimate: float, cost: float | None) -> None:
        """Release a reservation; count what the request really cost (None: nothing was made)."""
        self.reserved -= estimate
        self.spent += cost or 0.0

    def check_plan(self, cost: float, unpriced: int) -> None:
        """Refuse a plan whose new requests cost more than the limit, or cannot all be priced."""
        if self.limit is None:
            return
        if unpriced:
            raise BudgetError(
                f"{unpriced} request(s) use a model without a known price, so --budget cannot hold. "
                "Drop --budget or use a known model (storyboard models)."
            )
        if not self.allows(cost):
            raise BudgetError(
                f"the plan's new requests are estimated at ${cost:.2f}, above the budget of ${self.limit:.2f}. "
                "Raise --budget, or run fewer frames with --only."
            )
