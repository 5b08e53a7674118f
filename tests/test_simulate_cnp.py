"""The transaction simulator's card-not-present signals (``TransactionSimConfig.cnp_signals``)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace

import pandas as pd
import pytest

from fraudscore import (
    HandbookSimConfig,
    TransactionSimConfig,
    simulate_handbook,
    simulate_transactions,
)

CONFIG = TransactionSimConfig(n_customers=300, n_terminals=600, n_days=30, seed=5)
OLD_COLUMNS = [
    "transaction_id",
    "timestamp",
    "customer_id",
    "terminal_id",
    "amount",
    "currency",
    "channel",
    "is_fraud",
    "label_time",
    "fraud_pattern",
]
ONLINE_ONLY = [
    "device_id",
    "ip",
    "asn",
    "ip_country",
    "email",
    "email_domain",
    "billing_country",
    "shipping_country",
]
EVERY_ROW = ["card_country", "bin", "merchant_category"]
THEFT = ["stolen_card_spree", "card_testing"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return simulate_transactions(CONFIG)


def _genuine_online(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["channel"] == "online") & (frame["fraud_pattern"] == "none")]


def test_online_rows_carry_the_cnp_signals_and_pos_rows_none(frame: pd.DataFrame) -> None:
    """Every online row has all eight CNP signals; every pos row has none of them."""
    online = frame["channel"] == "online"
    assert online.any() and (~online).any()
    assert frame.loc[online, ONLINE_ONLY].notna().all().all()
    assert frame.loc[~online, ONLINE_ONLY].isna().all().all()


def test_card_fields_on_every_row_and_fixed_per_card(frame: pd.DataFrame) -> None:
    """``card_country`` and ``bin`` are on every row, and one value each per card."""
    assert frame[["card_country", "bin"]].notna().all().all()
    per_card = frame.groupby("customer_id")[["card_country", "bin"]].nunique()
    assert (per_card == 1).all().all()
    assert frame["bin"].nunique() > 5


def test_merchant_category_is_fixed_per_terminal(frame: pd.DataFrame) -> None:
    """Each terminal is one merchant: one MCC on all its rows, and MCCs vary across terminals."""
    assert frame["merchant_category"].notna().all()
    assert (frame.groupby("terminal_id")["merchant_category"].nunique() == 1).all()
    shares = frame.drop_duplicates("terminal_id")["merchant_category"].value_counts(normalize=True)
    assert shares.index[0] == "5411" and shares.get("5944", 0) < 0.05


def test_values_have_the_event_formats(frame: pd.DataFrame) -> None:
    """ASNs are ints in range, countries alpha-2, BINs 6 and MCCs 4 digits, domains and IPs valid."""
    asn = frame["asn"].dropna()
    assert all(type(a) is int and 0 <= a <= 4_294_967_295 for a in asn)
    for column in ("ip_country", "billing_country", "shipping_country", "card_country"):
        assert frame[column].dropna().str.fullmatch(r"[A-Z]{2}").all(), column
    assert frame["bin"].str.fullmatch(r"\d{6}").all()
    assert frame["merchant_category"].str.fullmatch(r"\d{4}").all()
    domain = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+")
    assert all(domain.fullmatch(d) for d in frame["email_domain"].dropna())
    assert all(
        isinstance(ipaddress.ip_address(ip), ipaddress.IPv4Address) for ip in frame["ip"].dropna()
    )
    assert frame["email"].dropna().str.fullmatch(r"e[0-9a-f]{12}").all()


def test_genuine_cards_use_few_devices_and_one_email(frame: pd.DataFrame) -> None:
    """A genuine card uses at most 3 devices in the median, and always the same email."""
    genuine = _genuine_online(frame).groupby("customer_id")
    assert genuine["device_id"].nunique().median() <= 3
    assert (genuine["email"].nunique() == 1).all()


def test_genuine_purchases_come_mostly_from_home_networks(frame: pd.DataFrame) -> None:
    """Genuine online purchases come from the home country, mostly on a card's two top ASNs."""
    genuine = _genuine_online(frame)
    assert (genuine["ip_country"] == genuine["billing_country"]).mean() > 0.9
    top_two = genuine.groupby("customer_id")["asn"].agg(
        lambda a: a.value_counts().iloc[:2].sum() / len(a)
    )
    assert top_two.median() > 0.8
    assert (genuine["shipping_country"] == genuine["billing_country"]).mean() > 0.95


def test_fraudster_devices_are_shared_across_cards(frame: pd.DataFrame) -> None:
    """Most stolen-card rows are on a device used with several cards; genuine devices rarely are."""
    online = frame[frame["channel"] == "online"]
    theft = online[online["fraud_pattern"].isin(THEFT)]
    cards = theft.groupby("device_id")["customer_id"].nunique()
    assert (theft["device_id"].map(cards) >= 3).mean() > 0.6
    genuine = _genuine_online(frame).groupby("device_id")["customer_id"].nunique()
    assert (genuine > 1).mean() < 0.05


