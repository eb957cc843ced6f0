//! Which accounts costguard covers: an accounts file, read as c7n-org's
//! `accounts.yml` is written (its other keys, `vars`, `email`, ..., are
//! ignored), and the role assumed in each member account.
//!
//! ```yaml
//! accounts:
//!   - account_id: "123456789012"
//!     name: ml-dev
//!     role: arn:aws:iam::123456789012:role/CostguardMember   # default: --member-role in the account
//!     regions: [us-east-1, eu-west-1]                         # default: the sweep's
//!     tags: ["env:dev", "team:ml"]                            # or a map: {env: dev}
//!     external_id: ...                                        # optional, per account
//!     budgets: {costguard-monthly-500: 200}                   # this account's amounts (USD), by declared budget
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::error::{ConfigError, ConfigErrors};
use crate::yaml::{self, DecodeError, Located};

/// The member role's name when none is given (`--member-role`).
pub const DEFAULT_MEMBER_ROLE: &str = "CostguardMember";

#[derive(Clone, Debug, Deserialize)]
struct AccountsFileSpec {
    accounts: Vec<Located<AccountSpec>>,
}

#[derive(Clone, Debug, Deserialize)]
struct AccountSpec {
    account_id: Located<IdSpec>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    role: Option<Located<String>>,
    #[serde(default)]
    regions: Vec<String>,
    #[serde(default)]
    tags: Option<TagsSpec>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    budgets: BTreeMap<String, Located<f64>>,
    /// Where the report groups it (c7n-org's files have none).
    #[serde(default)]
    ou: Option<String>,
}

/// An account id as YAML may hold it: quoted, or a bare number.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum IdSpec {
    Text(String),
    Number(u64),
    /// What some YAML readers make of digits with a leading zero.
    Float(f64),
}

/// c7n-org writes tags as `key:value` strings; a map is taken too.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum TagsSpec {
    List(Vec<String>),
    Map(BTreeMap<String, String>),
}

/// One account to cover.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberAccount {
    pub id: String,
    pub name: String,
    /// The role to assume; `None`: the member role by name, in the account.
    pub role_arn: Option<String>,
    /// Empty: the sweep's regions.
    pub regions: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub external_id: Option<String>,
    /// This account's amounts (USD) of declared budgets, by name.
    pub budget_amounts: BTreeMap<String, f64>,
    /// Its OU's path in the organization (`Root / research / ml`), when
    /// Organizations listed it; an accounts file's `ou`.
    pub ou: Option<String>,
}

impl MemberAccount {
    pub fn new(id: &str, name: &str) -> Self {
        MemberAccount {
            id: id.to_string(),
            name: name.to_string(),
            role_arn: None,
            regions: Vec::new(),
            tags: BTreeMap::new(),
            external_id: None,
            budget_amounts: BTreeMap::new(),
            ou: None,
        }
    }

    /// The role costguard assumes there: the file's, or `member_role` in the account.
    pub fn role(&self, partition: &str, member_role: &str) -> String {
        self.role_arn.clone().unwrap_or_else(|| format!("arn:{partition}:iam::{}:role/{member_role}", self.id))
    }
}

/// Which accounts of an organization a sweep covers and how it reaches
/// them: the CLI's account options, or the daemon config's `organization:`.
#[derive(Clone, Debug, PartialEq)]
pub struct OrgSettings {
    /// Every active account of the organization (or of `ous`).
    pub organization: bool,
    pub ous: Vec<String>,
    /// An accounts file instead of Organizations.
    pub accounts_file: Option<std::path::PathBuf>,
    /// Only these account ids (empty: all).
    pub only: Vec<String>,
    pub exclude: Vec<String>,
    /// Shard `k` of `n`.
    pub shard: Option<(u32, u32)>,
    pub member_role: String,
    pub external_id: Option<super::secret::SecretSource>,
    /// Accounts swept at once.
    pub max_accounts: usize,
}

/// Accounts swept at once unless told (`--max-accounts`, `max-accounts:`).
pub const DEFAULT_MAX_ACCOUNTS: usize = 16;
/// The most accounts swept at once.
pub const MAX_ACCOUNTS: usize = 256;

/// Whether `id` is an account id as AWS writes one: 12 ASCII digits
/// (what may name a folder under the state and report folders).
pub fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// Twelve digits, as AWS writes an account id (a YAML number loses
/// leading zeros: they are put back).
pub(crate) fn account_id(spec: &Located<IdSpec>, path: &str, errors: &mut Vec<DecodeError>) -> Option<String> {
    let id = match &spec.value {
        IdSpec::Text(t) => t.trim().to_string(),
        IdSpec::Number(n) => format!("{n:012}"),
        IdSpec::Float(f) if f.fract() == 0.0 && (0.0..1e12).contains(f) => format!("{:012}", *f as u64),
        IdSpec::Float(f) => f.to_string(),
    };
    if is_account_id(&id) {
        Some(id)
    } else {
        errors.push(DecodeError::new(spec.loc, path, format!("an account id is 12 digits, found {id:?}")));
        None
    }
}

