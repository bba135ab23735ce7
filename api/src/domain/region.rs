//! Region codes: 12-digit statistical codes `PP CC DD TTT VVV` (province, city, county,
//! township, village). A jurisdiction is a code prefix; stored as integers, a prefix is a
//! half-open integer range, which every backend indexes the same way.

use std::fmt;

/// Digits significant at each level, from province to village.
pub const LEVEL_DIGITS: [usize; 5] = [2, 4, 6, 9, 12];

/// A region prefix such as `45`, `4501`, `450102`, `450102001` or `450102001001`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegionPrefix(String);

/// Why a region code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionCodeError {
    #[error("must be digits only")]
    NotDigits,
    #[error("must have 2, 4, 6, 9 or 12 digits (province, city, county, township, village)")]
    Length,
}

impl RegionPrefix {
    /// Parses a prefix, or a full 12-digit code whose trailing zero groups are dropped
    /// (`450102000000` is the county `450102`).
    pub fn parse(raw: &str) -> Result<Self, RegionCodeError> {
        let s = raw.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RegionCodeError::NotDigits);
        }
        if !LEVEL_DIGITS.contains(&s.len()) {
            return Err(RegionCodeError::Length);
        }
        if s.len() == 12 {
            return Ok(Self(significant(s).to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    /// The prefix digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The half-open range `[lo, hi)` of 12-digit codes inside this prefix.
    pub fn range(&self) -> (i64, i64) {
        range_of(&self.0)
    }

    /// 0 = province … 4 = village.
    pub fn level_index(&self) -> usize {
        LEVEL_DIGITS
            .iter()
            .position(|d| *d == self.0.len())
            .unwrap_or(0)
    }

    /// Whether the 12-digit `code` lies inside this prefix.
    pub fn contains(&self, code: i64) -> bool {
        let (lo, hi) = self.range();
        code >= lo && code < hi
    }

    /// Whether `other` is this prefix or lies inside it.
    pub fn covers(&self, other: &RegionPrefix) -> bool {
        other.0.starts_with(&self.0)
    }

    /// The 12-digit code of the region this prefix names.
    pub fn code(&self) -> i64 {
        self.range().0
    }
}

impl fmt::Display for RegionPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The significant prefix of a 12-digit code (trailing all-zero groups removed).
pub fn significant(code12: &str) -> &str {
    for digits in LEVEL_DIGITS {
        if code12.len() >= digits && code12[digits..].bytes().all(|b| b == b'0') {
            return &code12[..digits];
        }
    }
    code12
}

/// `[lo, hi)` for a digit prefix of any length up to 12.
pub fn range_of(prefix: &str) -> (i64, i64) {
    let pad = 12usize.saturating_sub(prefix.len()) as u32;
    let p: i64 = prefix.parse().unwrap_or(0);
    let scale = 10i64.pow(pad);
    (p * scale, (p + 1) * scale)
}

/// Formats a stored code as its 12 digits.
pub fn format_code(code: i64) -> String {
    format!("{code:012}")
}

/// The prefix of `code` at a level (digits 2, 4, 6, 9 or 12), as an integer code.
pub fn truncate(code: i64, digits: usize) -> i64 {
    let scale = 10i64.pow(12u32.saturating_sub(digits as u32));
    (code / scale) * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_ranges() {
        let p = RegionPrefix::parse("450102").unwrap();
        assert_eq!(p.range(), (450_102_000_000, 450_103_000_000));
        assert!(p.contains(450_102_001_001));
        assert!(!p.contains(450_103_001_001));
        assert_eq!(
            RegionPrefix::parse("450102000000").unwrap().as_str(),
            "450102"
        );
        assert_eq!(
            RegionPrefix::parse("450102001000").unwrap().as_str(),
            "450102001"
        );
        assert_eq!(
            RegionPrefix::parse("45").unwrap().range(),
            (450_000_000_000, 460_000_000_000)
        );
    }

    #[test]
    fn rejects_bad_codes() {
        assert_eq!(RegionPrefix::parse("45a"), Err(RegionCodeError::NotDigits));
        assert_eq!(RegionPrefix::parse("450"), Err(RegionCodeError::Length));
        assert_eq!(RegionPrefix::parse(""), Err(RegionCodeError::NotDigits));
    }

    #[test]
    fn truncates_to_levels() {
        assert_eq!(truncate(450_102_001_001, 6), 450_102_000_000);
        assert_eq!(format_code(450_102_000_000), "450102000000");
    }
}
