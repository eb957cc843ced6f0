//! Where an organization's guardrails are reconciled (`guardrails.scope`),
//! as declarations: pure, no I/O.
//!
//! - `account`: every swept account reconciles the declared guardrails,
//!   with the amounts its accounts-file entry gives.
//! - `payer`: the management account reconciles each declared budget for
//!   the whole organization, one per member account and budget (filtered
//!   by `LinkedAccount`), the billing alarms and anomaly detection; member
//!   accounts reconcile nothing (they still read their spend).

use crate::config::accounts::MemberAccount;
use crate::config::guardrails::{member_budget_name, Budget, Scope};
use crate::config::Guardrails;

/// What one swept account reconciles in an organization's sweep.
pub fn for_member(g: &Guardrails, member: &MemberAccount) -> Guardrails {
    match g.scope {
        Scope::Account => Guardrails { budgets: g.budgets.iter().map(|b| with_amount(b, member)).collect(), ..g.clone() },
        Scope::Payer => Guardrails { reconcile: false, ..g.clone() },
    }
}

/// What the management account reconciles under `scope: payer`, for these
/// members: no spend summary or AI spend (each account reads its own).
pub fn for_payer(g: &Guardrails, members: &[MemberAccount]) -> Guardrails {
    let mut budgets = g.budgets.clone();
    for member in members {
        for declared in g.budgets.iter().filter(|b| g.member_budgets.contains(&b.name)) {
            let mut cost_filters = declared.cost_filters.clone();
            cost_filters.insert("LinkedAccount".to_string(), vec![member.id.clone()]);
            budgets.push(Budget { name: member_budget_name(&declared.name, &member.id), cost_filters, ..with_amount(declared, member) });
        }
    }
    Guardrails { budgets, spend: None, spend_velocity: None, ..g.clone() }
}

/// A declared budget with the member's own amount, if its entry gives one.
fn with_amount(declared: &Budget, member: &MemberAccount) -> Budget {
    Budget { amount_usd: member.budget_amounts.get(&declared.name).copied().unwrap_or(declared.amount_usd), ..declared.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(scope: &str) -> Guardrails {
        let text = format!(
            "guardrails:\n  scope: {scope}\n  email: [finops@corp.example]\n  budgets:\n    - {{name: costguard-monthly-500, amount: 500, cost-filters: {{Service: [Amazon SageMaker]}}}}\n    - {{name: costguard-monthly-5000, amount: 5000}}\n{}",
            if scope == "payer" { "  member-budgets: [costguard-monthly-500]\n" } else { "" }
        );
        crate::config::compile_guardrails_text(std::path::Path::new("g.yaml"), &text).ok().flatten().expect("valid guardrails")
    }

    fn member(id: &str, amounts: &[(&str, f64)]) -> MemberAccount {
        MemberAccount { budget_amounts: amounts.iter().map(|(k, v)| (k.to_string(), *v)).collect(), ..MemberAccount::new(id, "m") }
    }

    #[test]
    fn the_payer_gets_the_organizations_budgets_and_one_per_member_filtered_by_linked_account() {
        let g = declared("payer");
        let payer = for_payer(&g, &[member("111111111111", &[("costguard-monthly-500", 200.0)]), member("222222222222", &[])]);
        let names: Vec<&str> = payer.budgets.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["costguard-monthly-500", "costguard-monthly-5000", "costguard-monthly-500-111111111111", "costguard-monthly-500-222222222222"]);
        let first = &payer.budgets[2];
        assert_eq!(first.amount_usd, 200.0, "the accounts file's amount");
        assert_eq!(first.cost_filters["LinkedAccount"], ["111111111111"]);
        assert_eq!(first.cost_filters["Service"], ["Amazon SageMaker"], "the declared filters kept");
        assert_eq!(payer.budgets[3].amount_usd, 500.0);
        assert!(!payer.budgets[0].cost_filters.contains_key("LinkedAccount"), "the organization's own budget covers everyone");
        assert!(payer.anomaly_detection.is_some() && payer.spend.is_none());
        assert!(!for_member(&g, &member("111111111111", &[])).reconcile, "members reconcile nothing under scope: payer");
    }

    #[test]
    fn under_account_scope_each_account_reconciles_its_own_amounts() {
        let g = declared("account");
        let mine = for_member(&g, &member("111111111111", &[("costguard-monthly-5000", 750.0)]));
        assert!(mine.reconcile);
        assert_eq!(mine.budgets.iter().map(|b| b.amount_usd).collect::<Vec<_>>(), [500.0, 750.0]);
    }

    #[test]
    fn member_budgets_name_declared_budgets_and_need_scope_payer() {
        let errors = |text: &str| -> Vec<String> {
            crate::config::compile_guardrails_text(std::path::Path::new("g.yaml"), text)
                .err()
                .map(|e| e.0.iter().map(ToString::to_string).collect())
                .unwrap_or_default()
        };
        let base = "guardrails:\n  email: [finops@corp.example]\n  budgets:\n    - {name: costguard-monthly-500, amount: 500}\n";
        let e = errors(&format!("{base}  scope: payer\n  member-budgets: [costguard-nope]\n"));
        assert!(e.iter().any(|e| e.starts_with("g.yaml:6:") && e.contains("costguard-nope")), "{e:?}");
        let e = errors(&format!("{base}  member-budgets: [costguard-monthly-500]\n"));
        assert!(e.iter().any(|e| e.contains("needs `scope: payer`")), "{e:?}");
        let e = errors(&format!("{base}  scope: everywhere\n"));
        assert!(e.iter().any(|e| e.contains("scope")), "{e:?}");
    }
}