/// The accounts of an accounts file, every problem with its place.
pub fn compile_accounts_text(file: &Path, text: &str) -> Result<Vec<MemberAccount>, ConfigErrors> {
    let to_errors = |errors: Vec<DecodeError>| ConfigErrors::sorted(errors.into_iter().map(|e| ConfigError::from_decode(file, e)).collect());
    let root = yaml::parse(text).map_err(|e| to_errors(vec![e]))?;
    let spec: AccountsFileSpec = yaml::decode(&root, "").map_err(|e| to_errors(vec![e]))?;
    let mut errors = Vec::new();
    let mut accounts: Vec<MemberAccount> = Vec::new();
    for (i, a) in spec.accounts.iter().enumerate() {
        let path = format!("accounts[{i}]");
        let Some(id) = account_id(&a.value.account_id, &format!("{path}.account_id"), &mut errors) else { continue };
        if accounts.iter().any(|seen| seen.id == id) {
            errors.push(DecodeError::new(a.value.account_id.loc, format!("{path}.account_id"), format!("account {id} is listed twice")));
            continue;
        }
        if let Some(role) = a.value.role.as_ref().filter(|r| !(r.value.starts_with("arn:") && r.value.contains(":iam::") && r.value.contains(":role/"))) {
            errors.push(DecodeError::new(
                role.loc,
                format!("{path}.role"),
                format!("expected a role ARN (arn:aws:iam::ACCOUNT:role/NAME), found {:?}", role.value),
            ));
        }
        let tags = match &a.value.tags {
            None => BTreeMap::new(),
            Some(TagsSpec::Map(map)) => map.clone(),
            Some(TagsSpec::List(list)) => list
                .iter()
                .map(|t| match t.split_once(':') {
                    Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
                    None => (t.trim().to_string(), String::new()),
                })
                .collect(),
        };
        for (name, amount) in a.value.budgets.iter().filter(|(_, a)| !(a.value.is_finite() && a.value > 0.0)) {
            errors.push(DecodeError::new(amount.loc, format!("{path}.budgets.{name}"), format!("an amount is in USD and more than 0, found {amount}")));
        }
        accounts.push(MemberAccount {
            name: a.value.name.clone().unwrap_or_else(|| id.clone()),
            id,
            role_arn: a.value.role.as_ref().map(|r| r.value.clone()),
            regions: a.value.regions.clone(),
            tags,
            external_id: a.value.external_id.clone(),
            budget_amounts: a.value.budgets.iter().map(|(k, v)| (k.clone(), v.value)).collect(),
            ou: a.value.ou.clone(),
        });
    }
    if errors.is_empty() {
        Ok(accounts)
    } else {
        Err(to_errors(errors))
    }
}

pub fn load_accounts_file(file: &Path) -> Result<Vec<MemberAccount>, ConfigErrors> {
    let text = crate::files::read_text_bounded(file, super::MAX_FILE_BYTES)
        .map_err(|e| ConfigErrors(vec![ConfigError::whole_file(file, format!("cannot read: {e}"))]))?;
    compile_accounts_text(file, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_c7n_org_accounts_file_is_read_as_it_is() {
        let text = "accounts:\n- account_id: '210987654321'\n  name: ml-dev\n  regions: [us-east-1]\n  role: arn:aws:iam::210987654321:role/CloudCustodian\n  tags:\n  - type:dev\n  - division:research\n  vars:\n    charge_code: xyz\n  budgets: {costguard-monthly-500: 200}\n- account_id: 012345678901\n  email: prod@example.com\n";
        let accounts = compile_accounts_text(Path::new("accounts.yml"), text).expect("valid");
        assert_eq!(accounts[0].id, "210987654321");
        assert_eq!(accounts[0].tags["type"], "dev");
        assert_eq!(accounts[0].budget_amounts["costguard-monthly-500"], 200.0);
        assert_eq!(accounts[0].role("aws", DEFAULT_MEMBER_ROLE), "arn:aws:iam::210987654321:role/CloudCustodian");
        // A bare YAML number: the leading zero is put back.
        assert_eq!(accounts[1].id, "012345678901");
        assert_eq!(accounts[1].name, "012345678901");
        assert_eq!(accounts[1].role("aws", DEFAULT_MEMBER_ROLE), "arn:aws:iam::012345678901:role/CostguardMember");
    }

    #[test]
    fn bad_ids_roles_and_duplicates_are_errors_at_their_place() {
        let text = "accounts:\n  - account_id: '12345'\n  - account_id: '111111111111'\n    role: admin\n  - account_id: '111111111111'\n";
        let errors: Vec<String> = compile_accounts_text(Path::new("a.yml"), text).expect_err("invalid").0.iter().map(ToString::to_string).collect();
        assert!(errors.iter().any(|e| e.starts_with("a.yml:2:") && e.contains("12 digits")), "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("accounts[1].role") && e.contains("role ARN")), "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("accounts[2].account_id") && e.contains("listed twice")), "{errors:?}");
    }
}
