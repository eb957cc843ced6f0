//! Cron schedules as the scheduler takes them.

/// A cron expression as the scheduler wants it: six fields, seconds first.
/// Five fields are the classic crontab form and get `0` seconds.
pub fn normalize_schedule(expr: &str) -> Result<String, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let six = match fields.len() {
        5 => format!("0 {}", fields.join(" ")),
        6 => fields.join(" "),
        n => return Err(format!("expected a cron expression of 5 fields (minute hour day month weekday) or 6 (seconds first), found {n}")),
    };
    // One sweep a minute at most: the seconds field names fixed seconds,
    // and only one of them (`*`, `*/10` or `0,30` would sweep back to back).
    let seconds = six.split(' ').next().unwrap_or_default();
    if !seconds.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("sweeps run at most once a minute: the seconds field must be one number such as 0, found {seconds:?}"));
    }
    tokio_cron_scheduler::Job::new_async(six.as_str(), |_, _| Box::pin(async {})).map(|_| six.clone()).map_err(|e| format!("not a valid cron expression: {e}"))
}
