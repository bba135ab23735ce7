//! Domain enumerations of the shared child record (DESIGN.md §2), stored as their
//! SCREAMING_SNAKE names in text columns so both backends and every partner read the same value.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Declares a domain enum with its stored names, a `ALL` list and `as_str`/`parse`.
macro_rules! domain_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $($(#[$vm])* #[sea_orm(string_value = $s)] #[serde(rename = $s)] $variant),+
        }
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The stored (and GraphQL) name.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
            /// Parses a stored name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)+ _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

domain_enum!(
    /// The agencies that share the record, plus supervision and partner systems.
    Agency { CivilAffairs = "CIVIL_AFFAIRS", Education = "EDUCATION", Health = "HEALTH", YouthLeague = "YOUTH_LEAGUE", WomensFederation = "WOMENS_FEDERATION", Supervision = "SUPERVISION", Partner = "PARTNER" }
);
domain_enum!(
    /// Level of an administrative division; fixes how many digits of the code are significant.
    RegionLevel { Province = "PROVINCE", City = "CITY", County = "COUNTY", Township = "TOWNSHIP", Village = "VILLAGE" }
);
domain_enum!(
    /// Kind of organization (机构).
    OrganizationKind {
        School = "SCHOOL", PsychiatricHospital = "PSYCHIATRIC_HOSPITAL", GeneralHospital = "GENERAL_HOSPITAL",
        CommunityHealthCenter = "COMMUNITY_HEALTH_CENTER", WelfareInstitution = "WELFARE_INSTITUTION",
        ProtectionCenter = "PROTECTION_CENTER", ChildrenHome = "CHILDREN_HOME", YouthCenter = "YOUTH_CENTER",
        Hotline12355 = "HOTLINE_12355", SocialWorkOrg = "SOCIAL_WORK_ORG", AgencyOffice = "AGENCY_OFFICE",
        Procuratorate = "PROCURATORATE"
    }
);
domain_enum!(Gender { Male = "MALE", Female = "FEMALE", Unknown = "UNKNOWN" });
domain_enum!(
    /// Life-cycle status of a child's record.
    ChildStatus { Active = "ACTIVE", Closed = "CLOSED", Transferred = "TRANSFERRED", AgedOut = "AGED_OUT", Deceased = "DECEASED" }
);
domain_enum!(
    /// Difficulty categories (困境类别).
    DifficultyCategory {
        Orphan = "ORPHAN", Unattended = "UNATTENDED", LowIncome = "LOW_INCOME", Disabled = "DISABLED",
        SeriouslyIll = "SERIOUSLY_ILL", LeftBehind = "LEFT_BEHIND", Migrant = "MIGRANT", Victim = "VICTIM", Other = "OTHER"
    }
);
domain_enum!(
    /// Who the child lives with.
    LivingArrangement {
        WithParents = "WITH_PARENTS", WithOneParent = "WITH_ONE_PARENT", WithGrandparents = "WITH_GRANDPARENTS",
        WithRelatives = "WITH_RELATIVES", FosterFamily = "FOSTER_FAMILY", Institution = "INSTITUTION", Alone = "ALONE", Other = "OTHER"
    }
);
domain_enum!(
    GuardianRelation { Father = "FATHER", Mother = "MOTHER", Grandparent = "GRANDPARENT", Sibling = "SIBLING", OtherRelative = "OTHER_RELATIVE", Institution = "INSTITUTION", Other = "OTHER" }
);
domain_enum!(
    /// Whether guardianship is exercised (监护缺失/不当).
    GuardianshipStatus { Normal = "NORMAL", Absent = "ABSENT", Inadequate = "INADEQUATE" }
);
domain_enum!(
    EnrollmentStatus { Enrolled = "ENROLLED", Suspended = "SUSPENDED", Returned = "RETURNED", Transferred = "TRANSFERRED", DroppedOut = "DROPPED_OUT", Graduated = "GRADUATED" }
);
domain_enum!(
    /// Screening instruments; each has its own score range.
    Instrument { Mht = "MHT", Scl90 = "SCL_90", Sdq = "SDQ", Phq9 = "PHQ_9", Gad7 = "GAD_7", Other = "OTHER" }
);
domain_enum!(
    /// The configurable four-colour risk scale; ordered from lowest to highest.
    RiskLevel { Green = "GREEN", Yellow = "YELLOW", Orange = "ORANGE", Red = "RED" }
);
domain_enum!(CarePlanKind { SchoolOneStudentOnePlan = "SCHOOL_ONE_STUDENT_ONE_PLAN", Community = "COMMUNITY" });
domain_enum!(
    CarePlanStatus { Draft = "DRAFT", Submitted = "SUBMITTED", Returned = "RETURNED", Active = "ACTIVE", ReviewDue = "REVIEW_DUE", Completed = "COMPLETED", Closed = "CLOSED" }
);
domain_enum!(
    VisitKind {
        HeadTeacherHomeVisit = "HEAD_TEACHER_HOME_VISIT", ChildDirectorVisit = "CHILD_DIRECTOR_VISIT", SupervisorVisit = "SUPERVISOR_VISIT",
        Talk = "TALK", Questionnaire = "QUESTIONNAIRE", PostDischargeFollowUp = "POST_DISCHARGE_FOLLOW_UP", ReturnMonitoring = "RETURN_MONITORING"
    }
);
domain_enum!(
    Stressor { AcademicPressure = "ACADEMIC_PRESSURE", EconomicHardship = "ECONOMIC_HARDSHIP", FamilyChange = "FAMILY_CHANGE", RightsInfringed = "RIGHTS_INFRINGED", PsychOrBehaviour = "PSYCH_OR_BEHAVIOUR" }
);
domain_enum!(
    PairingKind { GrowthMentor = "GROWTH_MENTOR", PeerPartner = "PEER_PARTNER", CaringParent = "CARING_PARENT", Volunteer = "VOLUNTEER", SocialWorker = "SOCIAL_WORKER" }
);
domain_enum!(
    ReportCategory {
        Psychological = "PSYCHOLOGICAL", Behavioural = "BEHAVIOURAL", SelfHarmRisk = "SELF_HARM_RISK", Abuse = "ABUSE",
        SexualAbuse = "SEXUAL_ABUSE", Neglect = "NEGLECT", Bullying = "BULLYING", DomesticViolence = "DOMESTIC_VIOLENCE", Other = "OTHER"
    }
);
impl ReportCategory {
    /// Harm categories: reported to the police at once, narrative restricted to G-ABUSE.
    pub fn is_harm(&self) -> bool {
        matches!(
            self,
            ReportCategory::Abuse
                | ReportCategory::SexualAbuse
                | ReportCategory::Neglect
                | ReportCategory::Bullying
                | ReportCategory::DomesticViolence
        )
    }
}
domain_enum!(ReportedTo { Police = "POLICE", CivilAffairs = "CIVIL_AFFAIRS", Education = "EDUCATION" });
domain_enum!(Urgency { Urgent = "URGENT", Routine = "ROUTINE" });
domain_enum!(ReportStatus { Reported = "REPORTED", Acknowledged = "ACKNOWLEDGED", Handling = "HANDLING", Closed = "CLOSED" });
domain_enum!(CrisisTrigger { Screening = "SCREENING", Report = "REPORT", Observation = "OBSERVATION", Hotline = "HOTLINE", Other = "OTHER" });
domain_enum!(ReferralDirection { Up = "UP", Down = "DOWN", Lateral = "LATERAL" });
domain_enum!(
    ReferralStatus {
        Draft = "DRAFT", Sent = "SENT", Received = "RECEIVED", Accepted = "ACCEPTED", InService = "IN_SERVICE",
        Completed = "COMPLETED", Closed = "CLOSED", Rejected = "REJECTED", Failed = "FAILED", Revoked = "REVOKED"
    }
);
impl ReferralStatus {
    /// Statuses during which the receiver works the referral and sees its authorized view.
    pub const OPEN: &'static [ReferralStatus] = &[
        ReferralStatus::Sent,
        ReferralStatus::Received,
        ReferralStatus::Accepted,
        ReferralStatus::InService,
        ReferralStatus::Completed,
    ];
}
domain_enum!(TreatmentSetting { Outpatient = "OUTPATIENT", Inpatient = "INPATIENT", CommunityRehab = "COMMUNITY_REHAB" });
domain_enum!(
    ReturnStatus { PendingClearance = "PENDING_CLEARANCE", Cleared = "CLEARED", Planning = "PLANNING", Returned = "RETURNED", Monitoring = "MONITORING", Closed = "CLOSED" }
);
domain_enum!(VictimAidStatus { Open = "OPEN", InService = "IN_SERVICE", Closed = "CLOSED" });
domain_enum!(
    ServiceKind {
        Counseling = "COUNSELING", EmotionalSupport = "EMOTIONAL_SUPPORT", Hotline12355 = "HOTLINE_12355",
        FamilyEducationGuidance = "FAMILY_EDUCATION_GUIDANCE", MaterialAid = "MATERIAL_AID", LegalAid = "LEGAL_AID", Activity = "ACTIVITY", Other = "OTHER"
    }
);
domain_enum!(
    FlagKind {
        OverdueVisit = "OVERDUE_VISIT", OverdueFollowUp = "OVERDUE_FOLLOW_UP", RedWithoutPlan = "RED_WITHOUT_PLAN",
        MissingScreening = "MISSING_SCREENING", ReferralSlaBreach = "REFERRAL_SLA_BREACH", ReportOverdue = "REPORT_OVERDUE",
        SuspectedDuplicate = "SUSPECTED_DUPLICATE", Manual = "MANUAL"
    }
);
domain_enum!(
    /// Lawful basis for processing (PIPL art. 13, 28, 31).
    BasisKind { Consent = "CONSENT", SeparateConsent = "SEPARATE_CONSENT", WrittenConsent = "WRITTEN_CONSENT", StatutoryDuty = "STATUTORY_DUTY", Emergency = "EMERGENCY" }
);
domain_enum!(FindingStatus { Open = "OPEN", Rectifying = "RECTIFYING", Rectified = "RECTIFIED", Closed = "CLOSED" });
domain_enum!(
    /// Purpose of use stated with every request.
    Purpose {
        Care = "CARE", Screening = "SCREENING", Referral = "REFERRAL", Treatment = "TREATMENT", Crisis = "CRISIS",
        Supervision = "SUPERVISION", Statistics = "STATISTICS", PartnerSync = "PARTNER_SYNC"
    }
);
domain_enum!(BreakGlassOutcome { Justified = "JUSTIFIED", NotJustified = "NOT_JUSTIFIED", Escalated = "ESCALATED" });
domain_enum!(SafelistMode { Log = "LOG", Enforce = "ENFORCE", IdsOnly = "IDS_ONLY" });
