//! AWS Organizations: the member accounts, all of them or under some OUs
//! (child OUs included), one page of 20 accounts per call, each with the
//! path of its OU.

use super::AwsError;

const SERVICE: &str = "organizations";

/// One account as Organizations lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgAccount {
    pub id: String,
    pub name: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`.
    pub status: String,
    /// Its OU's path from where the listing started, names joined by
    /// ` / ` (`Root / research / ml`); `None` from ListAccounts.
    pub ou: Option<String>,
}

/// Between the names of an OU path.
pub const OU_SEPARATOR: &str = " / ";

#[derive(Clone, Debug)]
pub struct OrganizationsClient {
    client: aws_sdk_organizations::Client,
}

fn account(a: &aws_sdk_organizations::types::Account) -> OrgAccount {
    OrgAccount {
        id: a.id().unwrap_or_default().to_string(),
        name: a.name().unwrap_or_default().to_string(),
        status: a.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
        ou: None,
    }
}

impl OrganizationsClient {
    pub fn new(client: aws_sdk_organizations::Client) -> Self {
        Self { client }
    }

    /// Every account of the organization, without OUs (ListAccounts).
    pub async fn accounts(&self) -> Result<Vec<OrgAccount>, AwsError> {
        let mut pages = self.client.list_accounts().into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(SERVICE, "ListAccounts", &[], e))?;
            found.extend(page.accounts().iter().map(account));
        }
        Ok(found)
    }

    /// The organization's management (payer) account.
    pub async fn management_account(&self) -> Result<String, AwsError> {
        let out = self.client.describe_organization().send().await.map_err(|e| AwsError::from_sdk(SERVICE, "DescribeOrganization", &[], e))?;
        out.organization()
            .and_then(|o| o.master_account_id())
            .map(str::to_string)
            .ok_or_else(|| AwsError::invalid_request(SERVICE, "DescribeOrganization", "the answer names no management account"))
    }

    /// An account's tags (what policies' `accounts: {tags: ...}` match).
    pub async fn account_tags(&self, account_id: &str) -> Result<std::collections::BTreeMap<String, String>, AwsError> {
        let mut pages = self.client.list_tags_for_resource().resource_id(account_id).into_paginator().send();
        let mut tags = std::collections::BTreeMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(SERVICE, "ListTagsForResource", &[], e))?;
            tags.extend(page.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())));
        }
        Ok(tags)
    }

    /// Every account of the organization with its OU path, walking the
    /// tree from the root: ListRoots, then for each OU one
    /// ListAccountsForParent and one ListOrganizationalUnitsForParent
    /// (20 a page). About as many calls as ListAccounts when OUs are few;
    /// two more per OU.
    pub async fn accounts_by_ou(&self) -> Result<Vec<OrgAccount>, AwsError> {
        let mut roots = self.client.list_roots().into_paginator().send();
        let mut start = Vec::new();
        while let Some(page) = roots.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(SERVICE, "ListRoots", &[], e))?;
            start.extend(page.roots().iter().filter_map(|r| Some((r.id()?.to_string(), r.name().unwrap_or("Root").to_string()))));
        }
        self.walk(start).await
    }

    /// The accounts under `ou` and every OU below it (an account has one
    /// parent: each comes once), their paths starting at `ou`'s id.
    pub async fn accounts_under(&self, ou: &str) -> Result<Vec<OrgAccount>, AwsError> {
        self.walk(vec![(ou.to_string(), ou.to_string())]).await
    }

    /// The accounts under each (OU id, its path) and the OUs below them,
    /// a level of the tree at a time, [`OUS_AT_ONCE`] OUs at once.
    async fn walk(&self, start: Vec<(String, String)>) -> Result<Vec<OrgAccount>, AwsError> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let mut found = Vec::new();
        let mut level = start;
        while !level.is_empty() {
            let children: Vec<Level> =
                stream::iter(level.into_iter().map(|(parent, path)| self.one_ou(parent, path))).buffer_unordered(OUS_AT_ONCE).try_collect().await?;
            level = Vec::new();
            for (accounts, ous) in children {
                found.extend(accounts);
                level.extend(ous);
            }
        }
        Ok(found)
    }

    /// The accounts directly under `parent` and its child OUs with their paths.
    async fn one_ou(&self, parent: String, path: String) -> Result<Level, AwsError> {
        let mut accounts = Vec::new();
        let mut pages = self.client.list_accounts_for_parent().parent_id(&parent).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(SERVICE, "ListAccountsForParent", &[], e))?;
            accounts.extend(page.accounts().iter().map(|a| OrgAccount { ou: Some(path.clone()), ..account(a) }));
        }
        let mut ous = Vec::new();
        let mut children = self.client.list_organizational_units_for_parent().parent_id(&parent).into_paginator().send();
        while let Some(page) = children.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(SERVICE, "ListOrganizationalUnitsForParent", &[], e))?;
            ous.extend(page.organizational_units().iter().filter_map(|u| {
                let id = u.id()?.to_string();
                let name = u.name().unwrap_or(&id).to_string();
                Some((id, format!("{path}{OU_SEPARATOR}{name}")))
            }));
        }
        Ok((accounts, ous))
    }
}

/// What one OU holds: its accounts, and its child OUs (id, path).
type Level = (Vec<OrgAccount>, Vec<(String, String)>);

/// OUs listed at once while walking the tree: an organization of 500 OUs
/// is 1,000 calls or more, and Organizations answers each in tens of
/// milliseconds; a few at once, within the pace of each API.
const OUS_AT_ONCE: usize = 4;
