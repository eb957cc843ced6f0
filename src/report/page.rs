//! The report pages' templates (MiniJinja, Jinja syntax), shipped in
//! `src/report/templates/`: each page is a set of macros that the page's
//! writer calls with one piece of data at a time (the head, then the
//! findings, a batch of rows a call), writing what each returns as it goes.
//! Text from AWS is escaped by the templates' filters (`md`, `code`) or,
//! in an `.html.j2` page, by auto-escaping.

use std::sync::OnceLock;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

/// The shipped pages.
const SHIPPED: [(&str, &str); 2] = [("report.md.j2", include_str!("templates/report.md.j2")), ("report.html.j2", include_str!("templates/report.html.j2"))];

/// A page that could not be rendered: a template's mistake, named.
#[derive(Debug, thiserror::Error)]
#[error("report template {template}: {source:#}")]
pub struct RenderError {
    template: String,
    source: minijinja::Error,
}

fn environment() -> &'static Result<Environment<'static>, RenderError> {
    static ENV: OnceLock<Result<Environment<'static>, RenderError>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // A field left out of the JSON (`skip_serializing_if`) tests false
        // in an `if`; printed, it is an error.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_auto_escape_callback(|name| if name.ends_with(".html.j2") { AutoEscape::Html } else { AutoEscape::None });
        // HTML-escaped as everywhere else in costguard (`text::html`): the
        // five specials, nothing more.
        env.set_formatter(|out, state, value| {
            if state.auto_escape() == AutoEscape::Html && !value.is_safe() && !value.is_none() {
                let text = value.to_string();
                out.write_str(&crate::text::html(&text)).map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        env.add_filter("md", |s: &str| crate::text::markdown(s));
        env.add_filter("code", |s: &str| crate::text::markdown_code(s));
        env.add_filter("usd", |v: Option<f64>| crate::text::usd(v));
        env.add_filter("usd_unpriced", |sum: f64, unpriced: usize| crate::text::usd_with_unpriced(sum, unpriced));
        env.add_filter("utc", |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t).map_or_else(|_| t.to_string(), |t| crate::text::utc(t.with_timezone(&chrono::Utc)))
        });
        env.add_filter("sparkline", |values: Vec<f64>| sparkline(&values));
        env.add_filter("signed_pct", |v: f64| format!("{v:+.1}%"));
        for (name, source) in SHIPPED {
            env.add_template(name, source).map_err(|source| RenderError { template: name.to_string(), source })?;
        }
        Ok(env)
    })
}

/// Hour by hour in block characters, each scaled to the highest hour.
pub fn sparkline(values: &[f64]) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    values.iter().map(|v| if max > 0.0 { BLOCKS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize] } else { BLOCKS[0] }).collect()
}

/// One page being written: its template's macros, ready to call.
pub struct Page<'p, 's, 'env> {
    name: &'static str,
    state: &'p minijinja::State<'s, 'env>,
}

/// Runs `write` with the page `name`'s macros.
pub fn with_page<T>(name: &'static str, write: impl FnOnce(&Page<'_, '_, '_>) -> Result<T, RenderError>) -> Result<T, RenderError> {
    let env = environment()
        .as_ref()
        .map_err(|e| RenderError { template: e.template.clone(), source: minijinja::Error::new(e.source.kind(), e.source.to_string()) })?;
    let template = env.get_template(name).map_err(|source| RenderError { template: name.to_string(), source })?;
    let captured = template.render_captured(()).map_err(|source| RenderError { template: name.to_string(), source })?;
    write(&Page { name, state: captured.state() })
}

impl Page<'_, '_, '_> {
    /// Calls the macro `piece` with `args` (each serialized on its own, so
    /// only this piece's data is held as template values) and writes what
    /// it returns.
    pub fn write(&self, out: &mut dyn std::fmt::Write, piece: &str, args: &[Value]) -> Result<(), RenderError> {
        let text = self.state.call_macro(piece, args).map_err(|source| RenderError { template: format!("{} ({piece})", self.name), source })?;
        // A failed write is the writer's to report (it keeps the I/O error).
        let _ = out.write_str(&text);
        Ok(())
    }
}

/// Rows handed to a macro in one call: few enough that their template
/// values stay small (a few hundred KB), many enough that the cost of a
/// call is spread thin.
const ROWS_PER_CALL: usize = 256;

impl Page<'_, '_, '_> {
    /// Calls the macro `piece` with `rows` a batch at a time (a list the
    /// macro loops over), writing as it goes.
    pub fn write_rows<T: serde::Serialize>(&self, out: &mut dyn std::fmt::Write, piece: &str, rows: impl IntoIterator<Item = T>) -> Result<(), RenderError> {
        let mut batch = Vec::with_capacity(ROWS_PER_CALL);
        for row in rows {
            batch.push(row);
            if batch.len() == ROWS_PER_CALL {
                self.write(out, piece, &[value(&batch)])?;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            self.write(out, piece, &[value(&batch)])?;
        }
        Ok(())
    }
}

/// A value a macro reads.
pub fn value<T: serde::Serialize>(data: &T) -> Value {
    Value::from_serialize(data)
}
