"""Two years of hourly revenue with trend, weekly and daily seasonality (in the
insured's local time), small seeded noise, and the outage dip.

The revenue noise is the same whatever --scale is: scale is about evidence
volume, not the insured's business."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenarios.writers.clock import DAY, HOUR, iso

# Relative level by local weekday (Mon..Sun) and local hour, for an operation that runs all week
# with a daytime peak; scenarios pass their own where the business differs.
WEEKLY_DEFAULT = (1.05, 1.08, 1.08, 1.06, 1.02, 0.88, 0.83)
DAILY_DEFAULT = (0.55, 0.50, 0.48, 0.47, 0.50, 0.60, 0.78, 0.95, 1.10, 1.22, 1.28, 1.30,
                 1.24, 1.26, 1.30, 1.28, 1.22, 1.15, 1.10, 1.05, 0.98, 0.88, 0.75, 0.63)


@dataclass
class RevenueModel:
    mean_per_hour: float  # at the start of the history
    annual_growth: float = 0.06
    weekly: tuple[float, ...] = WEEKLY_DEFAULT
    daily: tuple[float, ...] = DAILY_DEFAULT
    noise_sd: float = 0.03
    utc_offset_hours: int = 8
    residual_during_outage: float = 0.0  # share of normal revenue still earned while down


def history_window(outage_start_us: int, weeks_after: int = 3) -> tuple[int, int]:
    """Two years up to the outage day, and a few weeks after: [start, end) on whole UTC days."""
    day0 = outage_start_us // DAY * DAY
    return day0 - 730 * DAY, day0 + (weeks_after * 7 + 1) * DAY


def hourly_series(model: RevenueModel, start_us: int, end_us: int, outages: list[tuple[int, int]],
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(hour starts in µs, revenue rounded to cents). Outage hours keep only the residual share,
    pro rata to the part of the hour the service was down."""
    hours = np.arange(start_us, end_us, HOUR, dtype=np.int64)
    local = hours // HOUR + model.utc_offset_hours
    hour_of_day = local % 24
    weekday = (local // 24 + 3) % 7  # 1970-01-01 was a Thursday (Mon=0)
    years = (hours - start_us) / (365.25 * DAY)
    level = model.mean_per_hour * (1 + model.annual_growth) ** years
    rng = np.random.default_rng([seed, 0x5EED])
    noise = 1 + rng.normal(0.0, model.noise_sd, hours.size)
    rev = level * np.asarray(model.weekly)[weekday] * np.asarray(model.daily)[hour_of_day] * noise
    for o_start, o_end in outages:
        down = np.clip(np.minimum(hours + HOUR, o_end) - np.maximum(hours, o_start), 0, HOUR) / HOUR
        rev = rev * (1 - down * (1 - model.residual_during_outage))
    return hours, np.round(np.maximum(rev, 0.0), 2)


def write_csv(path: Path, hours: np.ndarray, revenue: np.ndarray) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("timestamp,revenue\n")
        for h, r in zip(hours.tolist(), revenue.tolist()):
            f.write(f"{iso(h)},{r:.2f}\n")
