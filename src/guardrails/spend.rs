//! The account's spend, for the top of every report: month to date, last
//! month, AWS's forecast for this month, the month-over-month change, the
//! top services, and the lines the guardrails watch (SageMaker, CloudWatch,
//! data transfer, S3).
//!
//! Cost Explorer bills each request ($0.01): answers are kept in the state
//! database for `cache-hours` (default 6), so a sweep every 15 minutes asks
//! at most 8 times a day. `summarise` is pure; `fetch` does the I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::aws::costexplorer::{CostExplorerClient, CostPeriod};
use crate::aws::AwsError;
use crate::config::guardrails::SpendSettings;
use crate::engine::journal::Journal;
use crate::text::total;

/// Service lines that hide AI/ML waste, by how Cost Explorer names them.
const WATCHED: &[(&str, &str)] = &[
    ("SageMaker", "SageMaker"),
    ("CloudWatch (logs can cost more than compute)", "CloudWatch"),
    ("Data transfer", "Data Transfer"),
    ("S3 (model artifacts)", "Simple Storage Service"),
];

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpendSummary {
    pub as_of: NaiveDate,
    pub month_to_date_usd: f64,
    pub last_month_usd: f64,
    /// AWS's forecast for the whole current month, where it gave one.
    pub forecast_month_usd: Option<f64>,
    /// This month's expected total against last month's, in percent.
    pub month_over_month_change_pct: Option<f64>,
    /// What this month's expected total is: the forecast, or month to date
    /// pro-rated over the month's days.
    pub change_basis: String,
    pub top_services: Vec<ServiceSpend>,
    pub watched: Vec<ServiceSpend>,
    /// The last [`DAYS_CHARTED`] days' spend by service, oldest first
    /// (days Cost Explorer answered for).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub daily: Vec<DaySpend>,
    /// Figures AWS has not finalised yet.
    pub estimated: bool,
    /// When the answers were fetched (older than now when cached).
    pub fetched_at: DateTime<Utc>,
    pub notes: Vec<String>,
}

