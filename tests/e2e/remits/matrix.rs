//! The generated authorization matrix: for every role, every field of every type reachable from
//! a child, and every input field of every mutation and filter, the outcome observed through the
//! real server equals the policy's decision. Row facts (own organization, owning agency, harm
//! class, referral view, lawful basis) are derived here from the fixture rows, independently of
//! the server's own code.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use carehub_entity as ent;
use carehub_policy::{ClassSet, GroupSet, Policy, Principal, ReadDecision, RowFacts, RowScope};
use carehub_tests::fixtures::Fixture;
use carehub_tests::*;
use sea_orm::EntityTrait;
use serde_json::{json, Value};
use uuid::Uuid;

use super::role_token;

/// Object and input types of the schema: type → (field → (base type, is list)).
struct Sdl {
    objects: BTreeMap<String, BTreeMap<String, (String, bool)>>,
    inputs: BTreeMap<String, BTreeMap<String, String>>,
    /// Mutation field → its argument (name, base type) pairs.
    mutation_args: BTreeMap<String, Vec<(String, String, bool)>>,
    scalars: BTreeSet<String>,
}

fn base(t: &Type) -> (String, bool) {
    match &t.base {
        BaseType::Named(n) => (n.to_string(), false),
        BaseType::List(inner) => (base(inner).0, true),
    }
}

fn sdl() -> Sdl {
    let doc = async_graphql::parser::parse_schema(carehub_api::graphql::sdl()).expect("SDL parses");
    let mut s = Sdl {
        objects: BTreeMap::new(),
        inputs: BTreeMap::new(),
        mutation_args: BTreeMap::new(),
        scalars: BTreeSet::new(),
    };
    for d in doc.definitions {
        if let TypeSystemDefinition::Type(t) = d {
            let name = t.node.name.node.to_string();
            match &t.node.kind {
                TypeKind::Object(o) => {
                    let mut fields = BTreeMap::new();
                    for f in &o.fields {
                        fields.insert(f.node.name.node.to_string(), base(&f.node.ty.node));
                        if name == "Mutation" {
                            let args = f
                                .node
                                .arguments
                                .iter()
                                .map(|a| {
                                    (
                                        a.node.name.node.to_string(),
                                        base(&a.node.ty.node).0,
                                        !a.node.ty.node.nullable,
                                    )
                                })
                                .collect();
                            s.mutation_args.insert(f.node.name.node.to_string(), args);
                        }
                    }
                    s.objects.insert(name, fields);
                }
                TypeKind::InputObject(o) => {
                    s.inputs.insert(
                        name,
                        o.fields
                            .iter()
                            .map(|f| (f.node.name.node.to_string(), base(&f.node.ty.node).0))
                            .collect(),
                    );
                }
                TypeKind::Scalar | TypeKind::Enum(_) => {
                    s.scalars.insert(name);
                }
                _ => {}
            }
        }
    }
    for b in ["String", "Int", "Float", "Boolean", "ID"] {
        s.scalars.insert(b.to_owned());
    }
    s
}

/// A selection of every field of `ty`, recursing into object fields up to `depth`.
fn selection(s: &Sdl, ty: &str, depth: usize) -> String {
    let Some(fields) = s.objects.get(ty) else {
        return String::new();
    };
    let mut out = vec!["__typename".to_owned()];
    for (f, (t, _)) in fields {
        if s.scalars.contains(t) {
            out.push(f.clone());
        } else if depth > 0 && t != "Region" {
            out.push(format!("{f} {{ {} }}", selection(s, t, depth - 1)));
        }
    }
    out.join(" ")
}

/// Everything the test knows about the fixture rows, loaded from the database.
struct Rows {
    owner: HashMap<Uuid, (ent::enums::Agency, Option<Uuid>, Option<Uuid>, ClassSet)>, // id → (owner agency, org, child, classes)
    referrals: Vec<ent::referral::Model>,
    bases: Vec<ent::lawful_basis::Model>,
    children: Vec<ent::child::Model>,
    enrollments: Vec<ent::enrollment::Model>,
    episodes: Vec<ent::treatment_episode::Model>,
    victim_aid: Vec<ent::victim_aid::Model>,
    plans: Vec<ent::care_plan::Model>,
    pairings: Vec<ent::pairing::Model>,
    reports: Vec<ent::report::Model>,
}

