//! The engine: collect an inventory, plan (pure), apply, the findings, the
//! journal, and restore. It drives the resource types through their
//! registry and never names one.

pub mod accounts;
pub mod actions;
pub mod api_cache;
pub mod apply;
pub mod db;
pub mod evidence;
pub mod findings;
pub mod inventory;
pub mod journal;
pub mod ledger;
pub mod marks;
pub mod org_ledger;
pub mod plan;
pub mod plan_file;
pub mod restore;
pub mod sleeps;
pub mod wake;
