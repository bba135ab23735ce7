//! The directory of the demo data: Guangxi's regions (the 14 real prefecture cities, generated
//! counties, townships and villages) and the organizations of every agency that serve them.

use std::collections::BTreeSet;

use carehub_entity::enums::{Agency, OrganizationKind, RegionLevel};
use carehub_entity::{organization, region};
use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::names;
use super::time;

/// Province code (12 digits) of Guangxi.
pub(crate) const PROVINCE: i64 = 450_000_000_000;

/// The 14 prefecture cities: code, name, short name, telephone area code.
const CITIES: &[(i64, &str, &str, &str)] = &[
    (4501, "南宁市", "南宁", "0771"),
    (4502, "柳州市", "柳州", "0772"),
    (4503, "桂林市", "桂林", "0773"),
    (4504, "梧州市", "梧州", "0774"),
    (4505, "北海市", "北海", "0779"),
    (4506, "防城港市", "防城港", "0770"),
    (4507, "钦州市", "钦州", "0777"),
    (4508, "贵港市", "贵港", "0775"),
    (4509, "玉林市", "玉林", "0775"),
    (4510, "百色市", "百色", "0776"),
    (4511, "贺州市", "贺州", "0774"),
    (4512, "河池市", "河池", "0778"),
    (4513, "来宾市", "来宾", "0772"),
    (4514, "崇左市", "崇左", "0771"),
];

/// Nanning's districts and counties as they are (code suffix, name).
const NANNING: &[(i64, &str)] = &[
    (2, "兴宁区"),
    (3, "青秀区"),
    (5, "江南区"),
    (7, "西乡塘区"),
    (8, "良庆区"),
    (9, "邕宁区"),
    (10, "武鸣区"),
    (23, "隆安县"),
];

/// Subject of the directory administrator who registered the organizations.
pub(crate) const DIRECTORY_ADMIN: &str = "directory-admin";

/// A prefecture city and its city-level organizations.
#[derive(Debug, Clone)]
pub(crate) struct City {
    pub code: i64,
    pub name: String,
    pub short: &'static str,
    pub area: &'static str,
    pub psych_hospital: Uuid,
    pub welfare: Uuid,
    pub welfare_name: String,
    pub hotline: Uuid,
}

/// A school of a county.
#[derive(Debug, Clone)]
pub(crate) struct School {
    pub id: Uuid,
    /// Short code used in worker subjects, e.g. `450102s1`.
    pub short: String,
    /// Grades 7–12 (中学) rather than 1–6 (小学).
    pub secondary: bool,
}

/// A county (district) and its county-level organizations.
#[derive(Debug, Clone)]
pub(crate) struct County {
    pub code: i64,
    pub name: String,
    pub city: usize,
    pub schools: Vec<School>,
    pub general_hospital: Uuid,
    pub health_center: Uuid,
    pub protection_center: Uuid,
    pub civil_affairs: Uuid,
    pub womens_federation: Uuid,
    pub townships: Vec<usize>,
}

impl County {
    /// The six significant digits, e.g. `450102`.
    pub fn code6(&self) -> String {
        format!("{:06}", self.code / 1_000_000)
    }
}

/// A township and its children's home.
#[derive(Debug, Clone)]
pub(crate) struct Township {
    pub code: i64,
    pub name: String,
    pub county: usize,
    pub children_home: Uuid,
    pub villages: Vec<usize>,
}

/// A village (or urban community), where children live.
#[derive(Debug, Clone)]
pub(crate) struct Village {
    pub code: i64,
    pub name: String,
    pub township: usize,
}

/// Regions and organizations, with indexes for the child generator.
#[derive(Debug, Clone)]
pub(crate) struct World {
    pub regions: Vec<region::Model>,
    pub organizations: Vec<organization::Model>,
    pub cities: Vec<City>,
    pub counties: Vec<County>,
    pub townships: Vec<Township>,
    pub villages: Vec<Village>,
    /// Cumulative share of children per village (capital and some counties heavier).
    cumulative: Vec<f64>,
}

struct OrgMaker {
    at: DateTime<Utc>,
    out: Vec<organization::Model>,
}

impl OrgMaker {
    fn add(
        &mut self,
        r: &mut ChaCha8Rng,
        name: String,
        kind: OrganizationKind,
        agency: Agency,
        region_code: i64,
        area: &str,
    ) -> Uuid {
        let id = super::uuid(r);
        let male = r.gen_bool(0.5);
        let contact = names::person_name(r, male, None);
        let phone = names::landline(r, area);
        self.out.push(organization::Model {
            id,
            created_at: self.at,
            created_by: DIRECTORY_ADMIN.to_owned(),
            updated_at: self.at,
            updated_by: DIRECTORY_ADMIN.to_owned(),
            version: 1,
            archived_at: None,
            owner_agency: agency,
            owner_org_id: Some(id),
            name,
            kind,
            agency,
            region_code,
            contact_name: Some(contact),
            contact_phone: Some(phone),
        });
        id
    }
}

