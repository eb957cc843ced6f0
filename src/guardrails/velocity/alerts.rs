//! Which thresholds the figures cross, and whom to tell what (pure), with
//! what was told kept in the state database.
//!
//! An alert is told at once when it starts (no quiet period holds it), again
//! only when it gets worse by `worse-step` or stays over for
//! `repeat-hours`, and going back under is told once.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rusqlite::params;

use super::figures::{limits_of, AiSpend, AlertLine, AlertRule};
pub use super::figures::{Notice, NoticeKind};
use crate::config::velocity::{Limits, SpendVelocity};
use crate::engine::db::{parse_time, Db, History, JournalError, Table};
use crate::engine::journal::Journal;

/// The AI spend alerts standing; older than `state-keep-days`, forgotten.
pub static TABLE: Table = Table {
    name: "ai_spend_alerts",
    schema: "
-- AI spend alerts (guardrails::velocity) standing now: what was last told
-- and when, so an alert is repeated only when worse or after a while, and
-- going back under is told once.
CREATE TABLE IF NOT EXISTS ai_spend_alerts (
    key      TEXT PRIMARY KEY,
    value    REAL NOT NULL,
    told_at  TEXT NOT NULL
);
",
    added: &[],
    then: "",
    history: History::Dated("told_at"),
};

/// The AI spend alerts told, over the state database.
#[derive(Clone, Copy)]
pub struct Alerts<'a>(pub &'a Db);

impl<'a> Alerts<'a> {
    pub fn of(journal: &'a Journal) -> Self {
        Alerts(journal.db())
    }
}

/// One rule watched in one scope now.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub line: AlertLine,
    pub crossed: bool,
}

/// What was last told of an alert standing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Told {
    pub value: f64,
    pub at: DateTime<Utc>,
}

fn limit_lines(scope: &str, region: Option<&str>, limits: &Limits, (per_hour, today, month): (f64, f64, f64)) -> Vec<Evaluation> {
    let rules = [
        (AlertRule::MaxUsdPerHour, limits.usd_per_hour, per_hour),
        (AlertRule::MaxUsdPerDay, limits.usd_per_day, today),
        (AlertRule::MaxProjectedMonthUsd, limits.projected_month_usd, month),
    ];
    rules
        .into_iter()
        .filter_map(|(rule, limit, value)| {
            let limit = limit?;
            Some(Evaluation { line: AlertLine { scope: scope.to_string(), region: region.map(str::to_string), rule, value, limit }, crossed: value >= limit })
        })
        .collect()
}

/// The spike rule: the last hour against `factor` times the same hour's
/// 7-day average. Without the average (it is read only for what spent at
/// least `min-usd-per-hour` last hour), the last hour was under the minimum.
fn spike_line(scope: &str, region: Option<&str>, settings: &SpendVelocity, last_hour: f64, baseline: Option<f64>) -> Option<Evaluation> {
    let spike = settings.spike?;
    let limit = baseline.map_or(spike.min_usd_per_hour, |b| (b * spike.factor).max(spike.min_usd_per_hour));
    let line = AlertLine { scope: scope.to_string(), region: region.map(str::to_string), rule: AlertRule::Spike, value: last_hour, limit };
    Some(Evaluation { crossed: baseline.is_some() && last_hour >= limit, line })
}

/// Every rule watched, with whether it is crossed; the crossed ones are
/// also written into the figures (the total's `alerts`, each model's).
pub fn evaluate(spend: &mut AiSpend, settings: &SpendVelocity) -> Vec<Evaluation> {
    let t = spend.total;
    let mut all = limit_lines("total", None, &settings.total, (t.usd_per_hour, t.usd_today, t.projected_month_usd));
    all.extend(spike_line("total", None, settings, t.usd_last_hour, spend.baseline_usd_per_hour));
    for m in &mut spend.models {
        let (Some(per_hour), Some(today), Some(month), Some(last_hour)) = (m.usd_per_hour, m.usd_today, m.projected_month_usd, m.usd_last_hour) else {
            continue;
        };
        let mut mine = limits_of(&m.model_id, settings).map_or_else(Vec::new, |l| limit_lines(&m.model_id, Some(&m.region), l, (per_hour, today, month)));
        mine.extend(spike_line(&m.model_id, Some(&m.region), settings, last_hour, m.baseline_usd_per_hour));
        m.alerts = mine.iter().filter(|e| e.crossed).map(|e| e.line.rule.as_str().to_string()).collect();
        all.extend(mine);
    }
    spend.alerts = all.iter().filter(|e| e.crossed).map(|e| e.line.clone()).collect();
    all
}

