"""The precheck request: its schema, and the refusal of raw card numbers anywhere in it.

A raw card number is a string or integer holding 12-19 digits (optionally grouped by spaces or
dashes) that passes the Luhn check and stands on its own (not inside a longer run of letters and
digits, so a hex card hash is not mistaken for one). The scan runs on the parsed JSON before any
validation, so a card number never reaches an error message, a log line or the store: the answer
names only the JSON paths where one was found.
"""

from __future__ import annotations

import datetime
import math
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_ITEMS = 200
MAX_FEATURES = 256
_PAN = re.compile(r"(?<![0-9A-Za-z])(?:\d[ -]?){11,18}\d(?![0-9A-Za-z])")
CURRENCIES = frozenset(
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF "
    "CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG "
    "HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA "
    "MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD "
    "RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD "
    "UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWG".split())
ID = r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$"


def luhn_ok(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _has_pan(text: str) -> bool:
    for match in _PAN.finditer(text):
        digits = re.sub(r"[ -]", "", match.group(0))
        if 12 <= len(digits) <= 19 and luhn_ok(digits):
            return True
    return False


def card_number_paths(value, path: str = "") -> list[str]:
    """JSON paths (``items.0.note``) in ``value`` holding a raw card number; the timestamp is exempt as a number."""
    if isinstance(value, dict):
        found = [f"{path or '(top)'} (a key)" for key in value if _has_pan(str(key))]
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if not (child == "timestamp" and isinstance(item, (int, float))):
                found += card_number_paths(item, child)
        return found
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in card_number_paths(item, f"{path}.{index}" if path else str(index))]
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [path] if _has_pan(str(value)) else []
    if isinstance(value, str):
        return [path] if _has_pan(value) else []
    return []


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=128)
    qty: int = Field(1, ge=1, le=10_000)
    price: float | None = Field(None, ge=0, le=1e9)


class Precheck(BaseModel):
    """An order or payment to check before it leaves the store."""

    model_config = ConfigDict(extra="forbid")
    amount: float = Field(ge=0, description="Amount in the currency's major unit (0 allowed: card checks)")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217 code")
    account_id: str | None = Field(None, pattern=ID)
    card_hash: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{8,128}$",
                                  description="A card fingerprint or token hash, never the card number")
    device_id: str | None = Field(None, pattern=ID)
    ip: str | None = Field(None, max_length=64)
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    store_id: str | None = Field(None, pattern=ID)
    items: list[Item] = Field(default_factory=list, max_length=MAX_ITEMS)
    timestamp: datetime.datetime | None = Field(None, description="When the payment happened (ISO 8601 or epoch seconds)")
    features: dict[str, float] = Field(default_factory=dict, max_length=MAX_FEATURES,
                                       description="Optional model features (e.g. V1..V28 of a card processor)")
    event_id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$",
                                 description="The client's own id: a retry with it is answered from the log, counted once")

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value.upper() not in CURRENCIES:
            raise ValueError("unknown currency (an ISO 4217 code such as USD, EUR, CNY)")
        return value.upper()

    @field_validator("ip")
    @classmethod
    def _ip(cls, value):
        import ipaddress

        if value is not None:
            ipaddress.ip_address(value)
        return value

    @field_validator("features")
    @classmethod
    def _finite(cls, value: dict) -> dict:
        if any(not math.isfinite(v) for v in value.values()):
            raise ValueError("feature values must be finite numbers")
        return value
