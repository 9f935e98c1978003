"""`--plot FILE.png`: throughput and p99 latency per second, one line per role."""

from __future__ import annotations

from typing import Any

MISSING = (
    "--plot needs matplotlib, which is not installed; install the optional extra "
    "with: pip install 'herald[bench]'"
)


def plotting_available() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_plot(report: dict[str, Any], path: str, title: str | None = None) -> None:
    """Draw a report of `herald bench --json` into a PNG file."""
    import matplotlib

    # No display is needed to write a file.
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for role, data in report["roles"].items():
        timeline = data["timeline"]
        seconds = [row["second"] + 1 for row in timeline]
        top.plot(seconds, [row["messages"] for row in timeline], marker=".", label=role)
        bottom.plot(seconds, [row["p99_ms"] for row in timeline], marker=".", label=role)
    top.set_ylabel("messages / s")
    top.set_ylim(bottom=0)
    top.grid(True, alpha=0.3)
    top.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    bottom.set_ylabel("p99 latency (ms)")
    bottom.set_xlabel("second of the measured window")
    bottom.set_ylim(bottom=0)
    bottom.grid(True, alpha=0.3)
    config = report["config"]
    shapes = ", ".join(f"{role} {config[role]}" for role in report["roles"])
    figure.suptitle(
        title or f"herald bench against {report['server']} ({shapes}; processes x concurrency)",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