fn region_row(code: i64, name: &str, level: RegionLevel, parent: Option<i64>) -> region::Model {
    region::Model {
        code,
        name: name.to_owned(),
        level,
        parent_code: parent,
    }
}

const CN_DIGITS: &[&str] = &["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];

fn ordinal(n: usize) -> &'static str {
    CN_DIGITS.get(n.saturating_sub(1)).copied().unwrap_or("十")
}

impl World {
    /// Builds the directory from the seed's structure stream.
    pub fn build(seed: u64) -> Self {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        r.set_stream(0);
        let mut regions = vec![region_row(
            PROVINCE,
            "广西壮族自治区",
            RegionLevel::Province,
            None,
        )];
        let mut orgs = OrgMaker {
            at: time::directory_time(),
            out: Vec::new(),
        };
        let mut cities = Vec::new();
        let mut counties: Vec<County> = Vec::new();
        let mut townships: Vec<Township> = Vec::new();
        let mut villages: Vec<Village> = Vec::new();
        let mut weights: Vec<f64> = Vec::new();
        let mut county_stems = BTreeSet::new();
        for (_, name) in NANNING {
            county_stems.insert(name.chars().take(2).collect::<String>());
        }

        for &(c4, city_name, short, area) in CITIES {
            let city_code = c4 * 100_000_000;
            regions.push(region_row(
                city_code,
                city_name,
                RegionLevel::City,
                Some(PROVINCE),
            ));
            let psych_hospital = orgs.add(
                &mut r,
                format!("{city_name}精神卫生中心"),
                OrganizationKind::PsychiatricHospital,
                Agency::Health,
                city_code,
                area,
            );
            let welfare_name = format!("{city_name}儿童福利院");
            let welfare = orgs.add(
                &mut r,
                welfare_name.clone(),
                OrganizationKind::WelfareInstitution,
                Agency::CivilAffairs,
                city_code,
                area,
            );
            let hotline = orgs.add(
                &mut r,
                format!("{city_name}12355青少年服务台"),
                OrganizationKind::Hotline12355,
                Agency::YouthLeague,
                city_code,
                area,
            );
            // The procuratorate: victim-aid partner, in the directory only.
            orgs.add(
                &mut r,
                format!("{city_name}人民检察院"),
                OrganizationKind::Procuratorate,
                Agency::Partner,
                city_code,
                area,
            );
            let city_index = cities.len();
            cities.push(City {
                code: city_code,
                name: city_name.to_owned(),
                short,
                area,
                psych_hospital,
                welfare,
                welfare_name,
                hotline,
            });

            // Counties: Nanning's real ones, elsewhere 3–8 generated districts and counties.
            let mut plan: Vec<(i64, String, bool)> = Vec::new();
            if c4 == 4501 {
                for (suffix, name) in NANNING {
                    plan.push((*suffix, (*name).to_owned(), name.ends_with('区')));
                }
            } else {
                let n = r.gen_range(3..=8usize);
                let districts = r.gen_range(1..=2usize.min(n));
                for k in 0..n {
                    let stem = names::place_stem(&mut r, &mut county_stems);
                    if k < districts {
                        plan.push((2 + k as i64, format!("{stem}区"), true));
                    } else {
                        plan.push((21 + (k - districts) as i64, format!("{stem}县"), false));
                    }
                }
            }
            let city_weight = if c4 == 4501 { 2.2 } else { 1.0 };

            for (suffix, county_name, urban) in plan {
                let county_code = city_code + suffix * 1_000_000;
                regions.push(region_row(
                    county_code,
                    &county_name,
                    RegionLevel::County,
                    Some(city_code),
                ));
                let county_index = counties.len();
                let mut county_weight = city_weight * r.gen_range(0.6..1.6);
                if county_code == 450_102_000_000 {
                    // The county of the README's example token: the busiest one.
                    county_weight = 6.0;
                }

                // Townships and villages.
                let mut township_stems = BTreeSet::new();
                let mut village_stems = BTreeSet::new();
                let n_town = r.gen_range(3..=6i64);
                let mut town_ids = Vec::new();
                let mut county_villages = Vec::new();
                for t in 1..=n_town {
                    let stem = names::place_stem(&mut r, &mut township_stems);
                    let tname = if urban {
                        format!("{stem}街道")
                    } else if r.gen_bool(0.7) {
                        format!("{stem}镇")
                    } else {
                        format!("{stem}乡")
                    };
                    let tcode = county_code + t * 1_000;
                    regions.push(region_row(
                        tcode,
                        &tname,
                        RegionLevel::Township,
                        Some(county_code),
                    ));
                    let home = orgs.add(
                        &mut r,
                        format!("{county_name}{tname}儿童之家"),
                        OrganizationKind::ChildrenHome,
                        Agency::CivilAffairs,
                        tcode,
                        area,
                    );
                    let township_index = townships.len();
                    let mut vids = Vec::new();
                    for v in 1..=r.gen_range(3..=6i64) {
                        let vstem = names::place_stem(&mut r, &mut village_stems);
                        let vname = if urban {
                            format!("{vstem}社区")
                        } else {
                            format!("{vstem}村")
                        };
                        let vcode = tcode + v;
                        regions.push(region_row(vcode, &vname, RegionLevel::Village, Some(tcode)));
                        vids.push(villages.len());
                        county_villages.push(villages.len());
                        villages.push(Village {
                            code: vcode,
                            name: vname,
                            township: township_index,
                        });
                    }
                    townships.push(Township {
                        code: tcode,
                        name: tname,
                        county: county_index,
                        children_home: home,
                        villages: vids,
                    });
                    town_ids.push(township_index);
                }
                // Spread the county's weight over its villages.
                let raw: Vec<f64> = county_villages
                    .iter()
                    .map(|_| r.gen_range(0.5..1.5))
                    .collect();
                let sum: f64 = raw.iter().sum();
                weights.extend(raw.iter().map(|w| county_weight * w / sum));

                // County-level organizations; most sit in the county seat (the first township).
                let seat = county_code + 1_000;
                let n_schools = r.gen_range(2..=4usize);
                let mut schools = Vec::new();
                let (mut primary_n, mut secondary_n) = (0usize, 0usize);
                for k in 0..n_schools {
                    let secondary = match k {
                        0 => false,
                        1 => true,
                        _ => r.gen_bool(0.5),
                    };
                    let name = if secondary {
                        secondary_n += 1;
                        format!("{county_name}第{}中学", ordinal(secondary_n))
                    } else {
                        primary_n += 1;
                        format!("{county_name}第{}小学", ordinal(primary_n))
                    };
                    let place = town_ids
                        .get(r.gen_range(0..town_ids.len()))
                        .map_or(seat, |t| townships[*t].code);
                    let id = orgs.add(
                        &mut r,
                        name,
                        OrganizationKind::School,
                        Agency::Education,
                        place,
                        area,
                    );
                    schools.push(School {
                        id,
                        short: format!("{:06}s{}", county_code / 1_000_000, k + 1),
                        secondary,
                    });
                }
                let general_hospital = orgs.add(
                    &mut r,
                    format!("{county_name}人民医院"),
                    OrganizationKind::GeneralHospital,
                    Agency::Health,
                    seat,
                    area,
                );
                let health_center = orgs.add(
                    &mut r,
                    format!(
                        "{county_name}{}社区卫生服务中心",
                        townships[town_ids[0]].name
                    ),
                    OrganizationKind::CommunityHealthCenter,
                    Agency::Health,
                    seat,
                    area,
                );
                let protection_center = orgs.add(
                    &mut r,
                    format!("{county_name}未成年人救助保护中心"),
                    OrganizationKind::ProtectionCenter,
                    Agency::CivilAffairs,
                    county_code,
                    area,
                );
                let civil_affairs = orgs.add(
                    &mut r,
                    format!("{county_name}民政局"),
                    OrganizationKind::AgencyOffice,
                    Agency::CivilAffairs,
                    county_code,
                    area,
                );
                let womens_federation = orgs.add(
                    &mut r,
                    format!("{county_name}妇女联合会"),
                    OrganizationKind::AgencyOffice,
                    Agency::WomensFederation,
                    county_code,
                    area,
                );
                counties.push(County {
                    code: county_code,
                    name: county_name,
                    city: city_index,
                    schools,
                    general_hospital,
                    health_center,
                    protection_center,
                    civil_affairs,
                    womens_federation,
                    townships: town_ids,
                });
            }
        }

        let mut cumulative = Vec::with_capacity(weights.len());
        let mut acc = 0.0;
        for w in weights {
            acc += w;
            cumulative.push(acc);
        }
        World {
            regions,
            organizations: orgs.out,
            cities,
            counties,
            townships,
            villages,
            cumulative,
        }
    }

