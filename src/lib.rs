//! costguard keeps an AWS account's AI/ML spend under guardrails: it finds
//! what costs money for nothing (log groups that never expire, idle
//! endpoints, over-provisioned instances), prices it, and acts on it only as
//! YAML policies say.
//!
//! # Layout
//!
//! A sweep flows one way: policies are parsed and compiled, resources are
//! collected, a pure `plan` says what would happen and why, `apply` does it,
//! and a report records both (see [`sweep`]).
//!
//! The modules form layers; each imports only from the layers above it in
//! this list, and the files of one folder import each other without a
//! circle (`tests/layout.rs` holds the map and checks both; it also refuses
//! a comparison with a string literal that stands for a state: states are
//! enums, text only where stored or printed):
//!
//! 1. Leaves, which import nothing from the crate: [`clock`] (the wall
//!    clock as a value: only `main` reads the system's), [`text`] (how
//!    dollars, times and AWS text are written for people), [`yaml`] (YAML
//!    with locations, every error located), [`outcome`] (statuses, action
//!    results, exit codes), [`files`] (bounded reads, atomic writes),
//!    [`progress`] (the terminal's progress display), [`shutdown`] (one
//!    token and task tracker for the process; a second signal exits),
//!    [`small_map`] (a map as a sorted vector: tags and per-resource
//!    metrics), [`schedule`] (off-hours schedules in their time zones,
//!    costguard's and Cloud Custodian's spellings). Then [`state_lock`] (one sweep at a time per state folder;
//!    its lock file is private, as [`files`] makes it).
//! 2. [`aws`]: client construction, retries, the api-call counter, error
//!    classification, and the seams several layers share.
//! 3. [`pricing`]: the price book (Price List API, disk cache, built-in figures).
//! 4. [`resources`]: one module per resource type, and the registry.
//! 5. [`filters`]: one file per filter family: spec, compiled form, evaluation.
//! 6. [`actions`]: the generic actions (`notify`, `mark`); the changes are
//!    the resource types' own.
//! 7. [`config`]: policy files compiled into typed policies, the guardrails'
//!    and the daemon's settings.
//! 8. [`engine`]: `inventory` (all read I/O), `plan` (pure), `apply` (the
//!    only code that mutates resources), `findings`, `restore`; the state
//!    database (`db`: one connection) and its stores: `journal` (runs,
//!    actions, marks; it settles a change and its saving in one
//!    transaction) and `ledger` (savings).
//! 9. [`guardrails`]: budgets, billing alarms and anomaly detection, planned
//!    and applied like resources; the account's spend.
//! 10. [`notify`]: email digests of `notify` findings.
//! 11. [`report`]: `report.json`, `report.md`, `report.html`.
//! 12. [`iam`]: the least-privilege IAM policy, generated from what each
//!     resource type, action and guardrail declares.
//! 13. [`sweep`]: one sweep, step by step; each step takes the sweep's
//!     `Run` (clients, clock, stop signal, run id, journal) and asks it
//!     whether it may change anything. A `Request` (policies, options:
//!     scope, features, paths, limits; whose accounts) is started by
//!     `sweep::execute`, the one entry of the CLI and the daemon; a daemon
//!     config becomes one through `sweep::Loaded`.
//! 14. [`events`]: creation time: CloudTrail events from an SQS queue, each
//!     read through its type, priced, tagged with its creator and told.
//! 15. [`service`] (`costguard run`, the daemon) and [`commands`] (what the
//!     CLI's subcommands do; `main.rs` only parses), side by side: neither
//!     imports the other.

pub mod actions;
pub mod aws;
pub mod clock;
pub mod commands;
pub mod config;
pub mod engine;
pub mod events;
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
pub mod schedule;
pub mod service;
pub mod shutdown;
pub mod small_map;
pub mod state_lock;
pub mod sweep;
pub mod text;
pub mod yaml;