/// What to tell now, given what was told before.
pub fn notices(evaluations: &[Evaluation], previous: &BTreeMap<String, Told>, now: DateTime<Utc>, settings: &SpendVelocity) -> Vec<Notice> {
    let repeat = Duration::seconds((settings.repeat_hours * 3600.0) as i64);
    evaluations
        .iter()
        .filter_map(|e| {
            let before = previous.get(&e.line.key());
            let kind = match (e.crossed, before) {
                (true, None) => NoticeKind::Crossed,
                (true, Some(t)) if e.line.value >= t.value * settings.worse_step => NoticeKind::Worse,
                (true, Some(t)) if now - t.at >= repeat => NoticeKind::StillOver,
                (false, Some(_)) => NoticeKind::BackUnder,
                _ => return None,
            };
            Some(Notice { kind, line: e.line.clone(), told: before.map(|t| t.value) })
        })
        .collect()
}

/// The state after these notices were told (or queued): what stands, and
/// what no longer does (back under, or no longer watched).
pub fn settle(notices: &[Notice], evaluations: &[Evaluation], previous: &BTreeMap<String, Told>) -> (Vec<(String, f64)>, Vec<String>) {
    let told = notices.iter().filter(|n| n.kind != NoticeKind::BackUnder).map(|n| (n.line.key(), n.line.value)).collect();
    let watched: Vec<String> = evaluations.iter().filter(|e| e.crossed).map(|e| e.line.key()).collect();
    let cleared = previous.keys().filter(|k| !watched.contains(k)).cloned().collect();
    (told, cleared)
}

impl Alerts<'_> {
    /// The AI spend alerts standing, by key.
    pub fn standing(&self) -> Result<BTreeMap<String, Told>, JournalError> {
        let rows: Vec<(String, f64, String)> = self.0.with(&TABLE, |c| {
            let mut stmt = c.prepare("SELECT key, value, told_at FROM ai_spend_alerts")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })?;
        Ok(rows.into_iter().filter_map(|(key, value, at)| Some((key, Told { value, at: parse_time(&at)? }))).collect())
    }

    /// Records what was told now, and forgets what stands no more.
    pub fn record(&self, told: &[(String, f64)], cleared: &[String], at: DateTime<Utc>) -> Result<(), JournalError> {
        self.0.with(&TABLE, |c| {
            let tx = c.unchecked_transaction()?;
            for (key, value) in told {
                tx.execute(
                    "INSERT INTO ai_spend_alerts (key, value, told_at) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET value = ?2, told_at = ?3",
                    params![key, value, at.to_rfc3339()],
                )?;
            }
            for key in cleared {
                tx.execute("DELETE FROM ai_spend_alerts WHERE key = ?1", params![key])?;
            }
            tx.commit()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::velocity::Spike;

    fn settings() -> SpendVelocity {
        let mut s = super::super::figures::tests_settings();
        s.total = Limits { usd_per_hour: Some(10.0), ..Default::default() };
        s.spike = Some(Spike { factor: 5.0, min_usd_per_hour: 1.0 });
        s
    }

    fn eval(value: f64) -> Vec<Evaluation> {
        let line = AlertLine { scope: "total".into(), region: None, rule: AlertRule::MaxUsdPerHour, value, limit: 10.0 };
        vec![Evaluation { crossed: value >= 10.0, line }]
    }

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::hours(1_000_000 + h)
    }

    #[test]
    fn told_at_once_then_only_when_worse_or_after_the_repeat_period_and_back_under_once() {
        let s = settings();
        let mut state: BTreeMap<String, Told> = BTreeMap::new();
        let mut run = |value: f64, hour: i64| {
            let e = eval(value);
            let n = notices(&e, &state, at(hour), &s);
            let (told, cleared) = settle(&n, &e, &state);
            for (k, v) in told {
                state.insert(k, Told { value: v, at: at(hour) });
            }
            cleared.iter().for_each(|k| {
                state.remove(k);
            });
            n.iter().map(|n| n.kind).collect::<Vec<_>>()
        };
        assert_eq!(run(5.0, 0), []);
        assert_eq!(run(12.0, 1), [NoticeKind::Crossed]);
        assert_eq!(run(13.0, 2), [], "a little worse, within the repeat period: held");
        assert_eq!(run(18.0, 3), [NoticeKind::Worse], "1.5 x what was told");
        assert_eq!(run(18.0, 8), [], "5 hours after the last notice");
        assert_eq!(run(18.0, 9), [NoticeKind::StillOver], "6 hours after");
        assert_eq!(run(4.0, 10), [NoticeKind::BackUnder]);
        assert_eq!(run(4.0, 11), [], "back under is told once");
    }

    #[test]
    fn a_spike_needs_the_minimum_and_the_factor() {
        let s = settings();
        let spike = |last, base| spike_line("m", Some("r"), &s, last, base).map(|e| e.crossed);
        assert_eq!(spike(0.5, None), Some(false), "under the minimum: not read, not crossed");
        assert_eq!(spike(4.0, Some(1.0)), Some(false), "4x");
        assert_eq!(spike(5.0, Some(1.0)), Some(true), "5x");
        assert_eq!(spike(1.0, Some(0.0)), Some(true), "a model with no history spending the minimum");
    }
}
