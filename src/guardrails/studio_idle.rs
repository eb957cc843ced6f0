//! Studio idle shutdown: each SageMaker Studio domain's default idle
//! shutdown for JupyterLab and Code Editor apps, set where it is missing or
//! looser than declared, reconciled like the budgets.
//!
//! For each app type, as the domain sets it for its users:
//! - idle shutdown off, or no idle timeout: turned on at `minutes`;
//! - an idle timeout longer than `minutes`: shortened to it; a shorter one
//!   is kept;
//! - no most a user may choose, or more than `max-minutes`: set to it; a
//!   lower one is kept (and the idle timeout is never above it);
//! - a least a user may choose that is above the idle timeout: lowered to it.
//!
//! Nothing else of a domain is changed, and a domain already as strict is
//! not called. Each change is journaled with its differences and made
//! after the domain is read again (a setting made stricter in between is
//! kept). Domains are read in every region the sweep covers.

use super::{Change, Fix, GuardrailChange, GuardrailKind, Planned};
use crate::aws::studio::{IdleSettings, StudioApp, StudioClient};
use crate::aws::{Aws, AwsError};
use crate::config::guardrails::StudioIdleShutdown;
use crate::outcome::Status;

/// What `declared` makes of an app type's idle shutdown `now`; `None`
/// when it is as strict already.
pub fn wanted(now: &IdleSettings, declared: &StudioIdleShutdown) -> Option<IdleSettings> {
    let max_minutes = now.max_minutes.filter(|&m| m <= declared.max_minutes).unwrap_or(declared.max_minutes);
    let idle_minutes = now.idle_minutes.filter(|&m| m <= declared.minutes && now.enabled).unwrap_or(declared.minutes).min(max_minutes);
    let min_minutes = now.min_minutes.map(|m| m.min(idle_minutes));
    let want = IdleSettings { enabled: true, idle_minutes: Some(idle_minutes), min_minutes, max_minutes: Some(max_minutes) };
    (want != *now).then_some(want)
}

/// What differs, as `field: now -> declared`.
pub fn differences(app: StudioApp, now: &IdleSettings, want: &IdleSettings) -> Vec<String> {
    let shown = |m: Option<i32>| m.map_or_else(|| "none".to_string(), |m| format!("{m} min"));
    let mut out = Vec::new();
    let name = app.as_str();
    if now.enabled != want.enabled {
        out.push(format!("{name} idle shutdown: off -> on"));
    }
    for (field, a, b) in [
        ("idle timeout", now.idle_minutes, want.idle_minutes),
        ("least a user may choose", now.min_minutes, want.min_minutes),
        ("most a user may choose", now.max_minutes, want.max_minutes),
    ] {
        if a != b {
            out.push(format!("{name} {field}: {} -> {}", shown(a), shown(b)));
        }
    }
    out
}

/// The guardrail's name for a domain: where it is, and what it is called.
fn name(region: &str, id: &str, domain_name: &str) -> String {
    format!("{region}/{id} ({domain_name})")
}

/// Reads every domain in `regions` and diffs its idle shutdown; changes nothing.
pub async fn plan(aws: &Aws, declared: &StudioIdleShutdown, regions: &[String]) -> Result<Vec<Planned>, AwsError> {
    let mut planned = Vec::new();
    for region in regions {
        let studio = aws.studio(region);
        for id in studio.domain_ids().await? {
            // Deleted between the two calls: nothing to reconcile.
            let Some(domain) = studio.domain(&id).await? else { continue };
            let differences: Vec<String> =
                domain.idle.iter().filter_map(|(app, now)| wanted(now, declared).map(|want| differences(*app, now, &want))).flatten().collect();
            let change = if differences.is_empty() { Change::Unchanged } else { Change::Update };
            let fix = if differences.is_empty() { Fix::Nothing } else { Fix::StudioIdle { region: region.clone(), domain: id.clone(), declared: *declared } };
            let entry = GuardrailChange::new(GuardrailKind::StudioIdleShutdown, name(region, &id, &domain.name), change, differences, Status::Planned, None);
            planned.push(Planned { change: entry, fix });
        }
    }
    Ok(planned)
}

/// Re-reads the domain and sets what is still missing or looser.
pub async fn apply(client: &StudioClient, domain: &str, declared: &StudioIdleShutdown) -> Result<Option<String>, AwsError> {
    match client.set_idle(domain, |_, now| wanted(now, declared)).await? {
        None => Ok(Some("the domain is gone; nothing to set".to_string())),
        Some((_, written)) if written.is_empty() => Ok(Some("as strict already when read again; nothing to set".to_string())),
        Some((_, written)) => {
            let apps: Vec<&str> = written.iter().map(|(app, _)| app.as_str()).collect();
            Ok(Some(format!("set for {}", apps.join(" and "))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECLARED: StudioIdleShutdown = StudioIdleShutdown { minutes: 60, max_minutes: 240 };

    fn idle(enabled: bool, idle: Option<i32>, min: Option<i32>, max: Option<i32>) -> IdleSettings {
        IdleSettings { enabled, idle_minutes: idle, min_minutes: min, max_minutes: max }
    }

    #[test]
    fn missing_idle_shutdown_is_turned_on_at_the_declared_minutes() {
        assert_eq!(wanted(&IdleSettings::default(), &DECLARED), Some(idle(true, Some(60), None, Some(240))));
        // Off, with a timeout left from before: on, at the declared one.
        assert_eq!(wanted(&idle(false, Some(30), None, None), &DECLARED), Some(idle(true, Some(60), None, Some(240))));
    }

    #[test]
    fn looser_settings_are_tightened_and_stricter_ones_kept() {
        assert_eq!(wanted(&idle(true, Some(480), Some(60), Some(1440)), &DECLARED), Some(idle(true, Some(60), Some(60), Some(240))));
        assert_eq!(wanted(&idle(true, Some(45), None, Some(120)), &DECLARED), None, "stricter in every way: left alone");
        // A stricter most is kept, and the timeout kept under it.
        assert_eq!(wanted(&idle(true, Some(90), None, Some(50)), &DECLARED), Some(idle(true, Some(50), None, Some(50))));
        // A least above the new timeout is lowered to it.
        assert_eq!(wanted(&idle(true, Some(300), Some(120), Some(300)), &DECLARED), Some(idle(true, Some(60), Some(60), Some(240))));
    }

    #[test]
    fn a_second_reconcile_is_a_no_op() {
        for now in [IdleSettings::default(), idle(true, Some(480), Some(120), Some(1440)), idle(false, None, None, Some(100))] {
            let once = wanted(&now, &DECLARED).unwrap_or(now);
            assert_eq!(wanted(&once, &DECLARED), None, "{now:?} -> {once:?}");
        }
    }

    #[test]
    fn differences_say_each_field_that_changes() {
        let now = idle(true, Some(480), None, None);
        let want = wanted(&now, &DECLARED).expect("looser");
        assert_eq!(
            differences(StudioApp::JupyterLab, &now, &want),
            ["JupyterLab idle timeout: 480 min -> 60 min", "JupyterLab most a user may choose: none -> 240 min"]
        );
    }
}
