//! What the rest of the operator knows about one provider: each provider module exports one
//! [`Descriptor`] (its `DESCRIPTOR`), and the central code (the client registry, the
//! ProviderConfig's identity and its one-block CEL rule, the CLI) iterates [`super::PROVIDERS`]
//! instead of naming providers.

use std::collections::BTreeMap;

use super::{DynProvider, ProviderError, ProviderKind, http::ClientSettings};
use crate::{core::desired::SecretValue, crd::ProviderAccount};

/// One provider, as the central code uses it.
pub struct Descriptor {
    pub kind: ProviderKind,
    /// The keys its credentials Secret must hold, in the order they are read (and reported when
    /// missing).
    pub credential_keys: &'static [&'static str],
    /// `Some(account id)` when the ProviderConfig sets this provider's block: the id that tells
    /// this provider's accounts apart in [`ProviderAccount::identity`], normalised as the provider
    /// compares it (empty where the spec names no account).
    pub account_id: fn(&ProviderAccount) -> Option<String>,
    /// Whether the block needs an account id (`ssoperator export --account`).
    pub needs_account_id: bool,
    /// Sets this provider's block in a ProviderConfig, with `account_id` (`ssoperator export`).
    pub set_block: fn(&mut ProviderAccount, account_id: String),
    /// The real service's base URL for the account (used unless the ProviderConfig sets
    /// `endpoint`).
    pub default_base_url: fn(&ProviderAccount) -> String,
    /// The client of the account, from its ProviderConfig block and its credentials; call it
    /// through [`Descriptor::client`], which sets `settings.base_url`.
    pub build: fn(
        &ProviderAccount,
        &CredentialValues,
        ClientSettings,
    ) -> Result<DynProvider, ProviderError>,
    /// The emulator and clients the conformance suite drives (tests only).
    #[cfg(any(test, feature = "testkit"))]
    pub conformance:
        fn() -> futures::future::BoxFuture<'static, Box<dyn super::conformance::Target>>,
}

impl Descriptor {
    /// The name of its ProviderConfig block, metrics label and status value.
    pub fn name(&self) -> &'static str {
        self.kind.as_str()
    }

    /// The client of the account: `build` with the base URL of the account's `endpoint` or, unset,
    /// the real service.
    pub fn client(
        &self,
        account: &ProviderAccount,
        values: &CredentialValues,
        mut settings: ClientSettings,
    ) -> Result<DynProvider, ProviderError> {
        settings.base_url = account
            .endpoint
            .clone()
            .unwrap_or_else(|| (self.default_base_url)(account));
        (self.build)(account, values, settings)
    }

    /// Whether the ProviderConfig sets this provider's block.
    pub fn selected(&self, account: &ProviderAccount) -> bool {
        (self.account_id)(account).is_some()
    }
}

/// The values of a credentials Secret's keys (those of [`Descriptor::credential_keys`]).
#[derive(Clone, Debug, Default)]
pub struct CredentialValues(BTreeMap<&'static str, SecretValue>);

impl CredentialValues {
    pub fn insert(&mut self, key: &'static str, value: SecretValue) {
        self.0.insert(key, value);
    }

    /// The value of `key`; the reader of the Secret made sure that every key is there.
    pub fn get(&self, key: &str) -> Result<SecretValue, ProviderError> {
        self.0
            .get(key)
            .cloned()
            .ok_or_else(|| ProviderError::Invalid {
                message: format!("the credentials have no key {key:?}"),
                field: Some(key.to_string()),
            })
    }
}

/// The provider whose block the ProviderConfig sets (the first in table order, if several are).
pub fn selected(account: &ProviderAccount) -> Option<&'static Descriptor> {
    super::PROVIDERS.into_iter().find(|d| d.selected(account))
}

/// The provider named `name` ([`ProviderKind::as_str`]).
pub fn by_name(name: &str) -> Option<&'static Descriptor> {
    super::PROVIDERS.into_iter().find(|d| d.name() == name)
}

