//! Deterministic synthetic demo data for the Guangxi region (`carehub seed`, and the first start
//! of an empty embedded database).
//!
//! The directory (regions and every agency's organizations) comes from the seed's structure
//! stream; then children are generated in chunks of `CHUNK` on a blocking thread and each
//! chunk is inserted in one transaction, with multi-row inserts kept under `MAX_BINDS` bind
//! parameters per statement (SQLite allows 32,766). On PostgreSQL up to `WRITERS` chunks are
//! inserted at once on separate pooled connections (each chunk holds its children and all their
//! records, so the chunks are independent).
//!
//! Same (children, seed) ⇒ the same rows, whatever the chunking or the order in which chunks
//! commit — except the ID-number ciphertexts, whose AES-GCM nonces are fresh on every
//! encryption by design (their blind indexes and masks are identical). Names, ID numbers,
//! phones and addresses are synthetic. "Now" is 2026-11-28T00:00:00Z (see `time`).
//!
//! Worker subjects follow one scheme, so development tokens can be minted for them:
//! `teacher-<school>-g<grade>c<class>` (head teacher, e.g. `teacher-450102s1-g3c2`),
//! `counselor-<school>`, `principal-<school>`, `registrar-<school>`, `mentor-<school>-<n>`,
//! `director-<village code>` (village child director), `ca-officer-<county>-<n>`,
//! `ca-chief-<county>`, `wf-worker-<county>-<n>`, `chc-doctor-<county>-<n>`,
//! `doctor-<county>-<n>`, `clinician-<city>-<n>`, `hotline-<city>-<n>`, pairing supporters
//! `peer-<school>-<n>`, `caring-parent-<county>-<n>`, `volunteer-<city>-<n>`,
//! `social-worker-<county>-<n>`, and `system` for flags.

mod generate;
mod names;
mod text;
mod time;
mod world;

use anyhow::{bail, Context};
use carehub_entity::{
    app_meta, care_plan, care_plan_intervention, child, child_difficulty, crisis_event, enrollment,
    flag, guardian, lawful_basis, organization, pairing, referral, region, report,
    return_to_school, screening, service_record, treatment_episode, victim_aid, visit,
    workflow_transition,
};
use rand::Rng;
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, IntoActiveModel, Iterable, Statement,
    TransactionTrait, Value,
};
use std::sync::Arc;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::state::AppState;
use generate::{Batch, Generator};
use world::World;

/// Children generated and inserted per transaction.
pub(crate) const CHUNK: u32 = 2_000;

/// Upper bound of bind parameters in one INSERT statement.
const MAX_BINDS: usize = 30_000;

/// Chunks inserted concurrently on PostgreSQL.
const WRITERS: usize = 4;

