"""The Freeman et al. (NDSS 2016) login risk score, as an evaluation baseline.

"Who Are You? A Statistical Approach to Measuring User Authenticity" scores a login by the
likelihood ratio of its features under the global population (an attacker looks like anyone)
and under the user's own history, ``sum_k log p(x_k) - log p(x_k | u)``, over two hierarchical
features: IP -> ASN -> country and user agent -> browser -> OS. The user's probabilities are
smoothed up the hierarchy, so a new IP in the user's usual network is less surprising than a
new IP in a new country:

    p(top | u)  = (c_u(top)  + a * p(top))                   / (n_u + a)
    p(mid | u)  = (c_u(mid)  + a * p(mid | top) * p(top | u)) / (n_u + a)
    p(leaf | u) = (c_u(leaf) + a * p(leaf | mid) * p(mid | u)) / (n_u + a)

Global probabilities come from the successful logins of the training window (add-one smoothed);
user counts from the user's successful logins strictly before the login being scored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fraudscore._kinds.login.agents import browser_of, os_of

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["freeman_scores"]

ALPHA = 2.0
HIERARCHIES = (("ip", "asn_key", "country"), ("user_agent", "browser", "os"))


def _prior_counts(history: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """For each row, how many earlier rows share ``keys`` (rows are in time order)."""
    return history.groupby(keys, sort=False).cumcount().to_numpy(np.float64)


def _global(train: pd.DataFrame, child: str, parent: str | None) -> dict[object, float]:
    """p(child | parent) (or p(child)) from the training rows, add-one smoothed."""
    if parent is None:
        counts = train[child].value_counts()
        return ((counts + 1.0) / (counts.sum() + len(counts) + 1.0)).to_dict()
    pair = train.groupby([parent, child]).size()
    parent_total = train.groupby(parent).size()
    n_children = train.groupby(parent)[child].nunique()
    p = (pair + 1.0) / (
        parent_total.reindex(pair.index.get_level_values(0)).to_numpy()
        + n_children.reindex(pair.index.get_level_values(0)).to_numpy()
        + 1.0
    )
    return p.to_dict()


def freeman_scores(
    logins: pd.DataFrame, train_mask: np.ndarray, score_mask: np.ndarray
) -> np.ndarray:
    """Risk scores for the rows of ``logins`` (a prepared frame) selected by ``score_mask``."""
    frame = logins.assign(
        browser=logins["user_agent"].map(browser_of), os=logins["user_agent"].map(os_of)
    )
    success = frame["success"].to_numpy(dtype=bool)
    history = frame[success]
    train = frame[train_mask & success]
    n_u = _prior_counts(history, ["user_id"])
    risk = np.zeros(len(history))
    for leaf, mid, top in HIERARCHIES:
        p_top_g = _global(train, top, None)
        p_mid_g = _global(train, mid, top)
        p_leaf_g = _global(train, leaf, mid)
        floor_top = 1.0 / (len(train) + len(p_top_g) + 1.0)
        g_top = history[top].map(p_top_g).fillna(floor_top).to_numpy()
        g_mid = np.array(
            [
                p_mid_g.get(k, 1.0 / (len(train) + 1.0))
                for k in zip(history[top], history[mid], strict=True)
            ]
        )
        g_leaf = np.array(
            [
                p_leaf_g.get(k, 1.0 / (len(train) + 1.0))
                for k in zip(history[mid], history[leaf], strict=True)
            ]
        )
        u_top = (_prior_counts(history, ["user_id", top]) + ALPHA * g_top) / (n_u + ALPHA)
        u_mid = (_prior_counts(history, ["user_id", mid]) + ALPHA * g_mid * u_top) / (n_u + ALPHA)
        u_leaf = (_prior_counts(history, ["user_id", leaf]) + ALPHA * g_leaf * u_mid) / (
            n_u + ALPHA
        )
        risk += np.log(g_top * g_mid * g_leaf) - np.log(u_leaf)
    out = np.full(len(frame), np.nan)
    out[success] = risk
    return out[score_mask]
