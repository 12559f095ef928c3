//! `kubectl tenant <TAB>`: kubectl (1.26 and later) completes a plugin's arguments by running
//! `kubectl_complete-<plugin> ARGS... PARTIAL` and reading one candidate per line (a tab, then a
//! description, may follow), then a last line `:<directive>`, the protocol of kubectl's own
//! completion. `kubectl_complete-tenant` runs `kubectl-tenant __complete "$@"`, answered here from
//! the command's own definition.

use clap::Command;

/// No file names after the candidates.
const NO_FILE_COMPLETION: u8 = 4;
/// The shell's own completion (file names).
const DEFAULT: u8 = 0;

fn describe(name: &str, help: Option<String>) -> String {
    match help {
        Some(h) if !h.is_empty() => {
            // the first sentence: shells show one line per candidate
            let line = h.lines().next().unwrap_or_default();
            let first = line
                .split(". ")
                .next()
                .unwrap_or(line)
                .trim_end_matches('.');
            format!("{name}\t{first}\n")
        }
        _ => format!("{name}\n"),
    }
}

fn find_flag<'a>(cmd: &'a Command, word: &str) -> Option<&'a clap::Arg> {
    cmd.get_arguments().find(|a| {
        word.strip_prefix("--")
            .is_some_and(|l| a.get_long() == Some(l))
            || (word.len() == 2 && word.starts_with('-') && a.get_short() == word.chars().nth(1))
    })
}

fn takes_value(a: &clap::Arg) -> bool {
    a.get_action().takes_values()
}

/// The values of flag `a` starting with `partial` (each prefixed with `prefix`), and the
/// directive: a fixed set, else file names for paths, else nothing.
fn values(a: &clap::Arg, partial: &str, prefix: &str) -> String {
    let possible = a.get_possible_values();
    if possible.is_empty() {
        let path = matches!(
            a.get_value_hint(),
            clap::ValueHint::FilePath | clap::ValueHint::DirPath | clap::ValueHint::AnyPath
        );
        return format!(":{}\n", if path { DEFAULT } else { NO_FILE_COMPLETION });
    }
    let mut out = String::new();
    for v in possible.iter().filter(|v| !v.is_hide_set()) {
        if v.get_name().starts_with(partial) {
            out.push_str(&describe(
                &format!("{prefix}{}", v.get_name()),
                v.get_help().map(|h| h.to_string()),
            ));
        }
    }
    out.push_str(&format!(":{NO_FILE_COMPLETION}\n"));
    out
}

/// The completion of `words` (the arguments after `kubectl tenant`, the last one the word being
/// completed, possibly empty), in kubectl's plugin completion format.
pub fn candidates(root: &Command, words: &[String]) -> String {
    let (partial, before) = match words.split_last() {
        Some((last, rest)) => (last.as_str(), rest),
        None => ("", &[][..]),
    };
    let mut cmd = root;
    // The global flags (--kubeconfig, --context) are the root's.
    let globals: Vec<&clap::Arg> = root.get_arguments().filter(|a| a.is_global_set()).collect();
    let mut pending_value: Option<&clap::Arg> = None;
    for w in before {
        if pending_value.take().is_some() {
            continue;
        }
        if w.starts_with('-') {
            if !w.contains('=')
                && let Some(a) = find_flag(cmd, w).or_else(|| find_flag(root, w))
                && takes_value(a)
            {
                pending_value = Some(a);
            }
            continue;
        }
        if let Some(sub) = cmd
            .get_subcommands()
            .find(|s| s.get_name() == w || s.get_all_aliases().any(|a| a == w))
        {
            cmd = sub;
        }
    }
    if let Some(a) = pending_value {
        return values(a, partial, "");
    }
    if let Some((flag, value)) = partial.split_once('=')
        && flag.starts_with("--")
        && let Some(a) = find_flag(cmd, flag).or_else(|| find_flag(root, flag))
    {
        return values(a, value, &format!("{flag}="));
    }
    let mut out = String::new();
    if partial.starts_with('-') {
        let mut seen = std::collections::BTreeSet::new();
        for a in cmd.get_arguments().chain(globals.iter().copied()) {
            if a.is_hide_set() {
                continue;
            }
            if let Some(l) = a.get_long() {
                let flag = format!("--{l}");
                if flag.starts_with(partial) && seen.insert(flag.clone()) {
                    out.push_str(&describe(&flag, a.get_help().map(|h| h.to_string())));
                }
            }
        }
        out.push_str(&format!(":{NO_FILE_COMPLETION}\n"));
        return out;
    }
    let subs: Vec<&Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .collect();
    if !subs.is_empty() {
        for s in subs.iter().filter(|s| s.get_name().starts_with(partial)) {
            out.push_str(&describe(
                s.get_name(),
                s.get_about().map(|h| h.to_string()),
            ));
        }
        out.push_str(&format!(":{NO_FILE_COMPLETION}\n"));
        return out;
    }
    // A positional argument: file names where the command reads files.
    let files = cmd
        .get_positionals()
        .any(|p| matches!(p.get_id().as_str(), "files" | "args"));
    format!(":{}\n", if files { DEFAULT } else { NO_FILE_COMPLETION })
}