/// Picks one value of a weighted list (weights must not all be zero).
pub(crate) fn pick<T: Copy>(r: &mut impl Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| *w).sum();
    let mut x = r.gen_range(0..total.max(1));
    for (v, w) in items {
        if x < *w {
            return *v;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

/// A random (version 4) UUID drawn from the generator's stream, so ids are reproducible.
pub(crate) fn uuid(r: &mut impl Rng) -> Uuid {
    uuid::Builder::from_random_bytes(r.gen()).into_uuid()
}

/// Rows written per table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub regions: usize,
    pub organizations: usize,
    pub children: usize,
    pub difficulties: usize,
    pub guardians: usize,
    pub enrollments: usize,
    pub screenings: usize,
    pub reports: usize,
    pub care_plans: usize,
    pub interventions: usize,
    pub visits: usize,
    pub pairings: usize,
    pub crisis_events: usize,
    pub referrals: usize,
    pub episodes: usize,
    pub returns: usize,
    pub victim_aid: usize,
    pub services: usize,
    pub flags: usize,
    pub lawful_bases: usize,
    pub transitions: usize,
}

impl Counts {
    fn add(&mut self, b: &Batch) {
        self.children += b.children.len();
        self.difficulties += b.difficulties.len();
        self.guardians += b.guardians.len();
        self.enrollments += b.enrollments.len();
        self.screenings += b.screenings.len();
        self.reports += b.reports.len();
        self.care_plans += b.care_plans.len();
        self.interventions += b.interventions.len();
        self.visits += b.visits.len();
        self.pairings += b.pairings.len();
        self.crisis_events += b.crisis_events.len();
        self.referrals += b.referrals.len();
        self.episodes += b.episodes.len();
        self.returns += b.returns.len();
        self.victim_aid += b.victim_aid.len();
        self.services += b.services.len();
        self.flags += b.flags.len();
        self.lawful_bases += b.lawful_bases.len();
        self.transitions += b.transitions.len();
    }

    fn report(&self, seed: u64) -> String {
        format!(
            "seeded {} children, {} guardians, {} difficulty categories, {} enrollments, {} screenings, {} care plans \
             ({} interventions), {} visits, {} pairings, {} reports, {} crisis events, {} referrals, {} treatment \
             episodes, {} returns to school, {} victim-aid cases, {} service records, {} flags, {} lawful bases, {} \
             workflow transitions; {} regions, {} organizations (seed {seed})",
            self.children,
            self.guardians,
            self.difficulties,
            self.enrollments,
            self.screenings,
            self.care_plans,
            self.interventions,
            self.visits,
            self.pairings,
            self.reports,
            self.crisis_events,
            self.referrals,
            self.episodes,
            self.returns,
            self.victim_aid,
            self.services,
            self.flags,
            self.lawful_bases,
            self.transitions,
            self.regions,
            self.organizations,
        )
    }
}

/// Inserts `rows` with multi-row statements of at most `MAX_BINDS` parameters.
async fn insert_rows<E, C>(db: &C, rows: Vec<E::Model>) -> Result<(), DbErr>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
    C: ConnectionTrait,
{
    let per_statement = (MAX_BINDS / E::Column::iter().count().max(1)).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let part: Vec<E::ActiveModel> = rows
            .by_ref()
            .take(per_statement)
            .map(IntoActiveModel::into_active_model)
            .collect();
        E::insert_many(part).exec_without_returning(db).await?;
    }
    Ok(())
}

/// Inserts a batch, parents before children (foreign keys).
async fn insert_batch<C: ConnectionTrait>(db: &C, b: Batch) -> Result<(), DbErr> {
    insert_rows::<child::Entity, _>(db, b.children).await?;
    insert_rows::<child_difficulty::Entity, _>(db, b.difficulties).await?;
    insert_rows::<guardian::Entity, _>(db, b.guardians).await?;
    insert_rows::<enrollment::Entity, _>(db, b.enrollments).await?;
    insert_rows::<screening::Entity, _>(db, b.screenings).await?;
    insert_rows::<report::Entity, _>(db, b.reports).await?;
    insert_rows::<care_plan::Entity, _>(db, b.care_plans).await?;
    insert_rows::<care_plan_intervention::Entity, _>(db, b.interventions).await?;
    insert_rows::<visit::Entity, _>(db, b.visits).await?;
    insert_rows::<pairing::Entity, _>(db, b.pairings).await?;
    insert_rows::<crisis_event::Entity, _>(db, b.crisis_events).await?;
    insert_rows::<referral::Entity, _>(db, b.referrals).await?;
    insert_rows::<treatment_episode::Entity, _>(db, b.episodes).await?;
    insert_rows::<return_to_school::Entity, _>(db, b.returns).await?;
    insert_rows::<victim_aid::Entity, _>(db, b.victim_aid).await?;
    insert_rows::<service_record::Entity, _>(db, b.services).await?;
    insert_rows::<flag::Entity, _>(db, b.flags).await?;
    insert_rows::<lawful_basis::Entity, _>(db, b.lawful_bases).await?;
    insert_rows::<workflow_transition::Entity, _>(db, b.transitions).await?;
    Ok(())
}

async fn has_rows<E: EntityTrait, C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    Ok(E::find().one(db).await?.is_some())
}

