//! The sweep's engine: collect an inventory, plan, apply.

pub mod apply;
pub mod inventory;
pub mod journal;
pub mod plan;
pub mod restore;
pub mod sweep;
