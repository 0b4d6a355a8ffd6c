//! Scopes of role assignments: the cluster (`/`), one vault
//! (`vaults/<vault>`), or one object in a vault
//! (`vaults/<vault>/secrets/<name>`, also `keys/` and `certificates/`). An
//! assignment at a scope applies to everything under it.

use std::fmt;

/// Kinds of objects a scope can name.
pub const OBJECT_KINDS: &[&str] = &["secrets", "keys", "certificates"];

/// A normalized scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole cluster.
    Cluster,
    /// One vault and everything in it.
    Vault(String),
    /// One object: vault, kind (`secrets`…), name.
    Object(String, String, String),
}

impl Scope {
    /// Parses `/`, `cluster`, `vaults/<v>` or `vaults/<v>/<kind>/<name>`
    /// (a leading `/` is allowed).
    pub fn parse(text: &str) -> Result<Scope, String> {
        let t = text.trim().trim_start_matches('/');
        if t.is_empty() || t == "cluster" {
            return Ok(Scope::Cluster);
        }
        let parts: Vec<&str> = t.split('/').collect();
        let name_ok = |n: &str| crate::names::is_valid(n);
        match parts.as_slice() {
            ["vaults", v] if name_ok(v) => Ok(Scope::Vault((*v).to_owned())),
            ["vaults", v, kind, n] if name_ok(v) && OBJECT_KINDS.contains(kind) && name_ok(n) => {
                Ok(Scope::Object((*v).to_owned(), (*kind).to_owned(), (*n).to_owned()))
            }
            _ => Err(format!("invalid scope {text:?}: use /, vaults/<vault> or vaults/<vault>/secrets/<name>")),
        }
    }

    /// A vault's scope.
    pub fn vault(vault: &str) -> Scope {
        Scope::Vault(vault.to_owned())
    }

    /// A secret's scope.
    pub fn secret(vault: &str, name: &str) -> Scope {
        Scope::Object(vault.to_owned(), "secrets".into(), name.to_owned())
    }

    /// Whether an assignment at `self` applies to a request at `inner`.
    pub fn contains(&self, inner: &Scope) -> bool {
        match (self, inner) {
            (Scope::Cluster, _) => true,
            (Scope::Vault(v), Scope::Vault(w)) | (Scope::Vault(v), Scope::Object(w, _, _)) => v == w,
            (Scope::Object(..), Scope::Object(..)) => self == inner,
            _ => false,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Cluster => f.write_str("/"),
            Scope::Vault(v) => write!(f, "vaults/{v}"),
            Scope::Object(v, kind, n) => write!(f, "vaults/{v}/{kind}/{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_print_and_nest() {
        for text in ["/", "vaults/payments", "vaults/payments/secrets/db-password"] {
            assert_eq!(Scope::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Scope::parse("/vaults/p").unwrap(), Scope::vault("p"));
        assert_eq!(Scope::parse("cluster").unwrap(), Scope::Cluster);
        for bad in ["vaults", "vaults/a b", "vaults/p/blobs/x", "vaults/p/secrets", "other/p"] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
        let (c, v, s) = (Scope::Cluster, Scope::vault("p"), Scope::secret("p", "db"));
        assert!(c.contains(&v) && c.contains(&s) && v.contains(&s) && s.contains(&s));
        assert!(!s.contains(&v) && !v.contains(&c) && !s.contains(&Scope::secret("p", "other")));
        assert!(!v.contains(&Scope::vault("q")) && !v.contains(&Scope::secret("q", "db")));
    }
}
