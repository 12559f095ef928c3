//! Five-field cron expressions as Velero's scheduler (robfig/cron v3, standard parser) reads them,
//! so a schedule that passes here is one Velero accepts.
//!
//! Fields: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 0-6 or
//! SUN-SAT (names in any case). Each field is a comma-separated list of `*`, `n`, `a-b`, each
//! optionally followed by `/step`; `n/step` means `n-max/step`; `?` means `*` in day-of-month and
//! day-of-week. Or one of the macros `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`,
//! `@midnight`, `@hourly`. Day-of-week 7 (Sunday in Vixie cron) is refused: robfig/cron accepts
//! 0-6 only, and Velero would mark the Schedule FailedValidation.

/// The `@` macros the CRD's CEL rule admits (robfig/cron's `@every <duration>` is not among them).
pub const MACROS: [&str; 7] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    question_mark: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        question_mark: false,
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        question_mark: false,
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        question_mark: true,
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTHS,
        question_mark: false,
    },
    Field {
        name: "day-of-week",
        min: 0,
        max: 6,
        names: &DAYS,
        question_mark: true,
    },
];

impl Field {
    fn value(&self, s: &str) -> Result<u32, String> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = self.names.iter().position(|n| *n == lower) {
            // months are 1-based, days 0-based
            return Ok(i as u32 + self.min);
        }
        let v: u32 = s.parse().map_err(|_| {
            let names = if self.names.is_empty() {
                String::new()
            } else {
                format!(" or a name such as {}", self.names[0].to_ascii_uppercase())
            };
            format!("{s:?} is not a number{names}")
        })?;
        if v < self.min {
            return Err(format!("{v} is below the minimum {}", self.min));
        }
        if v > self.max {
            let hint = if self.name == "day-of-week" && v == 7 {
                " (use 0 for Sunday: Velero's cron parser accepts 0-6)"
            } else {
                ""
            };
            return Err(format!("{v} is above the maximum {}{hint}", self.max));
        }
        Ok(v)
    }

    /// The set of values the field selects, as a bit set, plus whether it was `*`/`?`.
    fn parse(&self, text: &str) -> Result<(u64, bool), String> {
        let mut bits = 0u64;
        let mut star = false;
        for part in text.split(',') {
            if part.is_empty() {
                return Err("has an empty list element".into());
            }
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => {
                    if s.contains('/') {
                        return Err(format!("{part:?} has more than one '/'"));
                    }
                    let step: u32 = s
                        .parse()
                        .map_err(|_| format!("step {s:?} is not a number"))?;
                    if step == 0 {
                        return Err(format!("{part:?}: the step must be positive"));
                    }
                    (r, Some(step))
                }
                None => (part, None),
            };
            let (lo, hi) = if range == "*" || range == "?" {
                if range == "?" && !self.question_mark {
                    return Err("'?' is allowed only in day-of-month and day-of-week".into());
                }
                star = star || step.is_none();
                (self.min, self.max)
            } else {
                let mut ends = range.split('-');
                let lo_text = ends.next().unwrap_or_default();
                let lo = self.value(lo_text)?;
                let hi = match (ends.next(), ends.next()) {
                    (None, _) => {
                        if step.is_some() {
                            self.max
                        } else {
                            lo
                        }
                    }
                    (Some(h), None) => self.value(h)?,
                    (Some(_), Some(_)) => return Err(format!("{range:?} has more than one '-'")),
                };
                if lo > hi {
                    return Err(format!("range {range:?} starts after it ends"));
                }
                (lo, hi)
            };
            let step = step.unwrap_or(1);
            let mut v = lo;
            while v <= hi {
                bits |= 1 << v;
                v += step;
            }
        }
        Ok((bits, star))
    }
}

/// The five fields a macro stands for.
fn expand(expr: &str) -> Option<&'static str> {
    Some(match expr {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => return None,
    })
}

