//! The accounts a run covers, and reaching each of them.
//!
//! The accounts come from Organizations (all active accounts, or those
//! under some OUs, child OUs included) or from an accounts file. They are
//! then narrowed (`--account`, `--exclude-account`). Each one is reached by
//! assuming its member role, concurrently up to a bound. One account's
//! failure (role refused, no such role, throttled) belongs to that account
//! alone: the others go on.

use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use crate::aws::{Aws, AwsError};
use crate::config::accounts::{MemberAccount, OrgSettings};

/// Where the accounts come from.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Every active account of the organization (or of `ous`).
    pub organization: bool,
    pub ous: Vec<String>,
    /// An accounts file's accounts, instead of Organizations.
    pub listed: Option<Vec<MemberAccount>>,
    /// Only these account ids (empty: all).
    pub only: Vec<String>,
    pub exclude: Vec<String>,
    /// This process's share: shard `k` of `n` (accounts by a stable hash of their id).
    pub shard: Option<(u32, u32)>,
    /// Read each account's tags from Organizations (some policy is scoped
    /// by account tags; an accounts file carries its own).
    pub with_tags: bool,
}

/// What discovery found: the accounts to cover, and those left out with why.
#[derive(Clone, Debug, Default)]
pub struct Discovered {
    pub accounts: Vec<MemberAccount>,
    pub left_out: Vec<(MemberAccount, String)>,
}

/// Lists the accounts `selection` names. Only active accounts are covered;
/// suspended and closing ones are listed as left out.
pub async fn discover(hub: &Aws, selection: &Selection) -> Result<Discovered, AwsError> {
    let mut found = Discovered::default();
    let candidates: Vec<MemberAccount> = match &selection.listed {
        Some(listed) => listed.clone(),
        None => {
            let org = hub.organizations();
            let mut accounts = Vec::new();
            if selection.ous.is_empty() {
                accounts = match org.accounts_by_ou().await {
                    Ok(accounts) => accounts,
                    // A hub role from before OUs were read may lack
                    // ListRoots: the accounts without their OUs.
                    Err(e) if e.kind == crate::aws::ErrorKind::AccessDenied => {
                        tracing::warn!(error = %e, "cannot walk the organization's OUs (organizations:ListRoots, ListAccountsForParent, ListOrganizationalUnitsForParent); listing the accounts without them");
                        org.accounts().await?
                    }
                    Err(e) => return Err(e),
                };
            } else {
                for ou in &selection.ous {
                    accounts.extend(org.accounts_under(ou).await?);
                }
            }
            accounts.sort_by(|a, b| a.id.cmp(&b.id));
            accounts.dedup_by(|a, b| a.id == b.id);
            accounts
                .into_iter()
                .filter_map(|a| {
                    let member = MemberAccount { ou: a.ou.clone(), ..MemberAccount::new(&a.id, &a.name) };
                    // Its id names its folders: only what AWS writes, 12 digits.
                    if !crate::config::accounts::is_account_id(&a.id) {
                        found.left_out.push((member, "its id is not 12 digits: not swept".to_string()));
                        None
                    } else if a.status == "ACTIVE" {
                        Some(member)
                    } else {
                        found.left_out.push((member, format!("status {}", a.status)));
                        None
                    }
                })
                .collect()
        }
    };
    let (accounts, left_out) = narrow(candidates, &selection.only, &selection.exclude);
    // Another shard's accounts are its own business: not listed here.
    found.accounts = accounts.into_iter().filter(|a| selection.shard.is_none_or(|(k, n)| shard_of(&a.id, n) == k)).collect();
    if selection.with_tags && selection.listed.is_none() {
        let org = hub.organizations();
        for a in &mut found.accounts {
            a.tags = org.account_tags(&a.id).await?;
        }
    }
    found.left_out.extend(left_out);
    Ok(found)
}

/// The shard (of `n`) an account belongs to: FNV-1a of its id, the same
/// on every machine and in every version.
pub fn shard_of(account_id: &str, n: u32) -> u32 {
    let hash = account_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (hash % u64::from(n.max(1))) as u32
}

/// Keeps the accounts `only` names (all when empty) and not in `exclude`.
pub fn narrow(accounts: Vec<MemberAccount>, only: &[String], exclude: &[String]) -> (Vec<MemberAccount>, Vec<(MemberAccount, String)>) {
    let mut kept = Vec::new();
    let mut left_out = Vec::new();
    for a in accounts {
        if exclude.contains(&a.id) {
            left_out.push((a, "excluded (--exclude-account)".to_string()));
        } else if !only.is_empty() && !only.contains(&a.id) {
            left_out.push((a, "not among --account".to_string()));
        } else {
            kept.push(a);
        }
    }
    (kept, left_out)
}

/// How member accounts are reached.
#[derive(Clone, Debug)]
pub struct Reach {
    /// `aws`, `aws-cn`, `aws-us-gov`: for the member role's ARN.
    pub partition: String,
    pub member_role: String,
    /// For every account without its own (from the environment or a file).
    pub external_id: Option<String>,
    /// Accounts reached at once.
    pub max_concurrent: usize,
    /// How long the member role's credentials last.
    pub session: crate::aws::assume::Session,
}