async fn rows(app: &TestApp) -> Rows {
    let db = app.conn();
    let mut owner = HashMap::new();
    macro_rules! load {
        ($m:ident, |$r:ident| $org:expr, $child:expr) => {{
            let all = ent::$m::Entity::find().all(db).await.unwrap();
            for $r in &all {
                owner.insert($r.id, ($r.owner_agency, $org, $child, ClassSet::EMPTY));
            }
            all
        }};
    }
    let children = load!(
        child,
        |r| r.responsible_org_id.or(r.owner_org_id),
        Some(r.id)
    );
    load!(child_difficulty, |r| r.owner_org_id, Some(r.child_id));
    load!(guardian, |r| r.owner_org_id, Some(r.child_id));
    let enrollments = load!(enrollment, |r| Some(r.school_id), Some(r.child_id));
    load!(
        screening,
        |r| r.organization_id.or(r.owner_org_id),
        Some(r.child_id)
    );
    let plans = load!(
        care_plan,
        |r| r.organization_id.or(r.owner_org_id),
        Some(r.child_id)
    );
    load!(
        visit,
        |r| r.organization_id.or(r.owner_org_id),
        Some(r.child_id)
    );
    let pairings = load!(
        pairing,
        |r| r.organization_id.or(r.owner_org_id),
        Some(r.child_id)
    );
    load!(crisis_event, |r| r.owner_org_id, Some(r.child_id));
    let referrals = load!(referral, |r| Some(r.from_org_id), Some(r.child_id));
    let episodes = load!(
        treatment_episode,
        |r| Some(r.organization_id),
        Some(r.child_id)
    );
    load!(return_to_school, |r| Some(r.school_id), Some(r.child_id));
    let victim_aid = load!(
        victim_aid,
        |r| r.organization_id.or(r.owner_org_id),
        Some(r.child_id)
    );
    load!(
        service_record,
        |r| r.organization_id.or(r.owner_org_id),
        r.child_id
    );
    load!(flag, |r| r.owner_org_id, Some(r.child_id));
    let bases = load!(lawful_basis, |r| r.owner_org_id, Some(r.child_id));
    let reports = ent::report::Entity::find().all(db).await.unwrap();
    for r in &reports {
        let classes = if r.category.is_harm() {
            ClassSet::HARM
        } else {
            ClassSet::EMPTY
        };
        owner.insert(
            r.id,
            (
                r.owner_agency,
                r.reporter_org_id.or(r.owner_org_id),
                r.child_id,
                classes,
            ),
        );
    }
    for o in ent::organization::Entity::find().all(db).await.unwrap() {
        owner.insert(o.id, (o.owner_agency, Some(o.id), None, ClassSet::EMPTY));
    }
    Rows {
        owner,
        referrals,
        bases,
        children,
        enrollments,
        episodes,
        victim_aid,
        plans,
        pairings,
        reports,
    }
}

/// Whether `child` satisfies a scope predicate, evaluated over the fixture rows.
fn holds(r: &Rows, pred: &carehub_policy::Pred, child: Uuid) -> bool {
    use carehub_policy::Pred::*;
    let open = |s: ent::enums::ReferralStatus| ent::enums::ReferralStatus::OPEN.contains(&s);
    let c = r
        .children
        .iter()
        .find(|c| c.id == child)
        .expect("child row");
    let org_is = |o: &String, x: Uuid| o.parse::<Uuid>().ok() == Some(x);
    match pred {
        And(v) => v.iter().all(|p| holds(r, p, child)),
        Or(v) => v.iter().any(|p| holds(r, p, child)),
        RegionPrefix(p) => carehub_api::domain::region::RegionPrefix::parse(p)
            .map(|p| p.contains(c.residence_region_code))
            .unwrap_or(false),
        OrgStudents { org } => r.enrollments.iter().any(|e| {
            e.child_id == child
                && org_is(org, e.school_id)
                && e.status == ent::enums::EnrollmentStatus::Enrolled
        }),
        Class { org, teacher } => r.enrollments.iter().any(|e| {
            e.child_id == child
                && org_is(org, e.school_id)
                && e.head_teacher.as_deref() == Some(teacher.as_str())
        }),
        Referred { org } => r
            .referrals
            .iter()
            .any(|x| x.child_id == child && org_is(org, x.to_org_id) && open(x.status)),
        Episode { org } => r
            .episodes
            .iter()
            .any(|e| e.child_id == child && org_is(org, e.organization_id)),
        Assigned { sub } => {
            r.plans
                .iter()
                .any(|p| p.child_id == child && p.lead_worker.as_deref() == Some(sub.as_str()))
                || r.pairings
                    .iter()
                    .any(|p| p.child_id == child && p.supporter == *sub)
                || r.victim_aid
                    .iter()
                    .any(|v| v.child_id == child && v.worker.as_deref() == Some(sub.as_str()))
        }
        Identified { sub } => {
            c.created_by == *sub
                || r.reports
                    .iter()
                    .any(|x| x.child_id == Some(child) && x.created_by == *sub)
        }
        Institution { org } => c.responsible_org_id.is_some_and(|o| org_is(org, o)),
    }
}

