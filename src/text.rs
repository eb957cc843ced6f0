//! How values are written for people, the same in the report, the email
//! and the terminal: dollars, times, and text from AWS made safe to show.
//! A leaf: it imports nothing from the crate.

use chrono::{DateTime, Utc};

/// Adds up dollar amounts. Starts from +0.0, so an empty sum is `0`, never
/// the `-0` that `Iterator::sum` gives for floats (shown as `$-0.00`).
pub fn total(amounts: impl IntoIterator<Item = f64>) -> f64 {
    amounts.into_iter().fold(0.0, |sum, a| sum + a)
}

/// `$3,140.25`; an unknown amount says so rather than `$0`.
pub fn usd(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => with_thousands(v, 2),
        _ => "unknown".to_string(),
    }
}

/// `$3,140`.
pub fn usd0(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => with_thousands(v, 0),
        _ => "unknown".to_string(),
    }
}

/// A sum over resources of which `unpriced` have no known price (and are
/// not in it): `$840.96 + 2 unpriced`; never a bare `$0.00` that hides them.
pub fn usd_with_unpriced(sum: f64, unpriced: usize) -> String {
    match unpriced {
        0 => usd(Some(sum)),
        n => format!("{} + {n} unpriced", usd(Some(sum))),
    }
}

fn with_thousands(v: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, v.abs());
    let (whole, frac) = text.split_once('.').map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    // Only a figure that shows a digit other than 0 gets a minus.
    let sign = if v < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') { "-" } else { "" };
    match frac {
        Some(f) => format!("{sign}${grouped}.{f}"),
        None => format!("{sign}${grouped}"),
    }
}

/// `2026-12-02 10:00:00 UTC`: to the second, the zone said.
/// The savings ledger in a line: `$1,234.00/month from 3 changes since 2026-11-02 10:00:00 UTC`.
pub fn saved_so_far(monthly_usd: f64, changes: usize, since: Option<DateTime<Utc>>) -> String {
    match since {
        None => "nothing yet".to_string(),
        Some(since) => format!("{}/month from {changes} change{} since {}", usd(Some(monthly_usd)), if changes == 1 { "" } else { "s" }, utc(since)),
    }
}

pub fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Text rewritten character by character: `each` pushes what a
/// character becomes.
fn rewrite(text: &str, each: impl Fn(char, &mut String)) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        each(c, &mut out);
    }
    out
}

/// Text made safe inside HTML, in element content and quoted attributes.
pub fn html(text: &str) -> String {
    rewrite(text, |c, out| match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    })
}

/// One line, no control or direction-changing characters, at most `max`
/// characters: what a value from AWS may look like once shown.
pub fn clean(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max + 3));
    let mut last_space = false;
    for (n, c) in s.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        let c = if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}') {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        out.push(c);
    }
    out.trim().to_string()
}

/// An account as people read it: "name (id)", or the id alone when it
/// has no other name.
pub fn account_label(id: &str, name: &str) -> String {
    if name.is_empty() || name == id {
        id.to_string()
    } else {
        format!("{name} ({id})")
    }
}

/// A log writer that keeps each event on one line: a line break inside
/// one (from a resource name or tag, which come from AWS and from whoever
/// may tag) is written as `\n` or `\r`, so nobody can forge log lines. The
/// text format writes each event with one write ending in its own line break.
pub struct OneLine<W>(pub W);

impl<W: std::io::Write> std::io::Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (body, end) = match buf.split_last() {
            Some((b'\n', body)) => (body, &b"\n"[..]),
            _ => (buf, &b""[..]),
        };
        if !body.contains(&b'\n') && !body.contains(&b'\r') {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut line = Vec::with_capacity(buf.len() + 8);
        for &b in body {
            match b {
                b'\n' => line.extend_from_slice(b"\\n"),
                b'\r' => line.extend_from_slice(b"\\r"),
                b => line.push(b),
            }
        }
        line.extend_from_slice(end);
        self.0.write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Text that cannot break a table row or inject markup: HTML specials,
/// pipes, backticks and line breaks are neutralised.
pub fn markdown(text: &str) -> String {
    rewrite(text, |c, out| match c {
        '&' | '<' | '>' => out.push_str(&html(c.encode_utf8(&mut [0; 4]))),
        '|' => out.push_str("\\|"),
        '`' | '*' | '_' | '[' | ']' | '\\' => {
            out.push('\\');
            out.push(c);
        }
        '\n' | '\r' => out.push(' '),
        c if c.is_control() => out.push('\u{FFFD}'),
        c => out.push(c),
    })
}

/// Inside a code span only backticks, pipes and line breaks matter.
pub fn markdown_code(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '`' => '\'',
            '|' => '¦',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_like_money_and_is_never_negative_zero() {
        assert_eq!(usd(Some(3140.254)), "$3,140.25");
        assert_eq!(usd0(Some(1234567.8)), "$1,234,568");
        assert_eq!(usd0(Some(999.0)), "$999");
        assert_eq!(usd(None), "unknown");
        assert_eq!(usd(Some(-12.5)), "-$12.50");
        assert_eq!(usd(Some(-0.0)), "$0.00");
        assert_eq!(usd(Some(-0.001)), "$0.00");
        let empty: [f64; 0] = [];
        assert!(total(empty).is_sign_positive(), "an empty sum is +0");
        assert_eq!(serde_json::to_string(&total(empty)).unwrap_or_default(), "0.0");
        assert!(total([-0.0, -0.0]).is_sign_positive());
    }

    #[test]
    fn unpriced_resources_are_never_a_bare_zero() {
        assert_eq!(usd_with_unpriced(840.96, 0), "$840.96");
        assert_eq!(usd_with_unpriced(840.96, 2), "$840.96 + 2 unpriced");
        assert_eq!(usd_with_unpriced(0.0, 2), "$0.00 + 2 unpriced");
    }

    #[test]
    fn times_are_to_the_second() {
        let t = DateTime::parse_from_rfc3339("2026-12-02T10:00:07.123456Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default();
        assert_eq!(utc(t), "2026-12-02 10:00:07 UTC");
    }

    #[test]
    fn clean_leaves_one_short_line() {
        assert_eq!(clean("a\r\nBcc: x@y.z\u{202E}  b", 100), "a Bcc: x@y.z b");
        assert_eq!(clean("abcdef", 3), "abc…");
    }

    #[test]
    fn a_log_event_stays_on_one_line() {
        use std::io::Write;
        let mut out = OneLine(Vec::new());
        out.write_all(b"INFO listed resource=\"/app\nINFO forged line\r\" count=1\n").expect("write");
        assert_eq!(String::from_utf8_lossy(&out.0), "INFO listed resource=\"/app\\nINFO forged line\\r\" count=1\n");
        let mut plain = OneLine(Vec::new());
        plain.write_all(b"INFO plain\n").expect("write");
        assert_eq!(plain.0, b"INFO plain\n");
    }
}
