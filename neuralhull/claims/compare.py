"""Claim by claim, whether the datasets of a run reach the same verdicts.

One row per (claim, family, scope) that appears in the findings of at least one dataset,
with each dataset's value and verdict, and ``agree``: whether every dataset that has the row
reached the same verdict (``n/a`` when only one has it: e.g. a model that is in one
dataset's zoo only).  A last row per claim, scope ``claim overall``, says whether the
claim's primary rows (families ending in "per model", "zoo" or "primary") agree everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

KEYS = ["claim_id", "claim", "family", "scope"]


def compare_verdicts(findings: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The comparison table of ``findings`` (dataset name -> its findings table)."""
    if len(findings) < 1:
        raise ValueError("compare_verdicts needs the findings of at least one dataset")
    merged = None
    for name, table in findings.items():
        part = table[KEYS + ["value", "verdict"]].rename(
            columns={"value": f"value_{name}", "verdict": f"verdict_{name}"}
        )
        merged = part if merged is None else merged.merge(part, on=KEYS, how="outer", sort=False)
    verdicts = merged[[f"verdict_{name}" for name in findings]]

    def agree(row):
        present = row.dropna()
        if len(present) < 2:
            return "n/a"
        return "yes" if present.nunique() == 1 else "no"

    merged["agree"] = verdicts.apply(agree, axis=1)
    rows = []
    for claim_id, part in merged.groupby("claim_id", sort=True):
        rows.append(part)
        primary = part[part["family"].str.endswith(("per model", "zoo", "primary"))]
        compared = primary[primary["agree"] != "n/a"]
        overall = (
            "n/a" if compared.empty else ("yes" if (compared["agree"] == "yes").all() else "no")
        )
        rows.append(
            pd.DataFrame(
                [
                    {
                        "claim_id": claim_id,
                        "claim": part["claim"].iloc[0],
                        "family": "all",
                        "scope": "claim overall",
                        "agree": overall,
                    }
                ]
            )
        )
    out = pd.concat(rows, ignore_index=True)
    return out[KEYS + [c for c in out.columns if c not in KEYS]]
