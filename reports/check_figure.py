"""The figure of ``varbench check``: an estimator's variance against the references, per problem and point.

Reads the check's variance table (pandas), never JAX.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402


def variance_figure(table: pd.DataFrame, title: str, path: str | Path) -> Path:
    """Draw and save the check's figure: two panels, one row per place (problem · point).

    Left, the total variance of one estimate; right, the variance × cost evaluations. One marker per estimator; the
    checked estimator is the large diamond. Log scale: variances span decades (an exact zero, such as DisARM's at
    logit 0, is left out).

    Args:
      table: the check's variance table: ``problem``, ``point``, ``estimator``, ``candidate`` (the checked
        estimator's rows), ``total_variance`` and ``work_evaluations``.
      title: the figure's title.
      path: the PNG file to write.

    Returns:
      ``path``.
    """
    table = table.assign(place=table["problem"] + " · " + table["point"])
    long = pd.concat([table.assign(measure="variance of one estimate", value=table["total_variance"]),
                      table.assign(measure="variance × cost evaluations", value=table["work_evaluations"])])
    long = long[long["value"] > 0]
    places = long["place"].nunique()
    fig, axes = plt.subplots(1, 2, figsize=(11, 1.2 + 0.55 * places), sharey=True, squeeze=False)
    for ax, (measure, sub) in zip(axes[0], long.groupby("measure", sort=False)):
        refs, mine = sub[~sub["candidate"]], sub[sub["candidate"]]
        sns.stripplot(refs, x="value", y="place", hue="estimator", jitter=False, size=7, ax=ax, log_scale=True,
                      legend=ax is axes[0][0])
        ax.scatter(mine["value"], mine["place"], marker="D", s=90, color="black", label=mine["estimator"].iloc[0]
                   if len(mine) else None, zorder=3)
        ax.set_title(measure)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.grid(axis="x", alpha=0.3)
        ax.xaxis.set_minor_formatter(NullFormatter())  # decades only: minor labels collide
    handles, labels = axes[0][0].get_legend_handles_labels()
    if axes[0][0].get_legend() is not None:
        axes[0][0].get_legend().remove()
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.95), frameon=False, title="estimator")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
