//! The parts of `kubectl-tenant` that talk to a cluster, as a library so the operator's
//! integration tests run exactly what the plugin runs.

pub mod audit_policy;
pub mod backups;
pub mod complete;
pub mod cost;
pub mod migrate;

/// Rows as left-aligned columns three spaces apart, the first row the header (as kubectl prints).
pub fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}
