//! costguard keeps an AWS account's AI/ML spend under guardrails: it finds
//! what costs money for nothing (log groups that never expire, idle
//! endpoints, over-provisioned instances), prices it, and acts on it only as
//! YAML policies say.
//!
//! # Layout
//!
//! A sweep flows one way: policies are parsed and compiled, resources are
//! collected, a pure `plan` says what would happen and why, `apply` does it,
//! and a report records both.
//!
//! - [`config`]: policy files parsed with locations and compiled into typed
//!   policies; every error at once, each with file, line, column and path;
//!   the daemon's own settings (`daemon.rs`: email).
//! - [`resources`]: one file per resource type: its attributes, how to list
//!   it; `sizes` compares instance sizes within a family.
//! - [`filters`]: one file per filter family: spec, compiled form, evaluation.
//! - [`actions`]: one file per action: spec, permissions, the AWS call.
//! - [`engine`]: `inventory` (all read I/O), `plan` (pure), `apply` (the only
//!   code that mutates AWS), `sweep` (the three in order), `journal` (what
//!   was changed, for crash recovery) and `restore` (undo from it).
//! - [`aws`]: narrow client wrappers that paginate inside, error
//!   classification, and the interceptor that counts every API call.
//! - [`guardrails`]: budgets, billing alarms and anomaly detection
//!   reconciled like a controller, and the account's spend.
//! - [`iam`]: the least-privilege IAM policy, generated from what each
//!   resource type, filter, action and guardrail declares.
//! - [`pricing`]: hourly prices (Price List API, disk cache, built-in table).
//! - [`report`]: `report.json` and `report.md`.
//! - [`notify`]: email digests of `notify` findings: routing, quiet period,
//!   templates, SMTP or SES delivery, and the outbox.
//! - [`clock`]: the wall clock as a value: only `main` reads the system's.
//! - [`commands`]: what the CLI's subcommands do; `main.rs` only parses.
//! - [`progress`]: terminal progress display.
//! - [`text`]: how dollars, times and AWS text are written for people (a leaf).
//! - [`service`]: `costguard run`, the daemon: schedules, the HTTP listener
//!   (health, readiness, Prometheus metrics, the report), reload, shutdown.

pub mod actions;
pub mod aws;
pub mod clock;
pub mod commands;
pub mod config;
pub mod engine;
pub mod files;
pub mod filters;
pub mod guardrails;
pub mod iam;
pub mod notify;
pub mod outcome;
pub mod pricing;
pub mod progress;
pub mod report;
pub mod resources;
pub mod service;
pub mod text;
pub mod yaml;
