"""The risk model's fit on a price history (:mod:`premarket.risk`, plain numpy)."""