fn in_scope(r: &Rows, scope: &RowScope, child: Uuid) -> bool {
    match scope {
        RowScope::Nothing => false,
        RowScope::All => true,
        RowScope::Filter(p) => holds(r, p, child),
    }
}

/// The facts of a row for a principal, derived from the fixture rows.
fn facts(policy: &Policy, r: &Rows, p: &Principal, id: Uuid, parent: Option<Uuid>) -> RowFacts {
    let key = if r.owner.contains_key(&id) {
        id
    } else {
        parent.unwrap_or(id)
    };
    let (agency, org, child, classes) = r.owner.get(&key).copied().unwrap_or((
        ent::enums::Agency::Supervision,
        None,
        None,
        ClassSet::EMPTY,
    ));
    let my_org = p.org.as_deref().and_then(|o| o.parse::<Uuid>().ok());
    let role = policy.role(&p.role).unwrap();
    let mut view = None;
    let mut lawful = GroupSet::EMPTY;
    if let Some(c) = child {
        if policy.view_limited(role) && !in_scope(r, &policy.full_view_scope(p), c) {
            let mut set = GroupSet::EMPTY;
            for x in r.referrals.iter().filter(|x| {
                x.child_id == c
                    && Some(x.to_org_id) == my_org
                    && ent::enums::ReferralStatus::OPEN.contains(&x.status)
            }) {
                for g in x.authorized_view.as_array().unwrap() {
                    if let Some(g) = policy.group(g.as_str().unwrap()) {
                        set.insert(g);
                    }
                }
            }
            view = Some(set);
        }
        let has = |v: &Value, s: &str| v.as_array().unwrap().iter().any(|x| x.as_str() == Some(s));
        for b in r
            .bases
            .iter()
            .filter(|b| b.child_id == c && b.withdrawn_at.is_none())
        {
            if has(&b.recipients, p.agency.as_str()) && has(&b.purposes, p.purpose.as_str()) {
                for g in b.field_groups.as_array().unwrap() {
                    if let Some(g) = policy.group(g.as_str().unwrap()) {
                        lawful.insert(g);
                    }
                }
            }
        }
    }
    RowFacts {
        own_org: org.is_some() && org == my_org,
        same_agency: agency.as_str() == p.agency.as_str(),
        classes,
        view,
        lawful,
        break_glass: false,
        purpose: p.purpose,
    }
}

fn principal_of(app: &TestApp, token: &str) -> Principal {
    let claims = app.state.auth.verify(token).unwrap();
    let role = app.state.policy.role(&claims.role).unwrap();
    let info = app.state.policy.role_info(role);
    Principal {
        sub: claims.sub,
        agency: info.agency,
        role: claims.role,
        org: claims.org,
        region: claims.region,
        purpose: info.default_purpose,
        client_id: None,
    }
}

