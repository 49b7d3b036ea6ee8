"""Forecast of offered service contacts per interval ahead (SPEC §5 `forecast`).

Workforce planning starts from the volume to come: how many contacts a touchpoint (or a
channel) will be offered in each interval of the next days, with an 80 % interval. The
engine counts the stored contacts per local interval (one small series: 8 760 rows for a
year of hours); Python fits the models on that series with statsmodels.

The models (each a Poisson GLM, `statsmodels.genmod`, log link):

- `poisson_glm`: the last 8 weeks, one level per hour of the week (`7 × 24` for hours);
- `poisson_glm_trend`: the last 52 weeks, the same levels and a log-linear trend;
- `seasonal_naive`: the same interval one week before (the baseline, always reported).

Holidays (the `holidays` package: Brazil's national days and the `--state`'s) are read as
a Sunday's hours times one fitted holiday factor: a holiday the training window never saw
still looks like a Sunday, not like the weekday it falls on. Outliers (an outage, a one-off
campaign) are intervals whose count is more than 4 robust standard deviations from the
first fit; the model is fitted again without them. The 80 % interval takes the quantiles
of a negative binomial with the fitted mean and the measured over-dispersion (Poisson
when there is none).

The model is chosen by a rolling-origin backtest on the touchpoint's own history: up to
three origins, one week apart, each forecasting the week after it from the data before
it; MAPE over the intervals with contacts. The seasonal-naive forecast is scored on the
same intervals (`baseline_mape`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from touchpoints.analytics import sql
from touchpoints.analytics.registry import Analysis, Options, ResultModel, register
from touchpoints.analytics.scope import Scope
from touchpoints.core.errors import UsageError
from touchpoints.core.time import parse_duration, zone_info

if TYPE_CHECKING:
    import numpy as np

    from touchpoints.store.base import Store

WEEK_DAYS = 7
MIN_HISTORY_DAYS = 21  # a week to learn from, a week to score, a week for the baseline's lag
MAX_HISTORY_DAYS = 364
MAX_HORIZON_DAYS = 92
BACKTEST_ORIGINS = 3
RECENT_WEEKS = 8
OUTLIER_SIGMAS = 4.0
INTERVAL_QUANTILES = (0.1, 0.9)  # the 80 % interval
TREND_BLOCK_DAYS = 56  # the trend is read per block of eight weeks (at the block's mean time)


class ForecastOptions(Options):
    horizon: str = Field("14d", description="How far ahead to forecast (e.g. 7d, 14d; ≤ 92d).")
    interval_minutes: int = Field(
        60, description="Length of an interval in minutes: 15, 30, 60 or another divisor of a day."
    )
    state: str | None = Field(
        "SP",
        description="Brazilian state (UF, e.g. SP, RJ) whose holidays count with the national ones; "
        "empty for national holidays only.",
    )

    @field_validator("interval_minutes")
    @classmethod
    def _interval(cls, value: int) -> int:
        if value <= 0 or 1440 % value:
            raise ValueError("use a number of minutes that divides a day (15, 30, 60, 120, ...)")
        return value


# -- the series ------------------------------------------------------------------------------
def series_sql(scope: Scope) -> str:
    """Offered contacts per local day and interval of the day (bind `scope.params()` and
    `fc_minutes`): at most one row per interval of the history."""
    minute_of_day = "(EXTRACT(HOUR FROM lt) * 60 + EXTRACT(MINUTE FROM lt))"
    return f"""
    SELECT CAST(lt AS DATE) AS day,
           CAST(floor({minute_of_day} / $fc_minutes) AS INTEGER) AS slot,
           count(*) AS n
    FROM (
      SELECT {sql.local_ts(scope)} AS lt
      FROM ({sql.scoped_events(scope, with_catalog=False)}) s
      WHERE abandoned IS NOT NULL
    ) c
    GROUP BY 1, 2"""


@dataclass(frozen=True)
class Series:
    """Counts per interval from local midnight of `first_day`, every day complete."""

    first_day: date
    per_day: int  # intervals in a day
    counts: np.ndarray

    @property
    def days(self) -> int:
        return len(self.counts) // self.per_day

    def day_list(self, start: int = 0, days: int | None = None) -> list[date]:
        n = self.days - start if days is None else days
        return [self.first_day + timedelta(days=start + i) for i in range(n)]


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def local_day(value: datetime | None, timezone: str) -> date | None:
    """The local date of a naive UTC time."""
    if value is None:
        return None
    from datetime import UTC

    return value.replace(tzinfo=UTC).astimezone(zone_info(timezone)).date()


def load_series(store: Store, scope: Scope, interval_minutes: int) -> Series:
    """The stored contacts as a dense series over whole local days: from the `--from` day
    (else the first contact's) to the `--to` day (else the last contact's), zeros included."""
    import numpy as np

    rows = store.query(series_sql(scope), {**scope.params(), "fc_minutes": interval_minutes})
    per_day = 1440 // interval_minutes
    days = [_as_date(r["day"]) for r in rows]
    first = local_day(scope.date_from, scope.timezone) or (min(days) if days else None)
    last = local_day(scope.date_to, scope.timezone) or (max(days) if days else None)
    if first is None or last is None:
        return Series(date(1970, 1, 1), per_day, np.zeros(0))
    first = max(first, last - timedelta(days=MAX_HISTORY_DAYS - 1))
    n_days = (last - first).days + 1
    counts = np.zeros(n_days * per_day)
    for r, day in zip(rows, days, strict=True):
        i = (day - first).days
        if 0 <= i < n_days:
            counts[i * per_day + int(r["slot"])] += float(r["n"])
    return Series(first, per_day, counts)


# -- holidays ---------------------------------------------------------------------------------
def holiday_dates(years: range, state: str | None) -> dict[date, str]:
    """Brazil's national holidays and, with a state, that state's, for `years`."""
    import holidays

    subdiv = (state or "").strip().upper() or None
    try:
        found = holidays.country_holidays("BR", subdiv=subdiv, years=list(years))
    except NotImplementedError:
        states = ", ".join(holidays.country_holidays("BR").subdivisions)
        raise UsageError(f"--state {state!r}: use a Brazilian state code ({states})") from None
    return dict(found.items())


# -- the models ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Design:
    """How each interval is described to the GLM: its level (the interval of the week it
    falls in; a holiday takes Sunday's), a holiday flag and its time."""

    per_day: int
    holidays: frozenset[date]

    @property
    def levels(self) -> int:
        return WEEK_DAYS * self.per_day

    def features(self, first_day: date, start: int, length: int, origin: int) -> Any:
        """(level, holiday, years from `origin`) of intervals `start .. start+length`."""
        import numpy as np

        idx = np.arange(start, start + length)
        day_index = idx // self.per_day
        first = int(day_index[0])
        days = [first_day + timedelta(days=d) for d in range(first, int(day_index[-1]) + 1)]
        weekday_of = np.array([d.weekday() for d in days])  # Monday = 0
        holiday_of = np.array([d in self.holidays for d in days])
        rel = day_index - first
        holiday = holiday_of[rel]
        weekday = np.where(holiday, 6, weekday_of[rel])
        level = weekday * self.per_day + idx % self.per_day
        years = (idx - origin) / (self.per_day * 365.25)
        return level, holiday.astype(float), years


@dataclass(frozen=True)
class Fit:
    """A fitted model's forecast: mean and the 80 % interval per interval ahead."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def _quantiles(mean: np.ndarray, dispersion: float) -> tuple[np.ndarray, np.ndarray]:
    """The 10th and 90th percentiles of counts with this mean: negative binomial with
    variance dispersion × mean, or Poisson when there is no over-dispersion."""
    import numpy as np
    from scipy import stats

    q_low, q_high = INTERVAL_QUANTILES
    mu = np.maximum(mean, 1e-9)
    if dispersion <= 1.0 + 1e-6:
        return stats.poisson.ppf(q_low, mu), stats.poisson.ppf(q_high, mu)
    size = mu / (dispersion - 1.0)
    p = 1.0 / dispersion
    return stats.nbinom.ppf(q_low, size, p), stats.nbinom.ppf(q_high, size, p)


@dataclass(frozen=True)
class PoissonModel:
    """log E[count] = level effect + holiday effect × holiday + trend × years.

    Fitted by statsmodels' GLM on the distinct (level, holiday, eight-week block) cells —
    counts summed, the number of intervals as exposure — which has the same maximum
    likelihood as the interval-by-interval fit when the trend is read per block (its
    time the block's mean), and is 50 times smaller. Levels without a single contact in
    the window (the night hours of a shop) forecast 0 and stay out of the fit."""

    level_effect: np.ndarray  # per level; -inf where the window had no contact
    holiday_effect: float
    trend: float

    def mean(self, level: Any, holiday: Any, years: Any) -> Any:
        import numpy as np

        with np.errstate(invalid="ignore"):
            eta = self.level_effect[level] + self.holiday_effect * holiday + self.trend * years
        return np.exp(eta)


def _fit_poisson(
    level: Any, holiday: Any, years: Any, y: Any, levels: int, trend: bool, block: int
) -> PoissonModel:
    import numpy as np
    from statsmodels.genmod.families import Poisson
    from statsmodels.genmod.generalized_linear_model import GLM

    active = np.bincount(level, weights=y, minlength=levels) > 0
    column = np.cumsum(active) - 1  # level -> its column among the active levels
    k = int(active.sum())
    use = active[level]
    level, holiday, years, y = level[use], holiday[use], years[use], y[use]
    blocks = (
        np.floor(years * 365.25 * 86400 / block).astype(int) if trend else np.zeros(len(y), int)
    )
    blocks -= blocks.min(initial=0)
    n_blocks = int(blocks.max(initial=0)) + 1
    key = (column[level] * 2 + holiday.astype(int)) * n_blocks + blocks
    cells, inverse = np.unique(key, return_inverse=True)
    counts = np.bincount(inverse, weights=y)
    exposure = np.bincount(inverse).astype(float)
    cell_years = np.bincount(inverse, weights=years) / exposure
    cell_column = cells // n_blocks // 2
    cell_holiday = (cells // n_blocks) % 2
    x = np.zeros((len(cells), k))
    x[np.arange(len(cells)), cell_column] = 1.0
    extra = []
    with_holiday = bool(cell_holiday.any())
    if with_holiday:
        extra.append(cell_holiday.astype(float))
    with_trend = trend and n_blocks > 1
    if with_trend:
        extra.append(cell_years)
    if extra:
        x = np.column_stack([x, *extra])
    # Start from each level's mean rate: IRLS then needs a few steps, not dozens.
    rate = np.bincount(cell_column, weights=counts, minlength=k) / np.bincount(
        cell_column, weights=exposure, minlength=k
    )
    start = np.concatenate([np.log(np.maximum(rate, 1e-6)), np.zeros(len(extra))])
    with warnings.catch_warnings():
        # hasconst=False: the level columns sum to an implicit constant, and statsmodels'
        # search for one costs two SVDs of the design per fit (most of a forecast's time);
        # only the parameters are read here, which it does not change.
        # A level seen only on holidays, or a trend with one block of data, is not
        # identified; the fit still forecasts the cells it saw, which is all it is used for.
        warnings.simplefilter("ignore")
        fitted = GLM(counts, x, family=Poisson(), exposure=exposure, hasconst=False).fit(
            start_params=start, method="newton", maxiter=100, disp=False
        )
    params = np.asarray(fitted.params)
    effects = np.full(levels, -np.inf)
    effects[active] = params[:k]
    holiday_effect = float(params[k]) if with_holiday else 0.0
    slope = float(params[-1]) if with_trend else 0.0
    return PoissonModel(effects, holiday_effect, slope)


def fit_glm(
    series: Series, design: Design, end: int, horizon: int, weeks: int, trend: bool
) -> Fit | None:
    """Fit on the `weeks` weeks before interval `end`, forecast `horizon` intervals after
    it; intervals more than 4 robust standard deviations off the first fit (an outage, a
    campaign) are left out of the second. None when the window holds no contacts."""
    import numpy as np

    week = WEEK_DAYS * series.per_day
    start = max(0, end - weeks * week)
    y = series.counts[start:end]
    if y.sum() <= 0:
        return None
    level, holiday, years = design.features(series.first_day, start, end - start, end)
    block = TREND_BLOCK_DAYS * 86400
    model = _fit_poisson(level, holiday, years, y, design.levels, trend, block)
    mu = model.mean(level, holiday, years)
    resid = (y - mu) / np.sqrt(np.maximum(mu, 1e-9))
    spread = max(1.4826 * float(np.median(np.abs(resid - np.median(resid)))), 1.0)
    keep = np.abs(resid) <= OUTLIER_SIGMAS * spread
    if not keep.all():
        model = _fit_poisson(
            level[keep], holiday[keep], years[keep], y[keep], design.levels, trend, block
        )
        mu = model.mean(level, holiday, years)
    used = keep & (mu > 0)
    n_params = int(np.isfinite(model.level_effect).sum()) + 2
    dof = max(int(used.sum()) - n_params, 1)
    dispersion = float(np.sum((y[used] - mu[used]) ** 2 / mu[used]) / dof)
    ahead = design.features(series.first_day, end, horizon, end)
    mean = model.mean(*ahead)
    low, high = _quantiles(mean, dispersion)
    return Fit(mean, low, high)


def fit_seasonal_naive(series: Series, end: int, horizon: int) -> Fit:
    """The same interval one week before; further ahead, the last week repeated."""
    import numpy as np

    week = WEEK_DAYS * series.per_day
    last_week = series.counts[end - week : end]
    mean = np.resize(last_week, horizon).astype(float)
    errors = series.counts[week:end] - series.counts[: end - week]
    scale = float(np.quantile(np.abs(errors), 0.8)) if len(errors) else 0.0
    return Fit(mean, np.maximum(mean - scale, 0.0), mean + scale)


CANDIDATES: dict[str, tuple[int, bool]] = {
    "poisson_glm": (RECENT_WEEKS, False),
    "poisson_glm_trend": (52, True),
}


def run_model(name: str, series: Series, design: Design, end: int, horizon: int) -> Fit | None:
    if name == "seasonal_naive":
        return fit_seasonal_naive(series, end, horizon)
    weeks, trend = CANDIDATES[name]
    return fit_glm(series, design, end, horizon, weeks, trend)


def mape(forecast: Any, actual: Any) -> float | None:
    """Mean absolute percentage error over the intervals that had contacts (a share)."""
    import numpy as np

    mask = actual > 0
    if not mask.any():
        return None
    return float(np.mean(np.abs(forecast[mask] - actual[mask]) / actual[mask]))


def backtest(series: Series, design: Design, horizon: int) -> dict[str, float | None]:
    """MAPE of every model over up to three rolling origins, one week apart, each
    forecasting the week (or the horizon, if shorter) after it."""
    import numpy as np

    week = WEEK_DAYS * series.per_day
    step = min(horizon, week)
    origins = [
        len(series.counts) - k * step
        for k in range(1, BACKTEST_ORIGINS + 1)
        if len(series.counts) - k * step >= 2 * week
    ]
    names = ["seasonal_naive", *CANDIDATES]
    forecasts: dict[str, list[Any]] = {n: [] for n in names}
    actuals = []
    for origin in origins:
        actual = series.counts[origin : origin + step]
        fits = {n: run_model(n, series, design, origin, step) for n in names}
        if any(f is None for f in fits.values()):
            continue
        actuals.append(actual)
        for n in names:
            forecasts[n].append(fits[n].mean)  # type: ignore[union-attr]
    if not actuals:
        return dict.fromkeys(names)
    actual = np.concatenate(actuals)
    return {n: mape(np.concatenate(forecasts[n]), actual) for n in names}


def _choose(scores: dict[str, float | None]) -> str:
    """The lowest backtest MAPE; the seasonal-naive forecast when nothing could be scored."""
    scored = {n: s for n, s in scores.items() if s is not None and math.isfinite(s)}
    return min(scored, key=lambda n: scored[n]) if scored else "seasonal_naive"


def forecast(store: Store, scope: Scope, options: ForecastOptions) -> dict[str, Any]:
    """Offered service contacts per interval ahead, with an 80 % interval.

    Counts the stored contacts of the `--touchpoint` or `--channel` (all service contacts
    without either) per local interval, fits a Poisson GLM of hour-of-week levels, Brazilian
    holidays (national and `--state`) and trend, drops outliers, and picks the model with
    the lowest rolling-origin backtest MAPE. `baseline_mape` is the seasonal-naive
    forecast's (same interval one week before) on the same backtest. The forecast starts
    at local midnight after the last day of history (the `--to` day, else the last
    contact's).
    """
    m = options.interval_minutes
    horizon_seconds = parse_duration(options.horizon, "--horizon")
    if horizon_seconds <= 0 or horizon_seconds > MAX_HORIZON_DAYS * 86400:
        raise UsageError(f"--horizon {options.horizon!r}: use 1 interval to {MAX_HORIZON_DAYS}d")
    horizon = math.ceil(horizon_seconds / (m * 60))
    series = load_series(store, scope, m)
    what = ", ".join(scope.touchpoints or scope.channels) or "all touchpoints"
    if series.days < MIN_HISTORY_DAYS:
        raise UsageError(
            f"forecast needs at least {MIN_HISTORY_DAYS} days of service contacts at {what}; "
            f"the store holds {series.days} (widen --from/--to or choose another touchpoint)"
        )
    if series.counts.sum() <= 0:
        raise UsageError(f"no service contacts (rows with abandoned set) at {what}")
    last_day = series.first_day + timedelta(days=series.days - 1)
    ahead_days = math.ceil(horizon / series.per_day)
    years = range(series.first_day.year, (last_day + timedelta(days=ahead_days)).year + 1)
    named = holiday_dates(years, options.state)
    design = Design(series.per_day, frozenset(named))

    scores = backtest(series, design, horizon)
    model = _choose(scores)
    fit = run_model(model, series, design, len(series.counts), horizon)
    if fit is None:  # the recent window was empty: the week before is all there is
        model, fit = "seasonal_naive", fit_seasonal_naive(series, len(series.counts), horizon)
    zone = zone_info(scope.timezone)
    start = datetime(last_day.year, last_day.month, last_day.day) + timedelta(days=1)
    rows = []
    for i in range(horizon):
        local = start + timedelta(minutes=m * i)
        rows.append(
            {
                "start": local.replace(tzinfo=zone).isoformat(),
                "arrivals": float(fit.mean[i]),
                "low": float(fit.low[i]),
                "high": float(fit.high[i]),
            }
        )
    end_day = start.date() + timedelta(days=ahead_days - 1)
    return {
        "model": model,
        "interval_minutes": m,
        "rows": rows,
        "backtest": {
            "mape": scores.get(model),
            "baseline_mape": scores.get("seasonal_naive"),
            "models": scores,
        },
        "touchpoint": list(scope.touchpoints) or None,
        "channel": list(scope.channels) or None,
        "timezone": scope.timezone,
        "history_from": series.first_day.isoformat(),
        "history_to": last_day.isoformat(),
        "holidays": [
            {"date": d.isoformat(), "name": n}
            for d, n in sorted(named.items())
            if start.date() <= d <= end_day
        ],
    }


class ForecastRow(ResultModel):
    start: str = Field(description="Local start of the interval (ISO-8601 with offset).")
    arrivals: float = Field(description="Forecast offered contacts in the interval.")
    low: float = Field(description="10th percentile: the 80 % interval's lower end.")
    high: float = Field(description="90th percentile: the 80 % interval's upper end.")


class Backtest(ResultModel):
    mape: float | None = Field(description="The chosen model's backtest MAPE (a share).")
    baseline_mape: float | None = Field(
        description="Seasonal-naive (same interval a week before) MAPE on the same backtest."
    )
    models: dict[str, float | None] = Field(description="Backtest MAPE of every model tried.")


class ForecastResult(ResultModel):
    model: str
    interval_minutes: int
    rows: list[ForecastRow]
    backtest: Backtest
    touchpoint: list[str] | None = None
    channel: list[str] | None = None
    timezone: str
    history_from: str
    history_to: str
    holidays: list[dict[str, str]]


register(
    Analysis(
        name="forecast",
        summary="Offered service contacts per interval ahead, with an 80 % interval and the backtest against seasonal-naive.",
        run=forecast,
        options=ForecastOptions,
        result=ForecastResult,
        scope=("date_from", "date_to", "touchpoint", "channel", "timezone"),
    )
)
