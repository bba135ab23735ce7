//! Who asks and why: the agencies, the purposes of use a request may state (`X-Purpose`), and
//! the principal the server builds from a verified token.

use std::fmt;
use std::str::FromStr;

/// The agency a role belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Agency {
    /// 民政 civil affairs.
    CivilAffairs,
    /// 教育 education.
    Education,
    /// 卫生健康 health.
    Health,
    /// 共青团 youth league.
    YouthLeague,
    /// 妇联 women's federation.
    WomensFederation,
    /// 督导 / 审计 supervision and audit.
    Supervision,
    /// 合作机构 partner applications (machine clients).
    Partner,
}

impl Agency {
    /// Every agency, in the order the design lists them.
    pub const ALL: [Agency; 7] = [
        Agency::CivilAffairs,
        Agency::Education,
        Agency::Health,
        Agency::YouthLeague,
        Agency::WomensFederation,
        Agency::Supervision,
        Agency::Partner,
    ];

    /// The SCREAMING_SNAKE name used in tokens and the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Agency::CivilAffairs => "CIVIL_AFFAIRS",
            Agency::Education => "EDUCATION",
            Agency::Health => "HEALTH",
            Agency::YouthLeague => "YOUTH_LEAGUE",
            Agency::WomensFederation => "WOMENS_FEDERATION",
            Agency::Supervision => "SUPERVISION",
            Agency::Partner => "PARTNER",
        }
    }

    /// The prefix of the agency's role names (`civil_affairs.` …).
    pub fn role_prefix(self) -> &'static str {
        match self {
            Agency::CivilAffairs => "civil_affairs",
            Agency::Education => "education",
            Agency::Health => "health",
            Agency::YouthLeague => "youth_league",
            Agency::WomensFederation => "womens_federation",
            Agency::Supervision => "supervision",
            Agency::Partner => "partner",
        }
    }

    /// The Chinese name.
    pub fn title_zh(self) -> &'static str {
        match self {
            Agency::CivilAffairs => "民政",
            Agency::Education => "教育",
            Agency::Health => "卫生健康",
            Agency::YouthLeague => "共青团",
            Agency::WomensFederation => "妇联",
            Agency::Supervision => "督导/审计",
            Agency::Partner => "合作机构",
        }
    }

    pub(crate) fn names() -> String {
        Agency::ALL.map(Agency::as_str).join(", ")
    }
}

impl fmt::Display for Agency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown agency or purpose name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// What kind of name it was ("agency", "purpose").
    pub kind: &'static str,
    /// The name given.
    pub name: String,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?}", self.kind, self.name)
    }
}

impl std::error::Error for UnknownName {}

impl FromStr for Agency {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Agency::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownName {
                kind: "agency",
                name: s.to_owned(),
            })
    }
}

/// The purpose of use a request states (FHIR purposeOfUse; PIPL art. 6 purpose limitation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Purpose {
    /// 关爱服务 ongoing care.
    Care,
    /// 测评 screening.
    Screening,
    /// 转介 referral.
    Referral,
    /// 诊疗 treatment.
    Treatment,
    /// 危机干预 crisis intervention (an emergency in the sense of PIPL art. 13(4)).
    Crisis,
    /// 督导 supervision.
    Supervision,
    /// 统计 statistics.
    Statistics,
    /// 合作系统同步 partner synchronisation.
    PartnerSync,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 8] = [
        Purpose::Care,
        Purpose::Screening,
        Purpose::Referral,
        Purpose::Treatment,
        Purpose::Crisis,
        Purpose::Supervision,
        Purpose::Statistics,
        Purpose::PartnerSync,
    ];

    /// The SCREAMING_SNAKE name used in `X-Purpose` and the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Care => "CARE",
            Purpose::Screening => "SCREENING",
            Purpose::Referral => "REFERRAL",
            Purpose::Treatment => "TREATMENT",
            Purpose::Crisis => "CRISIS",
            Purpose::Supervision => "SUPERVISION",
            Purpose::Statistics => "STATISTICS",
            Purpose::PartnerSync => "PARTNER_SYNC",
        }
    }

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }

    pub(crate) fn names() -> String {
        Purpose::ALL.map(Purpose::as_str).join(", ")
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Purpose {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownName {
                kind: "purpose",
                name: s.to_owned(),
            })
    }
}

/// A set of purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PurposeSet(u16);

impl PurposeSet {
    /// No purpose.
    pub const EMPTY: PurposeSet = PurposeSet(0);

    /// Whether `p` is in the set.
    pub fn contains(self, p: Purpose) -> bool {
        self.0 & p.bit() != 0
    }

    /// Adds `p`.
    pub fn insert(&mut self, p: Purpose) {
        self.0 |= p.bit();
    }

    /// The purposes in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Purpose> {
        Purpose::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

impl FromIterator<Purpose> for PurposeSet {
    fn from_iter<I: IntoIterator<Item = Purpose>>(iter: I) -> Self {
        let mut s = PurposeSet::EMPTY;
        for p in iter {
            s.insert(p);
        }
        s
    }
}

/// The authenticated caller of one request, as the server builds it from a verified JWT and
/// the `X-Purpose` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token subject (user id or partner client id).
    pub sub: String,
    /// The agency of the role.
    pub agency: Agency,
    /// Policy role name, e.g. `education.head_teacher`.
    pub role: String,
    /// The principal's organization id, if it has one.
    pub org: Option<String>,
    /// The region code prefix the principal serves (`4501` = a city and everything below it).
    pub region: String,
    /// The purpose of use of this request.
    pub purpose: Purpose,
    /// The API client, for partner applications.
    pub client_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Agency::ALL {
            assert_eq!(a.as_str().parse::<Agency>(), Ok(a));
            assert_eq!(a.role_prefix().to_uppercase(), a.as_str());
        }
        for p in Purpose::ALL {
            assert_eq!(p.as_str().parse::<Purpose>(), Ok(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!(
            "care".parse::<Purpose>().map_err(|e| e.to_string()),
            Err("unknown purpose \"care\"".to_owned())
        );
        assert!("HEALTHCARE".parse::<Agency>().is_err());
    }

    #[test]
    fn purpose_set() {
        let s: PurposeSet = [Purpose::Crisis, Purpose::Care].into_iter().collect();
        assert!(s.contains(Purpose::Care) && s.contains(Purpose::Crisis));
        assert!(!s.contains(Purpose::Statistics));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![Purpose::Care, Purpose::Crisis]
        );
    }
}