/// How many days of daily spend a report charts.
pub const DAYS_CHARTED: i64 = 30;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DaySpend {
    pub date: NaiveDate,
    pub total_usd: f64,
    pub by_service: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceSpend {
    pub service: String,
    pub month_to_date_usd: f64,
    pub last_month_usd: f64,
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

fn next_month(d: NaiveDate) -> NaiveDate {
    let first = first_of_month(d);
    (first + Duration::days(32)).with_day(1).unwrap_or(first)
}

fn previous_month(d: NaiveDate) -> NaiveDate {
    first_of_month(first_of_month(d) - Duration::days(1))
}

/// Said on the last day of a month, when nothing is left to forecast.
pub const LAST_DAY_NOTE: &str = "the month's last day: nothing is left to forecast, so the forecast is the month to date";

/// The days of this month still to come, as Cost Explorer takes a period
/// (start inclusive, end exclusive): tomorrow to the first of next month.
/// `None` on the last day of the month.
pub fn forecast_window(today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let tomorrow = today + Duration::days(1);
    let month_end = next_month(today);
    (tomorrow < month_end).then_some((tomorrow, month_end))
}

/// Periods of any length summed into calendar months (by their start).
fn months(periods: &[CostPeriod]) -> Vec<CostPeriod> {
    let mut months: BTreeMap<NaiveDate, CostPeriod> = BTreeMap::new();
    for p in periods {
        let start = first_of_month(p.start);
        let month =
            months.entry(start).or_insert_with(|| CostPeriod { start, end: next_month(start), total_usd: 0.0, by_service: BTreeMap::new(), estimated: false });
        month.total_usd += p.total_usd;
        month.estimated |= p.estimated;
        for (service, usd) in &p.by_service {
            *month.by_service.entry(service.clone()).or_default() += usd;
        }
    }
    months.into_values().collect()
}

/// The one-day periods of the last [`DAYS_CHARTED`] days up to `today`.
fn days(periods: &[CostPeriod], today: NaiveDate) -> Vec<DaySpend> {
    let from = today - Duration::days(DAYS_CHARTED - 1);
    periods
        .iter()
        .filter(|p| p.end - p.start == Duration::days(1) && p.start >= from && p.start <= today)
        .map(|p| DaySpend { date: p.start, total_usd: p.total_usd, by_service: p.by_service.clone() })
        .collect()
}

/// Builds the summary from the periods since the first of last month
/// (days, or whole months).
pub fn summarise(periods: &[CostPeriod], forecast: Option<f64>, today: NaiveDate, top: usize, fetched_at: DateTime<Utc>, notes: Vec<String>) -> SpendSummary {
    let daily = days(periods, today);
    let periods = &months(periods)[..];
    let this_start = first_of_month(today);
    let this = periods.iter().find(|p| p.start == this_start);
    let last = periods.iter().find(|p| p.start == previous_month(today));
    let mtd = this.map_or(0.0, |p| p.total_usd);
    let last_total = last.map_or(0.0, |p| p.total_usd);
    let days_in_month = (next_month(today) - this_start).num_days() as f64;
    let days_elapsed = ((today - this_start).num_days() + 1) as f64;
    let (expected, change_basis) = match forecast {
        _ if days_elapsed >= days_in_month => (mtd, "month to date (the month's last day)".to_string()),
        Some(f) => (f, "AWS's forecast for this month".to_string()),
        None => (mtd / days_elapsed * days_in_month, format!("month to date pro-rated over {days_in_month} days")),
    };
    let change = (last_total > 0.0).then(|| (expected - last_total) * 100.0 / last_total);
    let mut services: Vec<String> = periods.iter().flat_map(|p| p.by_service.keys().cloned()).collect();
    services.sort();
    services.dedup();
    let line = |service: &str| ServiceSpend {
        service: service.to_string(),
        month_to_date_usd: this.and_then(|p| p.by_service.get(service)).copied().unwrap_or(0.0),
        last_month_usd: last.and_then(|p| p.by_service.get(service)).copied().unwrap_or(0.0),
    };
    let mut top_services: Vec<ServiceSpend> = services.iter().map(|s| line(s)).collect();
    top_services.sort_by(|a, b| b.month_to_date_usd.total_cmp(&a.month_to_date_usd).then(b.last_month_usd.total_cmp(&a.last_month_usd)));
    top_services.truncate(top);
    let watched = WATCHED
        .iter()
        .map(|(label, needle)| {
            let matching: Vec<ServiceSpend> = services.iter().filter(|s| s.contains(needle)).map(|s| line(s)).collect();
            ServiceSpend {
                service: label.to_string(),
                month_to_date_usd: total(matching.iter().map(|s| s.month_to_date_usd)),
                last_month_usd: total(matching.iter().map(|s| s.last_month_usd)),
            }
        })
        .collect();
    SpendSummary {
        as_of: today,
        month_to_date_usd: mtd,
        last_month_usd: last_total,
        forecast_month_usd: forecast,
        month_over_month_change_pct: change,
        change_basis,
        top_services,
        watched,
        daily,
        estimated: periods.iter().any(|p| p.estimated),
        fetched_at,
        notes,
    }
}

/// Reads (or reuses) last month's and this month's spend and the forecast.
/// `cache` is the state database; without one nothing is reused.
pub async fn fetch(ce: &CostExplorerClient, cache: Option<&Journal>, now: DateTime<Utc>, settings: &SpendSettings) -> Result<SpendSummary, AwsError> {
    let today = now.date_naive();
    let max_age = Duration::seconds((settings.cache_hours * 3600.0) as i64);
    let start = previous_month(today);
    let end = today + Duration::days(1);
    let mut notes = Vec::new();
    let mut fetched_at = now;

    let key = format!("ce:daily-by-service:{start}:{end}");
    let periods: Vec<CostPeriod> =
        match cache.and_then(|j| j.cache().get(&key, now, max_age).ok().flatten()).and_then(|(at, body)| Some((at, serde_json::from_str(&body).ok()?))) {
            Some((at, periods)) => {
                fetched_at = at;
                periods
            }
            None => {
                let periods = ce.daily_by_service(start, end).await?;
                store(cache, &key, now, &periods);
                periods
            }
        };

    // Known spend up to today, plus AWS's forecast for the days after it.
    let month_to_date: f64 = months(&periods).iter().find(|p| p.start == first_of_month(today)).map_or(0.0, |p| p.total_usd);
    let forecast = match forecast_window(today) {
        None => {
            notes.push(LAST_DAY_NOTE.to_string());
            Some(month_to_date)
        }
        Some((from, to)) => {
            let key = format!("ce:forecast:{from}:{to}");
            // A failure is cached too (as null): asking again within the cache
            // period would be billed and answer the same.
            match cache.and_then(|j| j.cache().get(&key, now, max_age).ok().flatten()).and_then(|(_, body)| serde_json::from_str::<Option<f64>>(&body).ok()) {
                Some(Some(rest)) => Some(month_to_date + rest),
                Some(None) => {
                    notes.push("no forecast from AWS (its last answer was an error)".to_string());
                    None
                }
                None => match ce.forecast(from, to).await {
                    Ok(rest) => {
                        store(cache, &key, now, &Some(rest));
                        Some(month_to_date + rest)
                    }
                    Err(e) => {
                        // New accounts have too little history for a forecast.
                        store(cache, &key, now, &None::<f64>);
                        notes.push(format!("no forecast from AWS: {e}"));
                        None
                    }
                },
            }
        }
    };
    Ok(summarise(&periods, forecast, today, settings.top_services, fetched_at, notes))
}

fn store(cache: Option<&Journal>, key: &str, now: DateTime<Utc>, value: &impl Serialize) {
    let Some(journal) = cache else { return };
    let stored = serde_json::to_string(value).map_err(|e| e.to_string()).and_then(|body| journal.cache().put(key, now, &body).map_err(|e| e.to_string()));
    if let Err(e) = stored {
        tracing::warn!(error = %e, "could not cache a Cost Explorer answer");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(start: &str, end: &str, services: &[(&str, f64)]) -> CostPeriod {
        let by_service: BTreeMap<String, f64> = services.iter().map(|(s, v)| (s.to_string(), *v)).collect();
        CostPeriod {
            start: NaiveDate::parse_from_str(start, "%Y-%m-%d").unwrap_or_default(),
            end: NaiveDate::parse_from_str(end, "%Y-%m-%d").unwrap_or_default(),
            total_usd: by_service.values().sum(),
            by_service,
            estimated: false,
        }
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    fn fetched() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-15T12:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    #[test]
    fn the_summary_compares_months_and_watches_the_ai_lines() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 15).unwrap_or_default();
        let periods = [
            period("2026-10-01", "2026-11-01", &[("Amazon SageMaker", 600.0), ("AmazonCloudWatch", 300.0), ("Amazon Simple Storage Service", 100.0)]),
            period("2026-11-01", "2026-11-16", &[("Amazon SageMaker", 500.0), ("AmazonCloudWatch", 100.0), ("AWS Data Transfer", 20.0)]),
        ];
        let s = summarise(&periods, None, today, 2, fetched(), Vec::new());
        assert_eq!((s.month_to_date_usd, s.last_month_usd), (620.0, 1000.0));
        assert_eq!(s.top_services.iter().map(|x| x.service.as_str()).collect::<Vec<_>>(), ["Amazon SageMaker", "AmazonCloudWatch"]);
        // 620 over 15 of 30 days -> 1240 expected, +24% on 1000.
        assert!((s.month_over_month_change_pct.unwrap_or_default() - 24.0).abs() < 1e-9, "{:?}", s.month_over_month_change_pct);
        let watched: Vec<(&str, f64)> = s.watched.iter().map(|w| (w.service.as_str(), w.month_to_date_usd)).collect();
        assert_eq!(watched[0], ("SageMaker", 500.0));
        assert_eq!(watched[2], ("Data transfer", 20.0));
        let with_forecast = summarise(&periods, Some(900.0), today, 10, fetched(), Vec::new());
        assert!((with_forecast.month_over_month_change_pct.unwrap_or_default() + 10.0).abs() < 1e-9);
        assert_eq!(with_forecast.change_basis, "AWS's forecast for this month");
    }

    #[test]
    fn days_sum_into_months_and_the_last_thirty_are_charted() {
        let today = day(2026, 11, 15);
        let mut periods = Vec::new();
        let mut d = day(2026, 10, 1);
        while d <= today {
            let next = d + Duration::days(1);
            periods.push(period(&d.to_string(), &next.to_string(), &[("Amazon SageMaker", 10.0), ("AmazonCloudWatch", 1.0)]));
            d = next;
        }
        let s = summarise(&periods, None, today, 5, fetched(), Vec::new());
        assert_eq!((s.last_month_usd, s.month_to_date_usd), (31.0 * 11.0, 15.0 * 11.0));
        assert_eq!(s.daily.len(), DAYS_CHARTED as usize);
        assert_eq!((s.daily[0].date, s.daily[29].date), (day(2026, 10, 17), today));
        assert_eq!(s.daily[29].by_service["Amazon SageMaker"], 10.0);
        // An answer of whole months (what an emulator may give) charts no day.
        let months = [period("2026-10-01", "2026-11-01", &[("Amazon SageMaker", 600.0)])];
        assert!(summarise(&months, None, today, 5, fetched(), Vec::new()).daily.is_empty());
    }

    #[test]
    fn months_roll_over_at_year_end() {
        let jan = NaiveDate::from_ymd_opt(2027, 1, 10).unwrap_or_default();
        assert_eq!(previous_month(jan), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default());
        let dec = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap_or_default();
        assert_eq!(next_month(dec), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default());
    }

    #[test]
    fn the_forecast_covers_the_days_still_to_come() {
        // An ordinary day: tomorrow to the first of next month.
        assert_eq!(forecast_window(day(2026, 11, 15)), Some((day(2026, 11, 16), day(2026, 12, 1))));
        // The first day: everything but today.
        assert_eq!(forecast_window(day(2026, 12, 1)), Some((day(2026, 12, 2), day(2027, 1, 1))));
        // The day before the last: one day left.
        assert_eq!(forecast_window(day(2026, 11, 29)), Some((day(2026, 11, 30), day(2026, 12, 1))));
        // The last day of a month, of February (leap year or not) and of the year: nothing left.
        for last in [day(2026, 11, 30), day(2026, 2, 28), day(2028, 2, 29), day(2026, 12, 31), day(2027, 1, 31)] {
            assert_eq!(forecast_window(last), None, "{last}");
        }
        // 28 February of a leap year is not the last day.
        assert_eq!(forecast_window(day(2028, 2, 28)), Some((day(2028, 2, 29), day(2028, 3, 1))));
    }

    #[test]
    fn just_before_midnight_utc_is_still_the_same_day() {
        let late = DateTime::parse_from_rfc3339("2026-11-30T23:59:59.999Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default();
        assert_eq!(forecast_window(late.date_naive()), None, "the 30th of November, its last second");
        let early = late + Duration::milliseconds(1);
        assert_eq!(forecast_window(early.date_naive()), Some((day(2026, 12, 2), day(2027, 1, 1))));
    }

    #[test]
    fn months_are_pro_rated_over_their_own_length() {
        let leap = [period("2028-01-01", "2028-02-01", &[("Amazon SageMaker", 290.0)]), period("2028-02-01", "2028-02-11", &[("Amazon SageMaker", 100.0)])];
        // 100 over 10 of February 2028's 29 days -> 290: no change on January's 290.
        let s = summarise(&leap, None, day(2028, 2, 10), 5, fetched(), Vec::new());
        assert_eq!(s.change_basis, "month to date pro-rated over 29 days");
        assert!(s.month_over_month_change_pct.unwrap_or(f64::NAN).abs() < 1e-9, "{:?}", s.month_over_month_change_pct);
        let plain = [period("2027-01-01", "2027-02-01", &[("Amazon SageMaker", 280.0)]), period("2027-02-01", "2027-02-11", &[("Amazon SageMaker", 100.0)])];
        let s = summarise(&plain, None, day(2027, 2, 10), 5, fetched(), Vec::new());
        assert_eq!(s.change_basis, "month to date pro-rated over 28 days");
        assert!(s.month_over_month_change_pct.unwrap_or(f64::NAN).abs() < 1e-9, "{:?}", s.month_over_month_change_pct);
    }

    #[test]
    fn on_the_last_day_the_month_to_date_is_the_month() {
        let periods =
            [period("2026-10-01", "2026-11-01", &[("Amazon SageMaker", 1000.0)]), period("2026-11-01", "2026-12-01", &[("Amazon SageMaker", 1100.0)])];
        let s = summarise(&periods, Some(1100.0), day(2026, 11, 30), 5, fetched(), vec![LAST_DAY_NOTE.to_string()]);
        assert_eq!(s.change_basis, "month to date (the month's last day)");
        assert!((s.month_over_month_change_pct.unwrap_or(f64::NAN) - 10.0).abs() < 1e-9, "{:?}", s.month_over_month_change_pct);
        assert_eq!(s.notes, [LAST_DAY_NOTE]);
    }

    #[test]
    fn on_the_first_day_last_month_is_the_one_just_ended() {
        // 1 January: last month is December of the year before.
        let periods = [period("2026-12-01", "2027-01-01", &[("Amazon SageMaker", 3100.0)]), period("2027-01-01", "2027-01-02", &[("Amazon SageMaker", 100.0)])];
        let s = summarise(&periods, None, day(2027, 1, 1), 5, fetched(), Vec::new());
        assert_eq!((s.month_to_date_usd, s.last_month_usd), (100.0, 3100.0));
        assert_eq!(s.change_basis, "month to date pro-rated over 31 days");
        assert!(s.month_over_month_change_pct.unwrap_or(f64::NAN).abs() < 1e-9, "{:?}", s.month_over_month_change_pct);
    }
}
