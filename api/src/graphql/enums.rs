//! GraphQL mirrors of the domain enums (entity crate), converted both ways by exhaustive
//! matches so the two lists cannot drift apart silently.

use async_graphql::Enum;
use carehub_entity::enums as e;

macro_rules! gql_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
        pub enum $name { $($(#[$vm])* $variant),+ }
        // Exhaustive both ways: a variant added on one side only does not compile.
        impl From<e::$name> for $name {
            fn from(v: e::$name) -> Self {
                match v { $(e::$name::$variant => $name::$variant),+ }
            }
        }
        impl From<$name> for e::$name {
            fn from(v: $name) -> Self {
                match v { $($name::$variant => e::$name::$variant),+ }
            }
        }
        impl crate::authz::guard::Maskable for $name {
            fn masked(self, _: u8, _: u8) -> Option<Self> {
                None
            }
        }
    };
}

gql_enum!(
    /// The agencies that share the record (and supervision, partners).
    Agency { CivilAffairs, Education, Health, YouthLeague, WomensFederation, Supervision, Partner }
);
gql_enum!(RegionLevel {
    Province,
    City,
    County,
    Township,
    Village
});
gql_enum!(
    /// Kind of organization (机构).
    OrganizationKind {
        School, PsychiatricHospital, GeneralHospital, CommunityHealthCenter, WelfareInstitution,
        ProtectionCenter, ChildrenHome, YouthCenter, #[graphql(name = "HOTLINE_12355")] Hotline12355,
        SocialWorkOrg, AgencyOffice, Procuratorate
    }
);
gql_enum!(Gender {
    Male,
    Female,
    Unknown
});
gql_enum!(ChildStatus {
    Active,
    Closed,
    Transferred,
    AgedOut,
    Deceased
});
gql_enum!(
    /// Difficulty categories (困境类别).
    DifficultyCategory { Orphan, Unattended, LowIncome, Disabled, SeriouslyIll, LeftBehind, Migrant, Victim, Other }
);
gql_enum!(LivingArrangement {
    WithParents,
    WithOneParent,
    WithGrandparents,
    WithRelatives,
    FosterFamily,
    Institution,
    Alone,
    Other
});
gql_enum!(GuardianRelation {
    Father,
    Mother,
    Grandparent,
    Sibling,
    OtherRelative,
    Institution,
    Other
});
gql_enum!(GuardianshipStatus {
    Normal,
    Absent,
    Inadequate
});
gql_enum!(EnrollmentStatus {
    Enrolled,
    Suspended,
    Returned,
    Transferred,
    DroppedOut,
    Graduated
});
gql_enum!(
    /// Screening instrument.
    Instrument { Mht, #[graphql(name = "SCL_90")] Scl90, Sdq, #[graphql(name = "PHQ_9")] Phq9, #[graphql(name = "GAD_7")] Gad7, Other }
);
gql_enum!(
    /// Risk scale: GREEN 未见明显风险, YELLOW 一般关注, ORANGE 重点关注, RED 危机.
    RiskLevel { Green, Yellow, Orange, Red }
);
gql_enum!(CarePlanKind {
    SchoolOneStudentOnePlan,
    Community
});
gql_enum!(CarePlanStatus {
    Draft,
    Submitted,
    Returned,
    Active,
    ReviewDue,
    Completed,
    Closed
});
gql_enum!(VisitKind {
    HeadTeacherHomeVisit,
    ChildDirectorVisit,
    SupervisorVisit,
    Talk,
    Questionnaire,
    PostDischargeFollowUp,
    ReturnMonitoring
});
gql_enum!(Stressor {
    AcademicPressure,
    EconomicHardship,
    FamilyChange,
    RightsInfringed,
    PsychOrBehaviour
});
gql_enum!(PairingKind {
    GrowthMentor,
    PeerPartner,
    CaringParent,
    Volunteer,
    SocialWorker
});
gql_enum!(ReportCategory {
    Psychological,
    Behavioural,
    SelfHarmRisk,
    Abuse,
    SexualAbuse,
    Neglect,
    Bullying,
    DomesticViolence,
    Other
});
gql_enum!(ReportedTo {
    Police,
    CivilAffairs,
    Education
});
gql_enum!(Urgency { Urgent, Routine });
gql_enum!(ReportStatus {
    Reported,
    Acknowledged,
    Handling,
    Closed
});
gql_enum!(CrisisTrigger {
    Screening,
    Report,
    Observation,
    Hotline,
    Other
});
gql_enum!(ReferralDirection { Up, Down, Lateral });
gql_enum!(ReferralStatus {
    Draft,
    Sent,
    Received,
    Accepted,
    InService,
    Completed,
    Closed,
    Rejected,
    Failed,
    Revoked
});
gql_enum!(TreatmentSetting {
    Outpatient,
    Inpatient,
    CommunityRehab
});
gql_enum!(ReturnStatus {
    PendingClearance,
    Cleared,
    Planning,
    Returned,
    Monitoring,
    Closed
});
gql_enum!(VictimAidStatus {
    Open,
    InService,
    Closed
});
gql_enum!(ServiceKind {
    Counseling,
    EmotionalSupport,
    #[graphql(name = "HOTLINE_12355")]
    Hotline12355,
    FamilyEducationGuidance,
    MaterialAid,
    LegalAid,
    Activity,
    Other
});
gql_enum!(FlagKind {
    OverdueVisit,
    OverdueFollowUp,
    RedWithoutPlan,
    MissingScreening,
    ReferralSlaBreach,
    ReportOverdue,
    SuspectedDuplicate,
    Manual
});
gql_enum!(BasisKind {
    Consent,
    SeparateConsent,
    WrittenConsent,
    StatutoryDuty,
    Emergency
});
gql_enum!(FindingStatus {
    Open,
    Rectifying,
    Rectified,
    Closed
});
gql_enum!(
    /// Purpose of use (X-Purpose header).
    Purpose { Care, Screening, Referral, Treatment, Crisis, Supervision, Statistics, PartnerSync }
);
gql_enum!(BreakGlassOutcome {
    Justified,
    NotJustified,
    Escalated
});

/// Sort direction of an order input.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SortDirection {
    Asc,
    Desc,
}
