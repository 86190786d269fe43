"""The strategy registry: name -> Strategy instance."""

from __future__ import annotations

from engine.errors import ConfigError, did_you_mean
from strategies.base import Strategy
from strategies.baselines import BuyAndHold, StaticMix
from strategies.rate_cycle import RateCycle
from strategies.reconstitution import Reconstitution
from strategies.rotation import Rotation

REGISTRY: dict[str, Strategy] = {
    s.name: s for s in (Rotation(), RateCycle(), Reconstitution(), BuyAndHold(), StaticMix())
}


def get_strategy(name: str) -> Strategy:
    """The registered strategy called ``name``; ConfigError listing the choices otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy '{name}'{did_you_mean(name, REGISTRY)}; "
            f"choose one of: {', '.join(REGISTRY)}",
            ("strategy",),
        ) from None
