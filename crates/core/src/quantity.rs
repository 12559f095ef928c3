//! Kubernetes resource quantities (`500m`, `2`, `4Gi`, `1e3`), parsed exactly enough to compare
//! and add them. Values are held in nano-units (10^-9) in an i128, which covers every quantity
//! Kubernetes accepts (up to 10^18 * 2^... within i128's range for practical values).

use std::fmt;

/// A parsed quantity in nano-units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity(i128);

/// Why a string is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a Kubernetes quantity ({reason})")]
pub struct QuantityError {
    pub input: String,
    pub reason: &'static str,
}

const NANO: i128 = 1_000_000_000;

impl Quantity {
    pub const ZERO: Quantity = Quantity(0);

    pub fn parse(input: &str) -> Result<Quantity, QuantityError> {
        let err = |reason| QuantityError {
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(err("empty"));
        }
        let (negative, s) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let num_end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, suffix) = s.split_at(num_end);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(err("no number"));
        }
        // (multiplier numerator, power of ten) of the suffix
        let (mult, exp10): (i128, i32) = match suffix {
            "" => (1, 0),
            "n" => (1, -9),
            "u" => (1, -6),
            "m" => (1, -3),
            "k" => (1, 3),
            "M" => (1, 6),
            "G" => (1, 9),
            "T" => (1, 12),
            "P" => (1, 15),
            "E" => (1, 18),
            "Ki" => (1 << 10, 0),
            "Mi" => (1 << 20, 0),
            "Gi" => (1 << 30, 0),
            "Ti" => (1 << 40, 0),
            "Pi" => (1 << 50, 0),
            "Ei" => (1 << 60, 0),
            e if e.starts_with(['e', 'E']) => {
                let exp: i32 = e[1..].parse().map_err(|_| err("bad exponent"))?;
                if !(-9..=18).contains(&exp) {
                    return Err(err("exponent out of range"));
                }
                (1, exp)
            }
            _ => return Err(err("unknown suffix")),
        };
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        let digits = format!("{int_part}{frac_part}");
        if digits.len() > 30 {
            return Err(err("too many digits"));
        }
        let mantissa: i128 = digits.parse().map_err(|_| err("no number"))?;
        // value = mantissa * 10^(exp10 - frac_len) * mult, in nano-units: * 10^9
        let shift = exp10 - frac_part.len() as i32 + 9;
        let scaled = if shift >= 0 {
            10i128
                .checked_pow(shift as u32)
                .and_then(|p| mantissa.checked_mul(p))
                .and_then(|v| v.checked_mul(mult))
                .ok_or_else(|| err("too large"))?
        } else {
            // below a nano-unit: Kubernetes rounds up
            let div = 10i128.pow((-shift) as u32);
            let v = mantissa.checked_mul(mult).ok_or_else(|| err("too large"))?;
            (v + div - 1) / div
        };
        Ok(Quantity(if negative { -scaled } else { scaled }))
    }

    /// The value in whole units, as a float (for cost arithmetic and ratios).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / NANO as f64
    }

    /// The value in GiB (for memory and storage rates).
    pub fn as_gib(self) -> f64 {
        self.as_f64() / (1u64 << 30) as f64
    }

    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        self.0.checked_add(other.0).map(Quantity)
    }

    /// The value in nano-units.
    pub const fn nanos(self) -> i128 {
        self.0
    }

    pub const fn from_nanos(n: i128) -> Quantity {
        Quantity(n)
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// A canonical, readable rendering: whole numbers plain, else milli-units, else binary
    /// suffixes when the value is a multiple of 1Ki.
    pub fn to_canonical(self) -> String {
        let v = self.0;
        if v % NANO == 0 {
            let whole = v / NANO;
            for (suffix, size) in [
                ("Ei", 1i128 << 60),
                ("Pi", 1 << 50),
                ("Ti", 1 << 40),
                ("Gi", 1 << 30),
                ("Mi", 1 << 20),
                ("Ki", 1 << 10),
            ] {
                if whole != 0 && whole % size == 0 {
                    return format!("{}{suffix}", whole / size);
                }
            }
            return whole.to_string();
        }
        if v % (NANO / 1000) == 0 {
            return format!("{}m", v / (NANO / 1000));
        }
        format!("{}n", v)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_canonical())
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn decimal_and_binary_suffixes() {
        assert_eq!(q("500m"), q("0.5"));
        assert_eq!(q("1k"), q("1000"));
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("1Gi").as_gib(), 1.0);
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert!(q("2") > q("1500m"));
        assert!(q("4Gi") > q("4G"));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "two", "1.2.3", "5Gb", "--1", "1e99", "m"] {
            assert!(Quantity::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn canonical_rendering() {
        assert_eq!(q("0.5").to_canonical(), "500m");
        assert_eq!(q("2048Mi").to_canonical(), "2Gi");
        assert_eq!(q("3").to_canonical(), "3");
        assert_eq!(q("1.5Gi").to_canonical(), "1536Mi");
    }
}
