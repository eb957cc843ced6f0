//! The sweep's engine: collect an inventory, plan, apply.

pub mod apply;
pub mod inventory;
pub mod plan;
pub mod sweep;
