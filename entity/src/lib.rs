//! SeaORM entities and domain enums of the carehub record: data shapes only, no behaviour.
//! One module per table; enums are stored as their SCREAMING_SNAKE names.

pub mod api_client;
pub mod app_meta;
pub mod audit_checkpoint;
pub mod audit_entry;
pub mod break_glass_grant;
pub mod care_plan;
pub mod care_plan_intervention;
pub mod change_event;
pub mod child;
pub mod child_difficulty;
pub mod crisis_event;
pub mod enrollment;
pub mod enums;
pub mod flag;
pub mod guardian;
pub mod idempotency_key;
pub mod lawful_basis;
pub mod organization;
pub mod pairing;
pub mod persisted_operation;
pub mod referral;
pub mod region;
pub mod report;
pub mod return_to_school;
pub mod screening;
pub mod service_record;
pub mod supervision_finding;
pub mod treatment_episode;
pub mod victim_aid;
pub mod visit;
pub mod workflow_transition;

pub use sea_orm;