/// Errors of a response by path.
fn errors_by_path(body: &Value) -> HashMap<String, String> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let path: Vec<String> = e["path"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| p.to_string().trim_matches('"').to_owned())
                .collect();
            (
                path.join("/"),
                e["extensions"]["code"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

struct Walk<'a> {
    app: &'a TestApp,
    sdl: &'a Sdl,
    rows: &'a Rows,
    p: &'a Principal,
    errors: HashMap<String, String>,
    checked: &'a mut BTreeSet<String>,
    mismatches: Vec<String>,
}

impl Walk<'_> {
    fn object(&mut self, ty: &str, v: &Value, path: &str, parent: Option<Uuid>) {
        let Some(fields) = self.sdl.objects.get(ty) else {
            return;
        };
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Uuid>().ok());
        let row_id = id.unwrap_or(parent.unwrap_or_default());
        let policy = &self.app.state.policy;
        let role = policy.role(&self.p.role).unwrap();
        let f = facts(policy, self.rows, self.p, row_id, parent);
        for (name, (fty, list)) in fields {
            if v.get(name).is_none() {
                continue;
            }
            let qualified = format!("{ty}.{name}");
            let fid = policy
                .field(&qualified)
                .unwrap_or_else(|| panic!("{qualified} not in policy"));
            // Relation fields are decided as on the caller's own row: organization and agency
            // rules apply to the nested records themselves.
            let relation = !self.sdl.scalars.contains(fty);
            let mut rf = f;
            if relation {
                rf.own_org = true;
                rf.same_agency = true;
            }
            let expected = policy.decide_read(role, fid, &rf);
            let here = format!("{path}/{name}");
            let observed = self.errors.get(&here).cloned().unwrap_or_default();
            let want = match expected {
                ReadDecision::Deny(_) => "FORBIDDEN",
                ReadDecision::ConsentRequired { .. } => "CONSENT_REQUIRED",
                _ => "",
            };
            self.checked.insert(qualified.clone());
            if observed != want {
                self.mismatches.push(format!("{} reading {qualified} at {here}: policy says {want:?}, server said {observed:?}", self.p.role));
                continue;
            }
            let value = &v[name];
            if !self.sdl.scalars.contains(fty) && !value.is_null() {
                if *list {
                    for (i, item) in value.as_array().unwrap().iter().enumerate() {
                        self.object(fty, item, &format!("{here}/{i}"), id.or(parent));
                    }
                } else {
                    self.object(fty, value, &here, id.or(parent));
                }
            }
        }
    }
}

