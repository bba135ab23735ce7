//! The `Child` type: the anchor of the shared record. Identity, welfare, risk, discharge status
//! and every child-owned list, each decided field by field by the remit policy.

use async_graphql::Context;
use carehub_entity as ent;
use carehub_entity::child;
use uuid::Uuid;

use super::records::*;
use super::{list_nodes, nested_limit, org_of, record_object};
use crate::domain::region::format_code;
use crate::error::GqlResult;
use crate::graphql::enums::{ChildStatus, Gender, LivingArrangement, RiskLevel};
use crate::service::relations as rel;

fn child_key(m: &child::Model) -> Uuid {
    m.id
}

record_object!(@nochild
    /// A child in difficulty (困境儿童): the shared record five agencies work on.
    Child(child::Model) {
        /// Masked display name, e.g. 李*明 (G-ID-min).
        async fn display_name(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read(ctx, |m| m.display_name.clone()).await }
        /// Gender.
        async fn gender(&self, ctx: &Context<'_>) -> GqlResult<Option<Gender>> { self.0.read(ctx, |m| m.gender.into()).await }
        /// Birth year and month, `YYYY-MM`.
        async fn birth_year_month(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read(ctx, |m| m.birth_year_month.clone()).await }
        /// 12-digit code of the village of residence (the row-scope key).
        async fn residence_region_code(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read(ctx, |m| format_code(m.residence_region_code)).await }
        /// 12-digit code of the household registration (户籍).
        async fn household_region_code(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read(ctx, |m| format_code(m.household_region_code)).await }
        /// Record status.
        async fn status(&self, ctx: &Context<'_>) -> GqlResult<Option<ChildStatus>> { self.0.read(ctx, |m| m.status.into()).await }
        /// The organization responsible for the child (welfare institution, office).
        async fn responsible_organization(&self, ctx: &Context<'_>) -> GqlResult<Option<super::directory::Organization>> {
            self.0.check(ctx).await?;
            org_of(ctx, &self.0, "child.responsibleOrganization", |m| m.responsible_org_id).await
        }
        /// Full name (G-ID-full).
        async fn name(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read(ctx, |m| m.name.clone()).await }
        /// Resident ID number, always masked (`4501**********1234`); the clear value only comes
        /// from the audited `revealIdNumber` action.
        async fn id_number(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_premasked(ctx, |m| m.id_number_mask.clone()).await }
        /// Exact birth date (G-ID-full).
        async fn birth_date(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::NaiveDate>> { self.0.read(ctx, |m| m.birth_date).await }
        /// Ethnicity.
        async fn ethnicity(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.ethnicity.clone()).await }
        /// Home address.
        async fn address(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.address.clone()).await }
        /// Phone.
        async fn phone(&self, ctx: &Context<'_>) -> GqlResult<Option<String>> { self.0.read_opt(ctx, |m| m.phone.clone()).await }
        /// Dated difficulty categories (G-WEL).
        async fn difficulty_categories(&self, ctx: &Context<'_>, #[graphql(desc = "How many, newest first (default 20, at most 100)")] first: Option<i32>) -> GqlResult<Option<Vec<ChildDifficulty>>> {
            self.list::<ent::child_difficulty::Entity, _>(ctx, "child.difficultyCategories", &rel::DIFFICULTIES, first, |m| Some(m.child_id), ChildDifficulty).await
        }
        /// Who the child lives with.
        async fn living_arrangement(&self, ctx: &Context<'_>) -> GqlResult<Option<LivingArrangement>> { self.0.read_opt(ctx, |m| m.living_arrangement.map(Into::into)).await }
        /// Key case (重点个案).
        async fn key_case(&self, ctx: &Context<'_>) -> GqlResult<Option<bool>> { self.0.read(ctx, |m| m.key_case).await }
        /// Current risk level: the latest screening or crisis event (G-RISK).
        async fn current_risk_level(&self, ctx: &Context<'_>) -> GqlResult<Option<RiskLevel>> { self.0.read_opt(ctx, |m| m.current_risk_level.map(Into::into)).await }
        /// When the current risk level was set.
        async fn risk_updated_at(&self, ctx: &Context<'_>) -> GqlResult<Option<chrono::DateTime<chrono::Utc>>> { self.0.read_opt(ctx, |m| m.risk_updated_at).await }
        /// Warning flags, newest first.
        async fn flags(&self, ctx: &Context<'_>, #[graphql(desc = "How many, newest first (default 20, at most 100)")] first: Option<i32>) -> GqlResult<Option<Vec<Flag>>> {
            self.list::<ent::flag::Entity, _>(ctx, "child.flags", &rel::FLAGS, first, |m| Some(m.child_id), Flag).await
        }
        /// Screenings, newest first.
        async fn screenings(&self, ctx: &Context<'_>, #[graphql(desc = "How many, newest first (default 20, at most 100)")] first: Option<i32>) -> GqlResult<Option<Vec<Screening>>> {
            self.list::<ent::screening::Entity, _>(ctx, "child.screenings", &rel::SCREENINGS, first, |m| Some(m.child_id), Screening).await
        }
        /// Crisis events, newest first.
        async fn crisis_events(&self, ctx: &Context<'_>, #[graphql(desc = "How many, newest first (default 20, at most 100)")] first: Option<i32>) -> GqlResult<Option<Vec<CrisisEvent>>> {
            self.list::<ent::crisis_event::Entity, _>(ctx, "child.crisisEvents", &rel::CRISIS_EVENTS, first, |m| Some(m.child_id), CrisisEvent).await
        }
        /// Whether the child is in treatment now — all that non-clinical roles see of treatment.
        async fn in_treatment(&self, ctx: &Context<'_>) -> GqlResult<Option<bool>> { self.0.read(ctx, |m| m.in_treatment).await }
        /// Whether the latest discharge found the child fit to return to school.
        async fn fit_to_return(&self, ctx: &Context<'_>) -> GqlResult<Option<bool>> { self.0.read_opt(ctx, |m| m.fit_to_return).await }
        /// Treatment episodes, newest first.
        async fn treatment_episodes(&self, ctx: &Context<'_>, #[graphql(desc = "How many, newest first (default 20, at most 100)")] first: Option<i32>) -> GqlResult<Option<Vec<TreatmentEpisode>>> {
            self.list::<ent::treatment_episode::Entity, _>(ctx, "child.treatmentEpisodes", &rel::TREATMENT_EPISODES, first, |m| Some(m.child_id), TreatmentEpisode).await
        }
        /// Guardians and caregivers.
        async fn guardians(&self, ctx: &Context<'_>, #[graphql(desc = "How many, newest first (default 20, at most 100)")] first: Option<i32>) -> GqlResult<Option<Vec<Guardian>>> {
            self.list::<ent::guardian::Entity, _>(ctx, "child.guardians", &rel::GUARDIANS, first, |m| Some(m.child_id), Guardian).await
        }
        /// School enrollments, latest school year first.
        async fn enrollments(&self, ctx: &Context<'_>, #[graphql(desc = "How many, newest first (default 20, at most 100)")] first: Option<i32>) -> GqlResult<Option<Vec<Enrollment>>> {
            self.list::<ent::enrollment::Entity, _>(ctx, "child.enrollments", &rel::ENROLLMENTS, first, |m| Some(m.child_id), Enrollment).await
        }
        /// Returns to school.
        async fn returns_to_school(&self, ctx: &Context<'_>, #[graphql(desc = "How many, newest first (default 20, at most 100)")] first: Option<i32>) -> GqlResult<Option<Vec<ReturnToSchool>>> {
            self.list::<ent::return_to_school::Entity, _>(ctx, "child.returnsToSchool", &rel::RETURNS_TO_SCHOOL, first, |m| Some(m.child_id), ReturnToSchool).await
        }
        /// Care plans (every version), newest first.
        async fn care_plans(&self, ctx: &Context<'_>, #[graphql(desc = "How many, newest first (default 20, at most 100)")] first: Option<i32>) -> GqlResult<Option<Vec<CarePlan>>> {
            self.list::<ent::care_plan::Entity, _>(ctx, "child.carePlans", &rel::CARE_PLANS, first, |m| Some(m.child_id), CarePlan).await
        }
        /// Visits planned and done, newest first.
        async fn visits(&self, ctx: &Context<'_>, #[graphql(desc = "How many, newest first (default 20, at most 100)")] first: Option<i32>) -> GqlResult<Option<Vec<Visit>>> {
            self.list::<ent::visit::Entity, _>(ctx, "child.visits", &rel::VISITS, first, |m| Some(m.child_id), Visit).await
        }
        /// Pairings with mentors, peers and volunteers.
        async fn pairings(&self, ctx: &Context<'_>, #[graphql(desc = "How many, newest first (default 20, at most 100)")] first: Option<i32>) -> GqlResult<Option<Vec<Pairing>>> {
            self.list::<ent::pairing::Entity, _>(ctx, "child.pairings", &rel::PAIRINGS, first, |m| Some(m.child_id), Pairing).await
        }
        /// Concern and mandatory reports about the child, newest first.
        async fn reports(&self, ctx: &Context<'_>, #[graphql(desc = "How many, newest first (default 20, at most 100)")] first: Option<i32>) -> GqlResult<Option<Vec<Report>>> {
            self.list::<ent::report::Entity, _>(ctx, "child.reports", &rel::REPORTS, first, |m| m.child_id, Report).await
        }
        /// Services delivered, newest first.
        async fn service_records(&self, ctx: &Context<'_>, #[graphql(desc = "How many, newest first (default 20, at most 100)")] first: Option<i32>) -> GqlResult<Option<Vec<ServiceRecord>>> {
            self.list::<ent::service_record::Entity, _>(ctx, "child.serviceRecords", &rel::SERVICE_RECORDS, first, |m| m.child_id, ServiceRecord).await
        }
        /// Referrals, newest first.
        async fn referrals(&self, ctx: &Context<'_>, #[graphql(desc = "How many, newest first (default 20, at most 100)")] first: Option<i32>) -> GqlResult<Option<Vec<Referral>>> {
            self.list::<ent::referral::Entity, _>(ctx, "child.referrals", &rel::REFERRALS, first, |m| Some(m.child_id), Referral).await
        }
        /// Victim-aid cases (the most restricted record).
        async fn victim_aid(&self, ctx: &Context<'_>, #[graphql(desc = "How many, newest first (default 20, at most 100)")] first: Option<i32>) -> GqlResult<Option<Vec<VictimAid>>> {
            self.list::<ent::victim_aid::Entity, _>(ctx, "child.victimAid", &rel::VICTIM_AID, first, |m| Some(m.child_id), VictimAid).await
        }
        /// Lawful bases and consents for sharing this child's data.
        async fn lawful_bases(&self, ctx: &Context<'_>, #[graphql(desc = "How many, newest first (default 20, at most 100)")] first: Option<i32>) -> GqlResult<Option<Vec<LawfulBasis>>> {
            self.list::<ent::lawful_basis::Entity, _>(ctx, "child.lawfulBases", &rel::LAWFUL_BASES, first, |m| Some(m.child_id), LawfulBasis).await
        }
    }
);

impl Child {
    async fn list<E, W>(
        &self,
        ctx: &Context<'_>,
        relation: &'static str,
        spec: &'static rel::ListSpec,
        first: Option<i32>,
        key_of: fn(&E::Model) -> Option<Uuid>,
        wrap: fn(crate::authz::Node<E::Model>) -> W,
    ) -> GqlResult<Option<Vec<W>>>
    where
        E: sea_orm::EntityTrait,
        E::Model: sea_orm::FromQueryResult + crate::authz::Record,
    {
        self.0.check(ctx).await?;
        let limit = nested_limit(first)?;
        let nodes =
            list_nodes::<_, E>(ctx, &self.0, relation, spec, limit, child_key, key_of).await?;
        Ok(Some(nodes.into_iter().map(wrap).collect()))
    }
}