/// The CEL rule of a ProviderConfig: exactly one provider block is set.
pub fn one_block_rule() -> String {
    let terms: Vec<String> = super::PROVIDERS
        .iter()
        .map(|d| format!("(has(self.{}) ? 1 : 0)", d.name()))
        .collect();
    format!("{} == 1", terms.join(" + "))
}

/// The message of [`one_block_rule`].
pub fn one_block_message() -> String {
    let names: Vec<&str> = super::PROVIDERS.iter().map(|d| d.name()).collect();
    format!(
        "exactly one provider block ({}) must be set",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use std::{
        collections::BTreeSet,
        path::{Path, PathBuf},
    };

    use super::*;
    use crate::provider::PROVIDERS;

    #[test]
    fn the_table_follows_the_enum_and_the_module_folders() {
        assert_eq!(PROVIDERS.map(|d| d.kind), ProviderKind::ALL);
        for kind in ProviderKind::ALL {
            assert_eq!(kind.descriptor().kind, kind);
            assert_eq!(by_name(kind.as_str()).map(|d| d.kind), Some(kind));
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/provider");
        let folders: BTreeSet<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir() && p.join("client.rs").exists())
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let names: BTreeSet<String> = PROVIDERS.iter().map(|d| d.name().to_string()).collect();
        assert_eq!(folders, names, "every provider folder is in the table");
    }

    /// One term per provider of the table (the committed CRDs, checked by `crd::tests`, hold
    /// the text this derives).
    #[test]
    fn the_one_block_rule_is_the_sum_over_the_table() {
        let rule = one_block_rule();
        let terms: Vec<&str> = rule.trim_end_matches(" == 1").split(" + ").collect();
        let expected: Vec<String> = PROVIDERS
            .iter()
            .map(|d| format!("(has(self.{}) ? 1 : 0)", d.name()))
            .collect();
        assert_eq!(terms, expected);
        assert!(rule.ends_with(" == 1"));
        assert!(
            PROVIDERS
                .iter()
                .all(|d| one_block_message().contains(d.name()))
        );
    }

    #[test]
    fn every_block_selects_its_provider_and_names_its_account() {
        for d in PROVIDERS {
            let mut a = ProviderAccount::default();
            assert!(selected(&a).is_none());
            (d.set_block)(&mut a, "ID-1".into());
            assert_eq!(selected(&a).map(|s| s.kind), Some(d.kind));
            let id = (d.account_id)(&a).unwrap();
            assert_eq!(id.is_empty(), !d.needs_account_id, "{}", d.name());
            assert!(a.identity().starts_with(&format!("{}||", d.name())));
        }
    }

    /// A missing key is reported by name, before any client is built.
    #[test]
    fn build_reads_the_credential_keys_of_the_table() {
        for d in PROVIDERS {
            let mut a = ProviderAccount::default();
            (d.set_block)(&mut a, "3f8d2c4e-9b1a-4c7e-8f2d-5a6b7c8d9e0f".into());
            let settings = ClientSettings::new(String::new());
            let Err(err) = d.client(&a, &CredentialValues::default(), settings) else {
                panic!("{}: built without credentials", d.name());
            };
            assert!(
                err.to_string().contains(d.credential_keys[0]),
                "{}: {err}",
                d.name()
            );
        }
    }

    /// Rust source with comments, string and character literals blanked out, and everything from
    /// the first `#[cfg(test)]` on left out (tests use one provider or another as sample data).
    fn code(text: &str) -> String {
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        let b = text.as_bytes();
        let mut out = String::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let rest = &text[i..];
            if rest.starts_with("//") {
                i += rest.find('\n').unwrap_or(rest.len());
            } else if rest.starts_with("/*") {
                i += rest.find("*/").map_or(rest.len(), |e| e + 2);
            } else if let Some(hashes) = rest
                .strip_prefix('r')
                .map(|r| r.len() - r.trim_start_matches('#').len())
                .filter(|h| rest[1 + h..].starts_with('"'))
            {
                let close = format!("\"{}", "#".repeat(hashes));
                let body = &rest[2 + hashes..];
                i += 2 + hashes + body.find(&close).map_or(body.len(), |e| e + close.len());
                out.push_str("\"\"");
            } else if rest.starts_with('"') {
                let mut j = 1;
                while j < rest.len() && b[i + j] != b'"' {
                    j += if b[i + j] == b'\\' { 2 } else { 1 };
                }
                i += j + 1;
                out.push_str("\"\"");
            } else if let Some(escaped) = rest.strip_prefix("'\\") {
                i += 2 + escaped.find('\'').map_or(0, |e| e + 1);
            } else if rest.len() >= 3 && rest[1..].chars().nth(1) == Some('\'') {
                i += 1 + rest[1..].chars().next().map_or(0, char::len_utf8) + 1;
            } else {
                let c = rest.chars().next().unwrap_or(' ');
                out.push(c);
                i += c.len_utf8();
            }
        }
        out
    }

    fn is_ident(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '_'
    }

    /// Whether `code` names `word` as a whole identifier, `before` it (`Some(".")`, `None` for any).
    fn names(code: &str, word: &str, before: &str, not_after: Option<&str>) -> bool {
        let needle = format!("{before}{word}");
        code.match_indices(&needle).any(|(at, _)| {
            let end = at + needle.len();
            let whole = !code[end..].starts_with(is_ident)
                && (!before.is_empty() || !code[..at].ends_with(is_ident));
            whole && not_after.is_none_or(|p| !code[..at].ends_with(p))
        })
    }

    /// Whether the source names `d`'s provider: its `ProviderKind` variant, its types
    /// (`<Variant>Provider`, the CRD block `<Variant>Account`), its module as a path (`clerk::`),
    /// or its ProviderConfig block (`.clerk`). `spec.<name>` is not a block: it is a managed
    /// resource's provider-specific field (OrgRoleMapping's `spec.atlas`).
    fn names_provider(code: &str, d: &Descriptor) -> bool {
        let variant = format!("{:?}", d.kind);
        names(code, &format!("ProviderKind::{variant}"), "", None)
            || names(code, &format!("{variant}Provider"), "", None)
            || names(code, &format!("{variant}Account"), "", None)
            || names(code, &format!("{}::", d.name()), "", None)
            || names(code, d.name(), ".", Some("spec"))
    }

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// The places that name a provider, so that adding one touches a known set and the set cannot
    /// grow unnoticed. Every file under `src/` counts that names a provider (see
    /// [`names_provider`]) outside the provider's own folder `src/provider/<name>/`; comments,
    /// string literals and test code (`#[cfg(test)]` on, and `tests.rs` files) do not count. What
    /// remains is the CRD's blocks (`ProviderAccount` and its block types) and OrgRoleMapping's
    /// Atlas-only settings, which two other providers refuse by name. The table itself
    /// (`providers!` in `src/provider/mod.rs`) lists variants and modules, so it names no provider
    /// by these rules; the test above checks it against the folders.
    #[test]
    fn only_the_table_and_the_crd_blocks_name_a_provider() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![];
        sources(&root.join("src"), &mut files);
        let mut found = BTreeSet::new();
        for f in files {
            let rel = f
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel.ends_with("/tests.rs") {
                continue;
            }
            let code = code(&std::fs::read_to_string(&f).unwrap());
            for d in PROVIDERS {
                let own = rel.starts_with(&format!("src/provider/{}/", d.name()));
                if !own && names_provider(&code, d) {
                    found.insert(format!("{rel}: {}", d.name()));
                }
            }
        }
        let mut expected: BTreeSet<String> = PROVIDERS
            .iter()
            .map(|d| format!("src/crd/provider_config.rs: {}", d.name()))
            .collect();
        // OrgRoleMapping's Atlas-only settings (`spec.atlas`, `RoleMappingDesired::atlas`), which
        // the other providers of role mappings refuse by name.
        expected.insert("src/provider/loginradius/mapping.rs: atlas".into());
        expected.insert("src/provider/qovery/mapping.rs: atlas".into());
        assert_eq!(found, expected);
    }
}
