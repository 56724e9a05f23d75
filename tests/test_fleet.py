"""Fleet arithmetic (market/fleet.py): a cloud's running chips and its fleet's draw are kept between the month's
questions only while what they were computed from is unchanged."""

from __future__ import annotations

import pytest

from market.config import VentureConfig, fitted_config
from market.fleet import Fleets
from market.model import ComputeMarket


def fresh(model) -> Fleets:
    return Fleets(model.chip_index, model.tco, model.config.power.power_enabled)


def test_running_chips_are_recomputed_when_the_fleet_its_sites_or_the_rates_change():
    model = ComputeMarket(fitted_config(months=24, venture=VentureConfig(enabled=False)), rng=2)
    model.run()
    book = model.last_month.book
    cloud = max(model.hyperscalers, key=lambda h: len(h.fleet))
    fleets = model.fleets

    def agrees(rates=book.rates):  # the kept answer is the one a fleet calculator with nothing kept gives
        kept = fleets.running(cloud, rates, book.inference_share)
        alone = fresh(model).running(cloud, rates, book.inference_share)
        assert [[float(x) for x in part] for part in kept] == [[float(x) for x in part] for part in alone]
        assert fleets.draw_w(cloud) == fresh(model).draw_w(cloud)  # the fleet's draw, kept with it, too
        return kept

    first = agrees()
    drawn = fleets.draw_w(cloud)
    assert fleets.running(cloud, book.rates, book.inference_share) is first  # asked again unchanged: kept
    cloud.retire(0.25)
    after_retiring = agrees()
    assert list(after_retiring[1]) != list(first[1])
    assert fleets.draw_w(cloud) < drawn
    cloud.site_w = 0.5 * sum(u * fleets.facility_w(c) for c, u in cloud.fleet.items())  # half its fleet's draw
    after_sites = agrees()
    assert sum(after_sites[0]) < sum(after_retiring[0])
    cloud.add_chips(next(iter(cloud.fleet)), 1e5, 1.0)
    agrees()
    halved = {cid: (t / 2, s / 2) for cid, (t, s) in book.rates.items()}
    assert sum(agrees(halved)[1]) < sum(fleets.running(cloud, book.rates, book.inference_share)[1])


def test_the_installed_base_and_power_by_vendor_come_from_one_pass_over_the_fleets():
    model = ComputeMarket(fitted_config(months=24, venture=VentureConfig(enabled=False)), rng=1)
    model.run()
    base, power = model.installed_by_vendor()
    assert set(base) == set(model.vendors) and set(power) <= set(model.vendors)
    for vid in model.vendors:
        held = [(model.chip_index[c], u) for h in model.hyperscalers for c, u in h.fleet.items()
                if model.chip_index[c].vendor == vid]
        assert base[vid] == pytest.approx(sum(u for _, u in held), rel=1e-12)
        assert power.get(vid, 0.0) == pytest.approx(sum(u * chip.tdp_w / 1e9 for chip, u in held), rel=1e-12)
    assert sum(base.values()) > 0 and len([v for v in base.values() if v > 0]) > 1
    assert model.installed_base_by_vendor() == base and model.installed_power_by_vendor() == power