/// The value sets of a valid expression's five fields (bit `v` set when `v` is selected) and
/// whether each was `*` (or `?`): what [`crate::schedule`] evaluates.
pub(crate) fn fields(expr: &str) -> Result<[(u64, bool); 5], String> {
    check_cron(expr)?;
    let expr = expr.trim();
    let expr = expand(expr).unwrap_or(expr);
    let parts: Vec<&str> = expr.split_whitespace().collect();
    let mut sets = [(0u64, false); 5];
    for ((field, text), slot) in FIELDS.iter().zip(&parts).zip(sets.iter_mut()) {
        *slot = field
            .parse(text)
            .map_err(|e| format!("{} field {text:?}: {e}", field.name))?;
    }
    Ok(sets)
}

/// Checks a cron expression; the error names the field and the rule it breaks.
pub fn check_cron(expr: &str) -> Result<(), String> {
    let expr = expr.trim();
    if expr.starts_with('@') {
        if MACROS.contains(&expr) {
            return Ok(());
        }
        return Err(format!(
            "{expr:?} is not a known macro (one of {})",
            MACROS.join(", ")
        ));
    }
    let parts: Vec<&str> = expr.split_whitespace().collect();
    if parts.len() != 5 {
        return Err(format!(
            "has {} fields; a schedule has five: minute hour day-of-month month day-of-week",
            parts.len()
        ));
    }
    let mut sets = [(0u64, false); 5];
    for ((field, text), slot) in FIELDS.iter().zip(&parts).zip(sets.iter_mut()) {
        *slot = field
            .parse(text)
            .map_err(|e| format!("{} field {text:?}: {e}", field.name))?;
    }
    // A day-of-month restriction alone (day-of-week `*`) that no selected month has never fires:
    // robfig/cron then finds no next time and Velero never runs the schedule.
    let (dom, _) = sets[2];
    let (months, _) = sets[3];
    let (_, dow_star) = sets[4];
    if dow_star {
        const DAYS_IN: [u32; 13] = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let longest = (1..=12u32)
            .filter(|m| months & (1 << m) != 0)
            .map(|m| DAYS_IN[m as usize])
            .max()
            .unwrap_or(0);
        let earliest = (1..=31u32).find(|d| dom & (1 << d) != 0).unwrap_or(32);
        if earliest > longest {
            return Err(format!(
                "never fires: day-of-month {:?} does not occur in month {:?}",
                parts[2], parts[3]
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_velero_accepts() {
        for ok in [
            "0 2 * * *",
            "*/15 * * * *",
            "0 0-23/2 * * MON-FRI",
            "5,35 1 1,15 JAN-jun,dec sun",
            "0 3 ? * 0",
            "30 4 1/7 * *",
            "0 0 29 2 *",
            "@daily",
            "@weekly",
        ] {
            assert_eq!(check_cron(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn names_the_field_and_rule() {
        let cases = [
            (
                "60 * * * *",
                "minute field \"60\": 60 is above the maximum 59",
            ),
            ("0 24 * * *", "hour field"),
            (
                "0 0 0 * *",
                "day-of-month field \"0\": 0 is below the minimum 1",
            ),
            ("0 0 * 13 *", "month field"),
            ("0 0 * * 7", "use 0 for Sunday"),
            ("0 0 * * FUNDAY", "is not a number or a name such as SUN"),
            ("*/0 * * * *", "step must be positive"),
            ("5-1 * * * *", "starts after it ends"),
            ("1-2-3 * * * *", "more than one '-'"),
            ("0 2 * *", "has 4 fields"),
            ("0 ? * * *", "'?' is allowed only"),
            ("0 0 31 2 *", "never fires"),
            ("@every 1h", "not a known macro"),
            ("1,,2 * * * *", "empty list element"),
        ];
        for (expr, want) in cases {
            let got = check_cron(expr).err().unwrap_or_default();
            assert!(
                got.contains(want),
                "{expr}: {got:?} should contain {want:?}"
            );
        }
    }
}