    /// The village a uniform draw `u` in [0, 1) falls into, by population weight.
    pub fn pick_village(&self, u: f64) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = u * total;
        self.cumulative
            .partition_point(|c| *c <= x)
            .min(self.villages.len().saturating_sub(1))
    }

    /// Township, county and city indexes of a village.
    pub fn ancestry(&self, village: usize) -> (usize, usize, usize) {
        let t = self.villages[village].township;
        let c = self.townships[t].county;
        (t, c, self.counties[c].city)
    }

    /// A uniformly chosen village of a county.
    pub fn village_in_county(&self, county: usize, r: &mut impl Rng) -> usize {
        let towns = &self.counties[county].townships;
        let t = &self.townships[towns[r.gen_range(0..towns.len())]];
        t.villages[r.gen_range(0..t.villages.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::region::truncate;

    #[test]
    fn regions_form_a_consistent_tree() {
        let w = World::build(42);
        let codes: BTreeSet<i64> = w.regions.iter().map(|r| r.code).collect();
        assert_eq!(codes.len(), w.regions.len(), "codes are unique");
        for reg in &w.regions {
            let digits = match reg.level {
                RegionLevel::Province => 2,
                RegionLevel::City => 4,
                RegionLevel::County => 6,
                RegionLevel::Township => 9,
                RegionLevel::Village => 12,
            };
            assert_eq!(
                truncate(reg.code, digits),
                reg.code,
                "{} has only {digits} significant digits",
                reg.code
            );
            if let Some(p) = reg.parent_code {
                assert!(codes.contains(&p));
                let parent_digits = match reg.level {
                    RegionLevel::City => 2,
                    RegionLevel::County => 4,
                    RegionLevel::Township => 6,
                    _ => 9,
                };
                assert_eq!(truncate(reg.code, parent_digits), p);
            } else {
                assert_eq!(reg.level, RegionLevel::Province);
            }
        }
        let cities: Vec<&region::Model> = w
            .regions
            .iter()
            .filter(|r| r.level == RegionLevel::City)
            .collect();
        assert_eq!(cities.len(), 14);
        assert_eq!(cities[0].name, "南宁市");
        assert_eq!(cities[13].code, 451_400_000_000);
        for city in &w.cities {
            let n = w
                .counties
                .iter()
                .filter(|c| truncate(c.code, 4) == city.code)
                .count();
            assert!((3..=8).contains(&n), "{} has {n} counties", city.name);
        }
        for t in &w.townships {
            assert!((3..=6).contains(&t.villages.len()));
        }
        for c in &w.counties {
            assert!((3..=6).contains(&c.townships.len()));
            assert!((2..=4).contains(&c.schools.len()));
            assert!(
                c.schools.iter().any(|s| s.secondary) && c.schools.iter().any(|s| !s.secondary)
            );
        }
        assert!(w
            .regions
            .iter()
            .any(|r| r.code == 450_102_000_000 && r.name == "兴宁区"));
    }

    #[test]
    fn every_agency_has_its_organizations() {
        let w = World::build(42);
        let count = |k: OrganizationKind| w.organizations.iter().filter(|o| o.kind == k).count();
        assert_eq!(count(OrganizationKind::PsychiatricHospital), 14);
        assert_eq!(count(OrganizationKind::Hotline12355), 14);
        assert_eq!(count(OrganizationKind::Procuratorate), 14);
        assert_eq!(count(OrganizationKind::WelfareInstitution), 14);
        assert_eq!(count(OrganizationKind::GeneralHospital), w.counties.len());
        assert_eq!(
            count(OrganizationKind::CommunityHealthCenter),
            w.counties.len()
        );
        assert_eq!(count(OrganizationKind::ProtectionCenter), w.counties.len());
        assert_eq!(count(OrganizationKind::ChildrenHome), w.townships.len());
        assert_eq!(count(OrganizationKind::AgencyOffice), 2 * w.counties.len());
        let ids: BTreeSet<Uuid> = w.organizations.iter().map(|o| o.id).collect();
        assert_eq!(ids.len(), w.organizations.len());
        let codes: BTreeSet<i64> = w.regions.iter().map(|r| r.code).collect();
        assert!(w
            .organizations
            .iter()
            .all(|o| codes.contains(&o.region_code)));
    }

    #[test]
    fn the_same_seed_builds_the_same_world() {
        let a = World::build(5);
        let b = World::build(5);
        assert_eq!(a.regions, b.regions);
        assert_eq!(a.organizations, b.organizations);
        assert_ne!(World::build(6).organizations, a.organizations);
    }

    #[test]
    fn village_weights_favour_the_capital() {
        let w = World::build(42);
        let mut per_city = vec![0usize; 14];
        for k in 0..20_000 {
            let (_, _, city) = w.ancestry(w.pick_village((k as f64 + 0.5) / 20_000.0));
            per_city[city] += 1;
        }
        let max = per_city.iter().copied().max().unwrap_or(0);
        assert_eq!(per_city[0], max, "Nanning is the largest: {per_city:?}");
    }
}
