//! Resident identity numbers (居民身份证号码, GB 11643-1999): 6-digit household region, 8-digit
//! birth date, 3-digit sequence (odd = male), and an ISO 7064 MOD 11-2 check character.

use chrono::NaiveDate;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// Why an ID number was refused; the message names the rule broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("must be 18 characters: 17 digits and a check digit (0-9 or X)")]
    Length,
    #[error("must contain only digits, with X allowed as the last character")]
    Characters,
    #[error("contains an invalid birth date")]
    BirthDate,
    #[error("check digit does not match (GB 11643): expected {expected}")]
    CheckDigit { expected: char },
}

/// The check character for the first 17 digits.
pub fn check_char(first17: &str) -> Option<char> {
    let mut sum = 0u32;
    for (i, c) in first17.chars().enumerate() {
        sum += c.to_digit(10)? * WEIGHTS.get(i)?;
    }
    CHECK.get((sum % 11) as usize).copied()
}

/// A parsed, valid ID number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdNumber {
    normalized: String,
    birth_date: NaiveDate,
}

impl IdNumber {
    /// Validates an 18-character ID number (a lowercase `x` is accepted and normalized).
    pub fn parse(raw: &str) -> Result<Self, IdNumberError> {
        let s = raw.trim().to_ascii_uppercase();
        if s.chars().count() != 18 {
            return Err(IdNumberError::Length);
        }
        // Byte offsets below assume ASCII: 18 characters with a multi-byte one among them would
        // otherwise split inside a character and panic.
        if !s.is_ascii() {
            return Err(IdNumberError::Characters);
        }
        let (body, last) = s.split_at(17);
        if !body.chars().all(|c| c.is_ascii_digit())
            || !last.chars().all(|c| c.is_ascii_digit() || c == 'X')
        {
            return Err(IdNumberError::Characters);
        }
        let birth_date = NaiveDate::parse_from_str(&body[6..14], "%Y%m%d")
            .map_err(|_| IdNumberError::BirthDate)?;
        let expected = check_char(body).ok_or(IdNumberError::Characters)?;
        if !last.starts_with(expected) {
            return Err(IdNumberError::CheckDigit { expected });
        }
        Ok(Self {
            normalized: s,
            birth_date,
        })
    }

    /// The normalized 18 characters.
    pub fn as_str(&self) -> &str {
        &self.normalized
    }

    /// The birth date encoded in positions 7–14.
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// The 6-digit household region code in positions 1–6.
    pub fn region6(&self) -> &str {
        &self.normalized[..6]
    }

    /// Whether the sequence number marks a male (odd) holder.
    pub fn is_male(&self) -> bool {
        self.normalized[16..17]
            .parse::<u32>()
            .map(|d| d % 2 == 1)
            .unwrap_or(false)
    }

    /// The display mask used for every role: first 4 and last 4 characters kept.
    pub fn mask(&self) -> String {
        mask(&self.normalized, 4, 4)
    }
}

/// Masks `s`, keeping `keep_start` leading and `keep_end` trailing characters.
pub fn mask(s: &str, keep_start: usize, keep_end: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    if n <= keep_start + keep_end {
        return "*".repeat(n);
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < keep_start || i >= n - keep_end {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// Builds a valid ID number from region, birth date and a 3-digit sequence (synthetic data).
pub fn synthesize(region6: &str, birth: NaiveDate, seq: u32) -> String {
    let body = format!("{region6}{}{:03}", birth.format("%Y%m%d"), seq % 1000);
    let check = check_char(&body).unwrap_or('0');
    format!("{body}{check}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_standard_example() {
        // The example of GB 11643-1999 Annex A.
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert!(!id.is_male());
        assert_eq!(id.mask(), "1101**********002X");
    }

    #[test]
    fn rejects_each_rule() {
        assert_eq!(
            IdNumber::parse("1101051949123100"),
            Err(IdNumberError::Length)
        );
        assert_eq!(
            IdNumber::parse("11010519491231002Y"),
            Err(IdNumberError::Characters)
        );
        assert_eq!(
            IdNumber::parse("110105194913310027"),
            Err(IdNumberError::BirthDate)
        );
        assert_eq!(
            IdNumber::parse("110105194912310021"),
            Err(IdNumberError::CheckDigit { expected: 'X' })
        );
    }

    #[test]
    fn synthesized_numbers_validate() {
        for seq in 0..500 {
            let birth = NaiveDate::from_ymd_opt(2012, 1, 1).unwrap()
                + chrono::Days::new(u64::from(seq) * 7);
            let s = synthesize("450102", birth, seq);
            let id = IdNumber::parse(&s).unwrap();
            assert_eq!(id.birth_date(), birth);
            assert_eq!(id.region6(), "450102");
        }
    }

    #[test]
    fn lowercase_x_is_normalized() {
        assert_eq!(
            IdNumber::parse("11010519491231002x").unwrap().as_str(),
            "11010519491231002X"
        );
    }
}
