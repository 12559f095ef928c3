//! Reading YAML documents from files or standard input.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::io::Read;

/// One YAML document and where it came from.
pub struct Document {
    /// The file name (`-` for standard input).
    pub source: String,
    /// 1-based position of the document within its source.
    pub index: usize,
    pub value: Value,
}

impl Document {
    /// `file` for a single-document source, `file#2` otherwise.
    pub fn location(&self, docs_in_source: usize) -> String {
        if docs_in_source > 1 {
            format!("{}#{}", self.source, self.index)
        } else {
            self.source.clone()
        }
    }

    /// `Kind namespace/name` as far as the document says.
    pub fn describe(&self) -> String {
        let s = |p: &str| self.value.pointer(p).and_then(Value::as_str);
        format!(
            "{} {}/{}",
            s("/kind").unwrap_or("<no kind>"),
            s("/metadata/namespace").unwrap_or("default"),
            s("/metadata/name").unwrap_or("<no name>")
        )
    }
}

/// Reads every document of every path (`-` or no path at all: standard input). Empty documents
/// are skipped. Errors name the file and, for YAML errors, the line and column.
pub fn read_documents(paths: &[String]) -> Result<Vec<Document>> {
    let stdin = ["-".to_string()];
    let paths = if paths.is_empty() { &stdin[..] } else { paths };
    let mut out = Vec::new();
    for path in paths {
        let text = if path == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read standard input")?;
            s
        } else {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?
        };
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
            .map_err(|e| anyhow::anyhow!("{path}: not valid YAML: {e}"))?;
        let mut index = 0;
        for value in docs.into_iter().filter(|v| !v.is_null()) {
            index += 1;
            if !value.is_object() {
                bail!("{path}: document {index} is not a mapping (a Kubernetes object)");
            }
            out.push(Document {
                source: path.clone(),
                index,
                value,
            });
        }
    }
    Ok(out)
}

/// How many documents each source holds (to decide whether to print `#n`).
pub fn counts(docs: &[Document]) -> std::collections::HashMap<String, usize> {
    let mut m = std::collections::HashMap::new();
    for d in docs {
        *m.entry(d.source.clone()).or_insert(0) += 1;
    }
    m
}