/// Seeds `children` children with random seed `seed` into an empty database and returns a
/// one-line report of what was written.
///
/// Generation (on a blocking thread) overlaps with insertion; on PostgreSQL a few chunks are
/// inserted concurrently, each in its own transaction, on separate pooled connections.
pub async fn seed(state: &AppState, children: u32, seed: u64) -> anyhow::Result<String> {
    let db = state.db.write.clone();
    if has_rows::<region::Entity, _>(&db)
        .await
        .context("checking for existing data")?
        || has_rows::<child::Entity, _>(&db)
            .await
            .context("checking for existing data")?
    {
        bail!("database already has data; seed an empty database");
    }
    let world = Arc::new(World::build(seed));
    let mut counts = Counts {
        regions: world.regions.len(),
        organizations: world.organizations.len(),
        ..Counts::default()
    };
    let txn = db
        .begin()
        .await
        .context("starting the directory transaction")?;
    insert_rows::<region::Entity, _>(&txn, world.regions.clone())
        .await
        .context("inserting regions")?;
    insert_rows::<organization::Entity, _>(&txn, world.organizations.clone())
        .await
        .context("inserting organizations")?;
    txn.commit().await.context("committing the directory")?;

    // SQLite has one writer; PostgreSQL takes several chunks at once.
    let writers = match db.get_database_backend() {
        DbBackend::Sqlite => 1,
        _ => (state.settings.db_pool_max as usize)
            .saturating_sub(1)
            .clamp(1, WRITERS),
    };
    let mut generator = Generator::new(world, seed);
    let mut running: JoinSet<anyhow::Result<()>> = JoinSet::new();
    let mut start = 0;
    while start < children {
        let end = start.saturating_add(CHUNK).min(children);
        let vault = state.vault.clone();
        let (g, batch) = tokio::task::spawn_blocking(move || {
            let mut batch = generator.chunk(start..end);
            batch.seal(&vault);
            (generator, batch)
        })
        .await
        .context("generating demo data")?;
        generator = g;
        counts.add(&batch);
        while running.len() >= writers {
            if let Some(done) = running.join_next().await {
                done.context("inserting demo data")??;
            }
        }
        let db = db.clone();
        running.spawn(async move {
            let txn = db.begin().await.context("starting a chunk transaction")?;
            insert_batch(&txn, batch)
                .await
                .with_context(|| format!("inserting children {start}..{end}"))?;
            txn.commit()
                .await
                .with_context(|| format!("committing children {start}..{end}"))?;
            tracing::debug!(seed.done = end, "seeded a chunk of children");
            Ok(())
        });
        start = end;
    }
    while let Some(done) = running.join_next().await {
        done.context("inserting demo data")??;
    }
    // The rows went in without the write path: derive every child's difficulty period.
    let today = chrono::Utc::now().date_naive();
    db.execute_raw(crate::write::derived::refresh_period(
        db.get_database_backend(),
        today,
        crate::write::derived::Which::All,
    ))
    .await
    .context("deriving the children's difficulty periods")?;
    Ok(counts.report(seed))
}

/// Seeds the embedded database on its first start: only if there are no children and no
/// record of an earlier seeding; records the report under `app_meta("seeded")`.
pub async fn seed_if_empty(state: &AppState) -> anyhow::Result<()> {
    let db = &state.db.write;
    if app_meta::Entity::find_by_id("seeded".to_owned())
        .one(db)
        .await
        .context("reading app_meta")?
        .is_some()
        || has_rows::<child::Entity, _>(db)
            .await
            .context("checking for children")?
    {
        return Ok(());
    }
    if has_rows::<region::Entity, _>(db)
        .await
        .context("checking for regions")?
    {
        tracing::warn!("the database has regions but no children; not seeding demo data into it");
        return Ok(());
    }
    let started = std::time::Instant::now();
    let report = seed(state, state.settings.seed_children, state.settings.seed).await?;
    let row = app_meta::Model {
        key: "seeded".to_owned(),
        value: report.clone(),
        updated_at: chrono::Utc::now(),
    };
    app_meta::Entity::insert(row.into_active_model())
        .exec_without_returning(db)
        .await
        .context("recording the seeding")?;
    tracing::info!(seed.report = %report, seed.seconds = started.elapsed().as_secs_f64(), "seeded demo data");
    Ok(())
}

/// The 6-digit county prefix (e.g. `450102`) with the most children, for the console hint.
pub async fn busiest_county(state: &AppState) -> Option<String> {
    let db = &state.db.write;
    let sql = "SELECT county_code, COUNT(*) AS n FROM children GROUP BY county_code ORDER BY n DESC, county_code LIMIT 1";
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            Vec::<Value>::new(),
        ))
        .await
        .ok()??;
    let code: i64 = row.try_get("", "county_code").ok()?;
    Some(crate::domain::region::format_code(code)[..6].to_owned())
}
