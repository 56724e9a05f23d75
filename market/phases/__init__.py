"""The month's phases, in the order `ComputeMarket.step` runs them. Each is an object built once per run with the
model (the agents, the configuration and the random streams it reads); each call takes the frozen objects the
earlier phases returned (market/offers.py) and returns its own.

1. selling.SellingPhase()               -> OfferBook (priced)
2. buying.BuyingPhase(book)              -> Orders
3. trading.TradingPhase(book, orders)    -> Fills
4. renting.RentingPhase(book)            -> RentalOutcome
5. ecosystem.EcosystemPhase(book, orders) -> EcosystemOutcome
(6. the venture side, market/venture.py, and record-keeping, market/recorder.py)
"""
