//! Adapters from stored rows to what the guard needs (type name, child, organization, owner
//! agency, row classes). One line per entity; the organization is the one "own facility" or
//! "own entries" rules compare with the principal's.

use carehub_entity as ent;
use carehub_entity::enums::Agency;
use carehub_policy::ClassSet;
use uuid::Uuid;

use super::guard::Record;

macro_rules! record {
    ($model:path, $ty:literal, child: |$c:ident| $child:expr, org: |$o:ident| $org:expr) => {
        impl Record for $model {
            const TYPE: &'static str = $ty;
            fn id(&self) -> Uuid {
                self.id
            }
            fn child_id(&self) -> Option<Uuid> {
                let $c = self;
                $child
            }
            fn org_id(&self) -> Option<Uuid> {
                let $o = self;
                $org
            }
            fn owner_agency(&self) -> Option<Agency> {
                Some(self.owner_agency)
            }
        }
    };
}

record!(ent::child::Model, "Child", child: |m| Some(m.id), org: |m| m.responsible_org_id.or(m.owner_org_id));
record!(ent::child_difficulty::Model, "ChildDifficulty", child: |m| Some(m.child_id), org: |m| m.owner_org_id);
record!(ent::guardian::Model, "Guardian", child: |m| Some(m.child_id), org: |m| m.owner_org_id);
record!(ent::enrollment::Model, "Enrollment", child: |m| Some(m.child_id), org: |m| Some(m.school_id));
record!(ent::screening::Model, "Screening", child: |m| Some(m.child_id), org: |m| m.organization_id.or(m.owner_org_id));
record!(ent::care_plan::Model, "CarePlan", child: |m| Some(m.child_id), org: |m| m.organization_id.or(m.owner_org_id));
record!(ent::visit::Model, "Visit", child: |m| Some(m.child_id), org: |m| m.organization_id.or(m.owner_org_id));
record!(ent::pairing::Model, "Pairing", child: |m| Some(m.child_id), org: |m| m.organization_id.or(m.owner_org_id));
record!(ent::crisis_event::Model, "CrisisEvent", child: |m| Some(m.child_id), org: |m| m.owner_org_id);
record!(ent::referral::Model, "Referral", child: |m| Some(m.child_id), org: |m| Some(m.from_org_id));
record!(ent::treatment_episode::Model, "TreatmentEpisode", child: |m| Some(m.child_id), org: |m| Some(m.organization_id));
record!(ent::return_to_school::Model, "ReturnToSchool", child: |m| Some(m.child_id), org: |m| Some(m.school_id));
record!(ent::victim_aid::Model, "VictimAid", child: |m| Some(m.child_id), org: |m| m.organization_id.or(m.owner_org_id));
record!(ent::service_record::Model, "ServiceRecord", child: |m| m.child_id, org: |m| m.organization_id.or(m.owner_org_id));
record!(ent::flag::Model, "Flag", child: |m| Some(m.child_id), org: |m| m.owner_org_id);
record!(ent::lawful_basis::Model, "LawfulBasis", child: |m| Some(m.child_id), org: |m| m.owner_org_id);
record!(ent::break_glass_grant::Model, "BreakGlassGrant", child: |m| Some(m.child_id), org: |m| m.org_id);
record!(ent::supervision_finding::Model, "SupervisionFinding", child: |_m| None, org: |m| m.organization_id);

impl Record for ent::report::Model {
    const TYPE: &'static str = "Report";
    fn id(&self) -> Uuid {
        self.id
    }
    fn child_id(&self) -> Option<Uuid> {
        self.child_id
    }
    fn org_id(&self) -> Option<Uuid> {
        self.reporter_org_id.or(self.owner_org_id)
    }
    fn owner_agency(&self) -> Option<Agency> {
        Some(self.owner_agency)
    }
    fn classes(&self) -> ClassSet {
        if self.category.is_harm() {
            ClassSet::HARM
        } else {
            ClassSet::EMPTY
        }
    }
}

/// Directory rows carry no child data; they are decided by their type's group alone.
impl Record for ent::organization::Model {
    const TYPE: &'static str = "Organization";
    fn id(&self) -> Uuid {
        self.id
    }
    fn child_id(&self) -> Option<Uuid> {
        None
    }
    fn org_id(&self) -> Option<Uuid> {
        Some(self.id)
    }
    fn owner_agency(&self) -> Option<Agency> {
        None
    }
}