backend_test!(read_matrix_matches_policy, |backend| {
    // One query selects every Child field three levels deep: far above the default complexity
    // limit, which is not what this test is about.
    let app = TestApp::spawn_with(backend, &[("CAREHUB_MAX_COMPLEXITY", "10000000")]).await;
    let fx: Fixture = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let sdl = sdl();
    let rows = rows(&app).await;
    let child_sel = selection(&sdl, "Child", 3);
    let query = format!("{{ children(first: 50) {{ edges {{ node {{ {child_sel} }} }} }} }}");
    let policy = app.state.policy.clone();
    let mut checked = BTreeSet::new();
    let mut mismatches = Vec::new();
    let mut reached_rows = 0;
    for role in policy.roles() {
        let name = policy.role_info(role).name.clone();
        let token = role_token(&app, &fx, &name);
        let p = principal_of(&app, &token);
        let body = app.gql(&token, &query, json!({})).await;
        let errors = errors_by_path(&body);
        let list_fid = policy.field("Query.children").unwrap();
        if !policy.static_read(role, list_fid) {
            assert_eq!(
                errors.get("children").map(String::as_str),
                Some("FORBIDDEN"),
                "{name}: {body}"
            );
            continue;
        }
        let edges = body["data"]["children"]["edges"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // The rows returned are exactly the role's scope.
        let expected_ids: BTreeSet<String> = rows
            .children
            .iter()
            .filter(|c| in_scope(&rows, &policy.row_scope(&p), c.id))
            .map(|c| c.id.to_string())
            .collect();
        let got_ids: BTreeSet<String> = edges
            .iter()
            .filter_map(|e| e["node"]["id"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(
            got_ids, expected_ids,
            "{name}: rows returned differ from the scope"
        );
        reached_rows += edges.len();
        let mut walk = Walk {
            app: &app,
            sdl: &sdl,
            rows: &rows,
            p: &p,
            errors,
            checked: &mut checked,
            mismatches: Vec::new(),
        };
        for (i, e) in edges.iter().enumerate() {
            walk.object(
                "Child",
                &e["node"],
                &format!("children/edges/{i}/node"),
                None,
            );
        }
        mismatches.extend(walk.mismatches);
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(reached_rows > 0);
    // Every field of every type reachable from a child was decided at least once.
    let mut unreached = Vec::new();
    let mut stack = vec!["Child".to_owned()];
    let mut seen = BTreeSet::new();
    while let Some(t) = stack.pop() {
        if !seen.insert(t.clone()) || t == "Region" {
            continue;
        }
        for (f, (ft, _)) in &sdl.objects[&t] {
            if !checked.contains(&format!("{t}.{f}")) {
                unreached.push(format!("{t}.{f}"));
            }
            if sdl.objects.contains_key(ft) {
                stack.push(ft.clone());
            }
        }
    }
    assert!(
        unreached.is_empty(),
        "fields never exercised by any role: {unreached:?}"
    );
});

fn dummy(sdl: &Sdl, ty: &str) -> String {
    match ty {
        "Int" => "1".into(),
        "Float" => "1.5".into(),
        "Boolean" => "true".into(),
        t if sdl.inputs.contains_key(t) => "{}".into(),
        _ => "\"x\"".into(),
    }
}

backend_test!(write_matrix_matches_policy, |backend| {
    let app = TestApp::spawn(backend).await;
    let fx: Fixture = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let sdl = sdl();
    let policy = app.state.policy.clone();
    let mut mismatches = Vec::new();
    let mut cases = 0;
    for role in policy.roles() {
        let name = policy.role_info(role).name.clone();
        let token = role_token(&app, &fx, &name);
        for (mutation, args) in &sdl.mutation_args {
            let root_ok =
                policy.static_write(role, policy.field(&format!("Mutation.{mutation}")).unwrap());
            // The mutation with only its required scalar arguments: the root decision alone.
            let mut fixed: Vec<String> = args
                .iter()
                .filter(|(_, t, req)| *req && !sdl.inputs.contains_key(t))
                .map(|(n, t, _)| format!("{n}: {}", dummy(&sdl, t)))
                .collect();
            let inputs: Vec<&(String, String, bool)> = args
                .iter()
                .filter(|(_, t, _)| sdl.inputs.contains_key(t))
                .collect();
            for (arg, input_ty, _) in &inputs {
                for field in sdl.inputs[input_ty].keys() {
                    let field_ok = policy
                        .static_write(role, policy.field(&format!("{input_ty}.{field}")).unwrap());
                    let value = dummy(&sdl, &sdl.inputs[input_ty][field]);
                    let mut all = fixed.clone();
                    all.push(format!("{arg}: {{ {field}: {value} }}"));
                    let doc = format!(
                        "mutation {{ {mutation}({}) {{ __typename }} }}",
                        all.join(", ")
                    );
                    let body = app.gql(&token, &doc, json!({})).await;
                    let forbidden = error_codes(&body).iter().any(|c| c == "FORBIDDEN");
                    let expected = !(root_ok && field_ok);
                    cases += 1;
                    if forbidden != expected {
                        mismatches.push(format!("{name} writing {input_ty}.{field} via {mutation}: policy forbids={expected}, server forbids={forbidden}: {body}"));
                    }
                }
            }
            if inputs.is_empty() {
                let doc = format!(
                    "mutation {{ {mutation}{} {{ __typename }} }}",
                    if fixed.is_empty() {
                        String::new()
                    } else {
                        format!("({})", fixed.join(", "))
                    }
                );
                let body = app.gql(&token, &doc, json!({})).await;
                let forbidden = error_codes(&body).iter().any(|c| c == "FORBIDDEN")
                    && body["errors"][0]["extensions"]["field"] == format!("Mutation.{mutation}");
                cases += 1;
                if forbidden == root_ok {
                    mismatches.push(format!("{name} calling {mutation}: policy allows={root_ok}, server forbids={forbidden}: {body}"));
                }
            }
            fixed.clear();
        }
        // Filters and sort keys are authorized as reads.
        for (input_ty, root) in [
            ("ChildFilter", "children(filter: {F})"),
            ("ChildOrder", "children(orderBy: {F})"),
        ] {
            for field in sdl.inputs[input_ty].keys() {
                let ok =
                    policy.static_read(role, policy.field(&format!("{input_ty}.{field}")).unwrap());
                let value = if input_ty == "ChildOrder" {
                    "ASC".to_owned()
                } else {
                    dummy(&sdl, &sdl.inputs[input_ty][field])
                };
                let doc = format!(
                    "{{ {} {{ totalCount }} }}",
                    root.replace('F', &format!("{field}: {value}"))
                );
                let body = app.gql(&token, &doc, json!({})).await;
                let forbidden = error_codes(&body).iter().any(|c| c == "FORBIDDEN")
                    && body["errors"][0]["extensions"]["field"]
                        .as_str()
                        .is_some_and(|f| f.starts_with(input_ty));
                cases += 1;
                if forbidden == ok {
                    mismatches.push(format!("{name} filtering/sorting on {input_ty}.{field}: policy allows={ok}, server forbids={forbidden}: {body}"));
                }
            }
        }
    }
    assert!(cases > 1000, "only {cases} cases");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
});
