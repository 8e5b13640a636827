"""The TCS topics OCD follows (``[topics]``): shared by the main loop and the simulator so the
two always agree on what a heartbeat, a pointing and a guider reading are called."""

from __future__ import annotations

from dataclasses import dataclass

from ocd.config import Config


@dataclass(frozen=True)
class TcsTopics:
    heartbeat: str = "tcs.receiver.heartbeat"
    ra_dec: str = "tcs.root.ra_dec"
    metrology: tuple[str, ...] = ("pas.Guider1.metrology_data", "pas.Guider2.metrology_data")

    @classmethod
    def from_config(cls, cfg: Config) -> TcsTopics:
        return cls(heartbeat=cfg.get("topics", "tcs_heartbeat"),
                   ra_dec=cfg.get("topics", "tcs_ra_dec"),
                   metrology=tuple(cfg.get("topics", "metrology")))

    def all(self) -> list[str]:
        return [self.heartbeat, self.ra_dec, *self.metrology]