impl Reach {
    /// The role assumed in `account`; `None`: the hub's own credentials
    /// (the hub's own account, unless the accounts file names a role).
    pub fn role_for(&self, account: &MemberAccount, hub_account: &str) -> Option<String> {
        (account.id != hub_account || account.role_arn.is_some()).then(|| account.role(&self.partition, &self.member_role))
    }
}

/// The partition of a region's ARNs.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// One account, reached or not.
#[derive(Clone, Debug, Serialize)]
pub struct Reached {
    pub account_id: String,
    pub name: String,
    /// Its OU's path, when Organizations listed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ou: Option<String>,
    /// The role assumed; `None`: the hub's own credentials (its own account).
    pub role: Option<String>,
    pub status: crate::outcome::AccountStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    pub aws: Option<Aws>,
}

/// A handle on each account: its member role assumed (the hub's own
/// credentials in the hub's own account, unless the file names a role),
/// checked with one sts:GetCallerIdentity that must answer for that account.
pub async fn reach(hub: &Aws, hub_account: &str, accounts: Vec<MemberAccount>, how: &Reach) -> Vec<Reached> {
    let tries = accounts.into_iter().map(|account| async move {
        let role = how.role_for(&account, hub_account);
        let aws = match &role {
            None => hub.counted_apart(),
            Some(role) => hub.assuming(role, account.external_id.as_deref().or(how.external_id.as_deref()), how.session),
        };
        let result = match aws.account_id().await {
            Ok(id) if id == account.id => Ok(()),
            Ok(id) => Err(format!("the role answered for account {id}, not {}", account.id)),
            Err(e) => Err(match &role {
                Some(role) => format!("cannot act as {role}: {e}"),
                None => e.to_string(),
            }),
        };
        if let Err(e) = &result {
            tracing::error!(account = %account.id, role = ?role, error = %e, "account not reached; the others go on");
        } else {
            tracing::info!(account = %account.id, role = ?role, session = crate::aws::assume::SESSION_NAME, "account reached");
        }
        Reached {
            account_id: account.id,
            name: account.name,
            ou: account.ou,
            role,
            status: if result.is_ok() { crate::outcome::AccountStatus::Ok } else { crate::outcome::AccountStatus::Failed },
            error: result.as_ref().err().cloned(),
            aws: result.is_ok().then_some(aws),
        }
    });
    let mut reached: Vec<Reached> = stream::iter(tries).buffer_unordered(how.max_concurrent.max(1)).collect().await;
    reached.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    reached
}

/// Why the accounts to sweep could not be settled.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("costguard: name the accounts one way: --organization (with --ou ID to narrow), or --accounts FILE")]
    TwoSources,
    #[error("{0}")]
    AccountsFile(crate::config::ConfigErrors),
    #[error("costguard: the external id: {0}")]
    ExternalId(crate::config::secret::SecretError),
}

/// The accounts to sweep and how to reach them, from the CLI's options or
/// the daemon config: the accounts file read, the external id read.
pub fn resolve(mut settings: OrgSettings, region: &str) -> Result<(Selection, Reach), ResolveError> {
    use crate::config::{accounts::load_accounts_file, daemon::SecretSource};
    let sources = usize::from(settings.organization || !settings.ous.is_empty()) + usize::from(settings.accounts_file.is_some());
    if sources > 1 {
        return Err(ResolveError::TwoSources);
    }
    let listed = settings.accounts_file.as_deref().map(load_accounts_file).transpose().map_err(ResolveError::AccountsFile)?;
    let external_id = settings.external_id.as_ref().map(SecretSource::read).transpose().map_err(ResolveError::ExternalId)?;
    let selection = Selection {
        organization: listed.is_none(),
        ous: std::mem::take(&mut settings.ous),
        listed,
        only: std::mem::take(&mut settings.only),
        exclude: std::mem::take(&mut settings.exclude),
        shard: settings.shard,
        with_tags: false,
    };
    let how = Reach {
        partition: partition(region).to_string(),
        member_role: settings.member_role,
        external_id: external_id.map(|s| s.trim().to_string()),
        max_concurrent: settings.max_accounts,
        session: Default::default(),
    };
    Ok((selection, how))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_keeps_the_chosen_and_says_why_the_rest_are_out() {
        let all = vec![MemberAccount::new("111111111111", "a"), MemberAccount::new("222222222222", "b"), MemberAccount::new("333333333333", "c")];
        let (kept, out) = narrow(all.clone(), &[], &["222222222222".to_string()]);
        assert_eq!(kept.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["111111111111", "333333333333"]);
        assert!(out[0].1.contains("excluded"));
        let (kept, out) = narrow(all, &["333333333333".to_string()], &[]);
        assert_eq!(kept.len(), 1);
        assert_eq!(out.len(), 2);
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("eu-west-1"), "aws");
    }

    #[test]
    fn shards_split_the_accounts_stably_and_evenly() {
        let ids: Vec<String> = (0..1000u64).map(|i| format!("{:012}", 100_000_000_000 + i * 7919)).collect();
        let mut counts = [0usize; 4];
        for id in &ids {
            counts[shard_of(id, 4) as usize] += 1;
        }
        assert!(counts.iter().all(|c| (200..300).contains(c)), "{counts:?}");
        // Pinned: the same on every machine and in every version.
        assert_eq!(shard_of("123456789012", 4), shard_of("123456789012", 4));
        assert_eq!(shard_of("123456789012", 1), 0);
    }
}
