"""Clouds' fleets seen from the data centre: what each chip draws at the meter, what a fleet draws, which of its
chips its sites can run and the useful work they do, and what is installed by vendor.

`Fleets` holds the run's chip index (shared with the model, which adds chips as they launch) and a cache of each
chip's facility watts (a chip's TDP never changes in a run).
"""

from __future__ import annotations

from hardware_catalog import Accelerator

from . import choice, power


class Fleets:
    """Fleet arithmetic for one run: `chip_index` (chip id -> Accelerator, the model's), the TCO (for facility
    power) and whether power is modelled."""

    def __init__(self, chip_index: dict[str, Accelerator], tco, power_enabled: bool) -> None:
        self.chip_index = chip_index
        self.tco = tco
        self.power_enabled = power_enabled
        self._watts: dict[str, float] = {}  # facility W per chip, by chip id
        # useful work per chip-hour by chip id for the last (rates, inference share) asked: the phases of a month ask
        # for each cloud's fleet several times with the month's rates
        self._work_of: tuple[dict, float, dict[str, float]] | None = None
        # each cloud's last `running` answer with what it was computed from: the rates (by identity), the inference
        # share, its site power and its fleet (chip id, units) as they were; a month asks again with all of them
        # unchanged (the ecosystem phase after the renting phase)
        self._running: dict[int, tuple] = {}
        self._draw: dict[int, tuple[tuple, float]] = {}  # each cloud's last draw_w answer with its fleet as it was

    def facility_w(self, chip_id: str) -> float:
        """W at the facility meter of one chip (market/power.facility_watts)."""
        watts = self._watts.get(chip_id)
        if watts is None:
            watts = self._watts[chip_id] = float(power.facility_watts(self.chip_index[chip_id].tdp_w, self.tco))
        return watts

    def draw_w(self, h) -> float:
        """W the whole of cloud `h`'s fleet would draw running (idle chips included), kept with the fleet (chip id,
        units) it was computed for: a month asks about 6 times per cloud, its fleet changed once or twice."""
        fleet = tuple(h.fleet.items())
        kept = self._draw.get(id(h))
        if kept is not None and kept[0] == fleet:
            return kept[1]
        watts = self._watts  # facility_w's cache, read directly
        drawn = sum(units * (watts[cid] if cid in watts else self.facility_w(cid)) for cid, units in fleet)
        self._draw[id(h)] = (fleet, drawn)
        return drawn

    def powered(self, h, work: list[float]):
        """Chips of each type in `h`'s fleet its sites can run (fleet order): all of them while they fit, else the
        most work per watt first (market/power.powered_units; `work`: HEq per chip-hour, fleet order)."""
        units = list(h.fleet.values())
        if not self.power_enabled or self.draw_w(h) <= h.site_w:
            return units
        watts = self._watts  # draw_w has put every chip of the fleet in facility_w's cache
        return power.powered_units(units, [watts[c] for c in h.fleet], work, h.site_w)

    def work_rates(self, rates, inference_share: float) -> dict[str, float]:
        """Useful work per chip-hour (HEq) of each chip in `rates` (chip id -> (training, serving) rate) on the mix
        with `inference_share` of inference (market/choice.work_rate), kept while the same rates are asked for."""
        kept = self._work_of
        if kept is None or kept[0] is not rates or kept[1] != inference_share:
            work = {cid: float(choice.work_rate(*rate, inference_share)) for cid, rate in rates.items()}
            kept = self._work_of = (rates, inference_share, work)  # holds `rates`, so its identity is not reused
        return kept[2]

    def running(self, h, rates, inference_share: float) -> tuple:
        """(chips running, useful work in HEq) of each chip type in `h`'s fleet, in fleet order (tuples: the answer
        is kept and may be given again, so it cannot be changed)."""
        fleet = tuple(h.fleet.items())
        kept = self._running.get(id(h))
        if (kept is not None and kept[0] is rates and kept[1] == inference_share and kept[2] == h.site_w
                and kept[3] == fleet):
            return kept[4]
        work_of = self.work_rates(rates, inference_share)
        work = [work_of[cid] for cid in h.fleet]
        units = self.powered(h, work)
        answer = tuple(units), tuple(u * w for u, w in zip(units, work, strict=True))
        self._running[id(h)] = (rates, inference_share, h.site_w, fleet, answer)  # holds `rates`, as work_rates does
        return answer

    def work(self, h, rates, inference_share: float) -> tuple:
        """Useful work (HEq) of each chip type in `h`'s fleet that its sites can power, in fleet order (the products
        as they are: their sum, `heq`, then adds them exactly as it always has)."""
        return self.running(h, rates, inference_share)[1]

    def heq(self, h, rates, inference_share: float) -> float:
        """Useful work (HEq) of the chips `h`'s sites can run."""
        return sum(self.work(h, rates, inference_share))

    def deployed_gw(self, clouds, rates, inference_share: float) -> list[float]:
        """Facility GW of the chips each cloud's sites run (cloud order)."""
        out = []
        watts = self._watts  # facility_w's cache, read directly
        for h in clouds:
            running = self.running(h, rates, inference_share)[0]
            out.append(sum(u * (watts[c] if c in watts else self.facility_w(c))
                           for u, c in zip(running, h.fleet, strict=True)) / 1e9)
        return out

    def installed_by_vendor(self, clouds) -> tuple[dict[str, float], dict[str, float]]:
        """(chips, GW of accelerator TDP) installed in `clouds`' fleets, by the chip's vendor, in one pass."""
        units_of: dict[str, float] = {}
        gw_of: dict[str, float] = {}
        index = self.chip_index
        for h in clouds:
            for cid, units in h.fleet.items():
                chip = index[cid]
                units_of[chip.vendor] = units_of.get(chip.vendor, 0.0) + units
                gw_of[chip.vendor] = gw_of.get(chip.vendor, 0.0) + units * chip.tdp_w / 1e9
        return units_of, gw_of
