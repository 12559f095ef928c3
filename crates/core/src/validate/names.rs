//! Kubernetes name, label and annotation rules (apimachinery's `validation` package), written out
//! so the validator can say which rule a value breaks.

/// Longest DNS label (RFC 1123): namespaces, Services, most object names inside a namespace.
pub const DNS_LABEL_MAX: usize = 63;
/// Longest DNS subdomain (RFC 1123): object names, label-key prefixes.
pub const DNS_SUBDOMAIN_MAX: usize = 253;
/// Longest label value and name part of a qualified name.
pub const QUALIFIED_NAME_MAX: usize = 63;
/// Total size of an object's annotations (keys plus values).
pub const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

fn lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?` of any length.
fn label_shape(s: &str) -> bool {
    let first = s.chars().next();
    let last = s.chars().last();
    matches!((first, last), (Some(f), Some(l)) if lower_alnum(f) && lower_alnum(l))
        && s.chars().all(|c| lower_alnum(c) || c == '-')
}

/// Why `s` is not an RFC 1123 DNS label, if it is not one.
pub fn dns_label_error(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("must not be empty".into());
    }
    if s.len() > DNS_LABEL_MAX {
        return Some(format!(
            "must be at most {DNS_LABEL_MAX} characters (is {})",
            s.len()
        ));
    }
    if !label_shape(s) {
        return Some(
            "must be a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit"
                .into(),
        );
    }
    None
}

/// Why `s` is not an RFC 1035 label (what a Service name must be), if it is not one.
pub fn dns1035_label_error(s: &str) -> Option<String> {
    if let Some(e) = dns_label_error(s) {
        return Some(e);
    }
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Some(
            "must start with a lower-case letter (a Service name is an RFC 1035 label)".into(),
        );
    }
    None
}

/// Why `s` is not an RFC 1123 DNS subdomain, if it is not one.
pub fn dns_subdomain_error(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("must not be empty".into());
    }
    if s.len() > DNS_SUBDOMAIN_MAX {
        return Some(format!(
            "must be at most {DNS_SUBDOMAIN_MAX} characters (is {})",
            s.len()
        ));
    }
    if !s.split('.').all(label_shape) {
        return Some(
            "must be a DNS subdomain: lower-case letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit"
                .into(),
        );
    }
    None
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 characters (label values may be empty).
fn qualified_name_part_error(s: &str, what: &str) -> Option<String> {
    if s.len() > QUALIFIED_NAME_MAX {
        return Some(format!(
            "{what} must be at most {QUALIFIED_NAME_MAX} characters (is {})",
            s.len()
        ));
    }
    let first = s.chars().next();
    let last = s.chars().last();
    let shape = matches!((first, last), (Some(f), Some(l)) if alnum(f) && alnum(l))
        && s.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'));
    if !shape {
        return Some(format!(
            "{what} must consist of letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
        ));
    }
    None
}

/// Why `key` is not a qualified name (`[prefix/]name`, the shape of label and annotation keys).
pub fn qualified_name_error(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if name.contains('/') {
            return Some("may contain at most one '/'".into());
        }
        if let Some(e) = dns_subdomain_error(p) {
            return Some(format!("prefix {p:?} {e}"));
        }
    }
    if name.is_empty() {
        return Some("name part must not be empty".into());
    }
    qualified_name_part_error(name, "name part")
}

/// Why `value` is not a valid label value (empty is allowed).
pub fn label_value_error(value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    qualified_name_part_error(value, "a label value")
}

/// Why `s` is not an environment variable name: Kubernetes (1.32+, RelaxedEnvironmentVariableValidation)
/// accepts printable ASCII except '=' and requires a non-empty name.
pub fn env_var_name_error(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("must not be empty".into());
    }
    if !s.chars().all(|c| (' '..='~').contains(&c) && c != '=') {
        return Some("must consist of printable ASCII characters other than '='".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        assert!(dns_label_error("tenant-acme-prod").is_none());
        assert!(dns_label_error("-a").is_some());
        assert!(dns_label_error(&"a".repeat(64)).is_some());
        assert!(dns_subdomain_error("a.b-c.d").is_none());
        assert!(dns_subdomain_error("a..b").is_some());
        assert!(dns1035_label_error("1api").is_some());
        assert!(dns1035_label_error("api1").is_none());
    }

    #[test]
    fn qualified_names() {
        assert!(qualified_name_error("team").is_none());
        assert!(qualified_name_error("example.com/Team_1.x").is_none());
        assert!(qualified_name_error("Example.com/team").is_some());
        assert!(qualified_name_error("a/b/c").is_some());
        assert!(qualified_name_error("a/").is_some());
        assert!(qualified_name_error("_x").is_some());
        assert!(label_value_error("").is_none());
        assert!(label_value_error("v1.2_3-x").is_none());
        assert!(label_value_error("has space").is_some());
        assert!(label_value_error(&"v".repeat(64)).is_some());
    }

    #[test]
    fn env_names() {
        assert!(env_var_name_error("LOG_LEVEL").is_none());
        assert!(env_var_name_error("my.var-1").is_none());
        assert!(env_var_name_error("A=B").is_some());
        assert!(env_var_name_error("").is_some());
    }
}
