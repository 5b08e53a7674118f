"""The login kind's event: :class:`Login`, validated at construction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fraudscore._errors import EventValidationError
from fraudscore._events import (
    check_asn,
    check_finite,
    check_id,
    check_ip,
    check_upper_code,
    set_utc,
)

__all__ = ["DECISIONS", "Login"]

#: The decisions, from the least to the most severe: (below review, review, block).
DECISIONS = ("allow", "challenge", "deny")


@dataclass(frozen=True, slots=True)
class Login:
    """A login attempt, scored after the password check (``success``: were the credentials right).

    The columns mirror the public RBA login dataset (Wiefling et al.). ``country`` is ISO-3166
    alpha-2, ``asn`` a non-negative int, ``ip`` an IPv4 or IPv6 address. ``latitude`` and
    ``longitude`` come together or not at all.
    """

    login_id: str
    timestamp: datetime
    user_id: str
    ip: str
    country: str
    asn: int
    user_agent: str
    success: bool
    device_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    rtt_ms: float | None = None

    def __post_init__(self) -> None:
        check_id("login_id", self.login_id)
        set_utc(self, "timestamp")
        check_id("user_id", self.user_id)
        check_ip("ip", self.ip)
        check_upper_code("country", self.country, 2, "an ISO-3166 alpha-2 code")
        check_asn("asn", self.asn)
        check_id("user_agent", self.user_agent)
        if type(self.success) is not bool:
            raise EventValidationError("success", self.success, "a bool")
        if self.device_id is not None:
            check_id("device_id", self.device_id)
        if (self.latitude is None) != (self.longitude is None):
            field = "longitude" if self.longitude is None else "latitude"
            raise EventValidationError(field, None, "latitude and longitude together, or neither")
        if self.latitude is not None:
            check_finite("latitude", self.latitude, -90.0, 90.0)
            check_finite("longitude", self.longitude, -180.0, 180.0)
        if self.rtt_ms is not None:
            check_finite("rtt_ms", self.rtt_ms, 0.0, 600_000.0)