def test_a_share_of_sprees_use_a_residential_proxy(frame: pd.DataFrame) -> None:
    """Some sprees on a fraudster's device come from a home ISP of the card's country (a proxy),
    never from the cardholder's own IPs; most come from another country."""
    online = frame[frame["channel"] == "online"]
    genuine = _genuine_online(frame)
    spree = online[
        (online["fraud_pattern"] == "stolen_card_spree")
        & ~online["device_id"].isin(set(genuine["device_id"]))
    ]
    proxied = spree[
        (spree["ip_country"] == spree["card_country"]) & spree["asn"].isin(set(genuine["asn"]))
    ]
    assert 0.1 < len(proxied) / len(spree) < 0.6
    assert (spree["ip_country"] != spree["card_country"]).mean() > 0.3
    own = set(zip(genuine["customer_id"], genuine["ip"], strict=True))
    assert not own & set(zip(proxied["customer_id"], proxied["ip"], strict=True))


def test_attackers_use_fresh_emails_and_reshippers(frame: pd.DataFrame) -> None:
    """Most attacks use an email the card never used; about half ship abroad."""
    online = frame[frame["channel"] == "online"]
    theft = online[online["fraud_pattern"].isin(THEFT)]
    owned = set(_genuine_online(frame)["email"])
    assert (~theft["email"].isin(owned)).mean() > 0.7
    assert 0.3 < (theft["shipping_country"] != theft["billing_country"]).mean() < 0.8


def test_without_cnp_signals_the_frame_has_the_old_columns() -> None:
    """``cnp_signals=False`` gives exactly the columns the simulator had before the signals."""
    frame = simulate_transactions(replace(CONFIG, cnp_signals=False))
    assert list(frame.columns) == OLD_COLUMNS


def test_cnp_signals_leave_the_old_columns_unchanged(frame: pd.DataFrame) -> None:
    """For one seed, the old columns are the same with and without the signals."""
    without = simulate_transactions(replace(CONFIG, cnp_signals=False))
    assert list(frame.columns) == OLD_COLUMNS + ONLINE_ONLY + EVERY_ROW
    pd.testing.assert_frame_equal(frame[OLD_COLUMNS], without)


def test_signals_are_seeded(frame: pd.DataFrame) -> None:
    """The same config gives the same signals; another seed gives other ones."""
    pd.testing.assert_frame_equal(simulate_transactions(CONFIG), frame)
    other = simulate_transactions(replace(CONFIG, seed=6))
    assert set(other["email"].dropna()).isdisjoint(frame["email"].dropna())


HANDBOOK = HandbookSimConfig(n_customers=600, n_terminals=1_200, n_days=40, seed=5)


@pytest.fixture(scope="module")
def handbook() -> pd.DataFrame:
    return simulate_handbook(replace(HANDBOOK, cnp_signals=True))


def test_handbook_layer_adds_a_channel_and_the_signals_and_changes_nothing_else(
    handbook: pd.DataFrame,
) -> None:
    """The handbook's layer is off by default; on, it adds ``channel`` and the same signal
    columns as the default simulator, and the handbook's own columns keep their values."""
    plain = simulate_handbook(HANDBOOK)
    assert "channel" not in plain.columns and not set(ONLINE_ONLY + EVERY_ROW) & set(plain)
    assert list(handbook.columns) == [*plain.columns, "channel", *ONLINE_ONLY, *EVERY_ROW]
    pd.testing.assert_frame_equal(handbook[list(plain.columns)], plain)
    online = handbook["channel"] == "online"
    assert 0.15 < online[handbook["fraud_pattern"] == "none"].mean() < 0.35
    assert handbook.loc[online, ONLINE_ONLY].notna().all().all()
    assert handbook.loc[~online, ONLINE_ONLY].isna().all().all()


def test_handbook_compromised_cards_are_bought_online_by_fraudsters(
    handbook: pd.DataFrame,
) -> None:
    """A compromised card's frauds are online, mostly from devices the cardholders never use and
    shared across cards; the other frauds are the cardholders' own purchases."""
    stolen = handbook[handbook["fraud_pattern"] == "compromised_card"]
    assert len(stolen) and (stolen["channel"] == "online").all()
    genuine = _genuine_online(handbook)
    foreign = ~stolen["device_id"].isin(set(genuine["device_id"]))
    assert foreign.mean() > 0.8
    cards = stolen.groupby("device_id")["customer_id"].nunique()
    assert (stolen["device_id"].map(cards) >= 2).mean() > 0.5
    own = handbook[handbook["fraud_pattern"].isin(["amount_over_220", "compromised_terminal"])]
    own = own[own["channel"] == "online"]
    assert own["device_id"].isin(set(genuine["device_id"])).mean() > 0.9
