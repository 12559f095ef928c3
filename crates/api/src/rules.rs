//! CEL expressions shared by several fields. The apiserver evaluates them at `kubectl apply`,
//! and `kubectl tenant validate` evaluates the very same strings offline.

/// An RFC 1123 DNS label: lower-case alphanumerics and '-', starting and ending alphanumeric.
pub const DNS_LABEL_RE: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// An RFC 1123 DNS subdomain (host name), optionally with one leading wildcard label.
pub const HOSTNAME_RE: &str =
    r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// Five cron fields (minute hour day-of-month month day-of-week), or one of the `@` macros.
/// The offline validator checks each field's range as well.
pub const CRON_RE: &str = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|([0-9A-Za-z*/,?-]+\s+){4}[0-9A-Za-z*/,?-]+)$";
/// A retention period: one or more `<integer><unit>` with units s, m, h, d, w (e.g. `30d`, `720h`).
pub const DURATION_RE: &str = r"^([0-9]+(s|m|h|d|w))+$";
