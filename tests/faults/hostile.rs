//! Hostile input to the two parsers that take text from outside: the remit-policy loader
//! (`carehub_policy::Policy::from_toml_str`) and the ID-number validator
//! (`carehub_api::domain::idnumber::IdNumber::parse`, behind `registerChild`, `addGuardian` and
//! the ID-number lookups). Property tests: whatever the input, they answer Ok or Err, never
//! panic. (The schema-aware GraphQL fuzz is `tests/e2e/security.rs::fuzz_schema_driven_requests_never_5xx`.)

use carehub_api::domain::idnumber::{check_char, IdNumber};
use carehub_policy::Policy;
use proptest::prelude::*;

const REMITS: &str = include_str!("../../policy/remits.toml");

fn cases() -> u32 {
    std::env::var("FAULTS_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512)
}

/// The real policy with one structured mutation applied: a line dropped, duplicated or
/// truncated, a value replaced, or bytes spliced in.
fn mutated_policy() -> impl Strategy<Value = String> {
    let lines: Vec<&'static str> = REMITS.lines().collect();
    let n = lines.len();
    (0..n, 0usize..6, any::<String>(), 0usize..200).prop_map(move |(at, op, junk, cut)| {
        let mut ls: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        match op {
            0 => {
                ls.remove(at);
            }
            1 => {
                let l = ls[at].clone();
                ls.insert(at, l);
            }
            2 => {
                let l = &ls[at];
                let keep = l
                    .char_indices()
                    .nth(cut % (l.chars().count() + 1))
                    .map_or(l.len(), |(i, _)| i);
                ls[at] = l[..keep].to_owned();
            }
            3 => {
                // Replace the value of a `key = value` line.
                if let Some((k, _)) = ls[at].split_once('=') {
                    ls[at] = format!("{k}= {junk:?}");
                }
            }
            4 => ls.insert(at, junk),
            _ => {
                // Swap two lines: groups and rules referring to each other out of order.
                let other = (at + cut) % n;
                ls.swap(at, other);
            }
        }
        ls.join("\n")
    })
}

/// Strings that look like ID numbers: 17 digits (with a real region and a plausible or
/// impossible date), then any character, in any case, padded or not, sometimes multi-byte.
fn id_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9Xx]{0,20}",
        "[ \t]{0,2}[0-9]{17}[0-9Xx][ \t]{0,2}",
        "[0-9]{6}(19|20)[0-9]{2}(0[0-9]|1[0-3])([0-3][0-9])[0-9]{3}[0-9Xx]",
        // 18 characters of which some are multi-byte.
        "[0-9é中]{18}",
        "[0-9]{16}[é中][0-9Xx]",
        "[0-9]{17}[é中X]",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn policy_loader_never_panics_on_arbitrary_text(src in any::<String>()) {
        let _ = Policy::from_toml_str(&src, "fuzz.toml");
    }

    #[test]
    fn policy_loader_never_panics_on_a_mutated_real_policy(src in mutated_policy()) {
        // Most mutations are refused with a message naming the line; none may panic.
        if let Err(e) = Policy::from_toml_str(&src, "mutated.toml") {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn id_number_validator_never_panics(raw in id_like()) {
        match IdNumber::parse(&raw) {
            // Whatever it accepts is 18 ASCII characters with the right check character.
            Ok(id) => {
                let s = id.as_str();
                prop_assert_eq!(s.len(), 18);
                prop_assert_eq!(check_char(&s[..17]), s.chars().last());
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

#[test]
fn the_real_policy_loads() {
    assert!(Policy::from_toml_str(REMITS, "remits.toml").is_ok());
}

/// Found by the property above: 18 characters with a multi-byte one used to split inside a
/// character and panic an actix worker (`childExists(input: {idNumber: …})` dropped the
/// connection). Fixed in `api/src/domain/idnumber.rs`.
#[test]
fn multi_byte_id_number_is_refused_not_a_panic() {
    assert!(IdNumber::parse("0000000000000000中x").is_err());
}
