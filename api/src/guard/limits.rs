//! Query limits, checked before validation and execution: query text size, variables size,
//! depth, complexity (every field costs 1, and a field with a `first` argument multiplies what
//! it selects by `first` — its default of 20 when absent), aliases, root fields and directives.
//! Each refusal is a `BAD_USER_INPUT` error naming the limit (`extensions.limit`), the observed
//! value and the maximum, so a client knows what to change. Fragments are measured once each,
//! so fragment "bombs" cost linear time to refuse; cycles are left to validation.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{Positioned, Request, ServerError, ServerResult, Value, Variables};

use crate::config::Settings;
use crate::error::Code;

/// Page size a `first` argument means when it is absent (the resolvers' default).
const DEFAULT_FIRST: u64 = 20;
/// Fragment spreads nested deeper than this are refused outright (no real document needs it).
const MAX_FRAGMENT_NESTING: usize = 64;

/// The configured limits; also the extension factory.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_directives: usize,
    pub max_query_bytes: usize,
    pub max_variables_bytes: usize,
}

impl QueryLimits {
    /// Limits from the settings table.
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            max_depth: s.max_depth,
            max_complexity: s.max_complexity,
            max_aliases: s.max_aliases,
            max_root_fields: s.max_root_fields,
            max_directives: s.max_directives,
            max_query_bytes: s.max_query_bytes,
            max_variables_bytes: s.max_variables_bytes,
        }
    }
}

impl ExtensionFactory for QueryLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitsExt(self.clone()))
    }
}

struct LimitsExt(QueryLimits);

/// A refusal naming the limit, the observed value and the maximum.
pub fn limit_error(
    limit: &str,
    setting: &str,
    observed: u64,
    max: usize,
    what: &str,
) -> ServerError {
    let mut e = ServerError::new(
        format!("{what}: {observed} exceeds the limit of {max} ({setting})"),
        None,
    );
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", Code::BadUserInput.as_str());
    ext.set("field", "query");
    ext.set("limit", limit);
    ext.set("observed", observed);
    ext.set("max", max as u64);
    e.extensions = Some(ext);
    e
}

#[async_trait::async_trait]
impl Extension for LimitsExt {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let l = &self.0;
        if request.query.len() > l.max_query_bytes {
            return Err(limit_error(
                "query_bytes",
                "CAREHUB_MAX_QUERY_BYTES",
                request.query.len() as u64,
                l.max_query_bytes,
                "query text size in bytes",
            ));
        }
        let vars = serde_json::to_vec(&request.variables)
            .map(|v| v.len())
            .unwrap_or(0);
        if vars > l.max_variables_bytes {
            return Err(limit_error(
                "variables_bytes",
                "CAREHUB_MAX_VARIABLES_BYTES",
                vars as u64,
                l.max_variables_bytes,
                "variables size in bytes (as JSON)",
            ));
        }
        let variables = request.variables.clone();
        let doc = request.parsed_query()?;
        check(&ctx.schema_env.registry, doc, &variables, l)?;
        next.run(ctx, request).await
    }
}

/// What a selection set costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measure {
    pub depth: u64,
    pub complexity: u64,
    pub aliases: u64,
    pub directives: u64,
    pub root_fields: u64,
}

impl Measure {
    fn add(&mut self, o: &Measure) {
        self.depth = self.depth.max(o.depth);
        self.complexity = self.complexity.saturating_add(o.complexity);
        self.aliases = self.aliases.saturating_add(o.aliases);
        self.directives = self.directives.saturating_add(o.directives);
        self.root_fields = self.root_fields.saturating_add(o.root_fields);
    }
}

/// Checks every operation of the document against the limits.
pub fn check(
    registry: &Registry,
    doc: &ExecutableDocument,
    variables: &Variables,
    l: &QueryLimits,
) -> ServerResult<()> {
    let mut w = Walker {
        registry,
        doc,
        variables,
        memo: HashMap::new(),
        active: Vec::new(),
    };
    for (_, op) in doc.operations.iter() {
        let root = match op.node.ty {
            async_graphql::parser::types::OperationType::Query => registry.query_type.as_str(),
            async_graphql::parser::types::OperationType::Mutation => {
                registry.mutation_type.as_deref().unwrap_or("")
            }
            async_graphql::parser::types::OperationType::Subscription => {
                registry.subscription_type.as_deref().unwrap_or("")
            }
        };
        let mut m = w.set(root, &op.node.selection_set, true, 0)?;
        m.directives = m.directives.saturating_add(op.node.directives.len() as u64);
        let checks: [(&str, &str, u64, usize, &str); 5] = [
            (
                "depth",
                "CAREHUB_MAX_DEPTH",
                m.depth,
                l.max_depth,
                "query depth",
            ),
            (
                "complexity",
                "CAREHUB_MAX_COMPLEXITY",
                m.complexity,
                l.max_complexity,
                "query complexity (each field 1, lists multiplied by `first`)",
            ),
            (
                "aliases",
                "CAREHUB_MAX_ALIASES",
                m.aliases,
                l.max_aliases,
                "aliases in the operation",
            ),
            (
                "root_fields",
                "CAREHUB_MAX_ROOT_FIELDS",
                m.root_fields,
                l.max_root_fields,
                "root fields in the operation",
            ),
            (
                "directives",
                "CAREHUB_MAX_DIRECTIVES",
                m.directives,
                l.max_directives,
                "directives in the operation",
            ),
        ];
        for (limit, setting, observed, max, what) in checks {
            if observed > max as u64 {
                let mut e = limit_error(limit, setting, observed, max, what);
                e.locations = vec![op.pos];
                return Err(e);
            }
        }
    }
    Ok(())
}

struct Walker<'a> {
    registry: &'a Registry,
    doc: &'a ExecutableDocument,
    variables: &'a Variables,
    memo: HashMap<(String, bool), Measure>,
    active: Vec<String>,
}

impl Walker<'_> {
    fn first_of(&self, field: &async_graphql::parser::types::Field, has_first: bool) -> u64 {
        if !has_first {
            return 1;
        }
        let arg = field
            .arguments
            .iter()
            .find(|(n, _)| n.node == "first")
            .map(|(_, v)| v.node.clone());
        let value = arg.and_then(|v| {
            v.into_const_with(|name| self.variables.get(&name).cloned().ok_or(()))
                .ok()
        });
        match value {
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
            Some(Value::Null) | None => DEFAULT_FIRST,
            Some(_) => DEFAULT_FIRST,
        }
    }

    fn set(
        &mut self,
        parent: &str,
        set: &Positioned<SelectionSet>,
        root: bool,
        nesting: usize,
    ) -> ServerResult<Measure> {
        if nesting > MAX_FRAGMENT_NESTING {
            return Err(limit_error(
                "fragment_nesting",
                "fixed",
                nesting as u64,
                MAX_FRAGMENT_NESTING,
                "fragments nested",
            ));
        }
        let mut m = Measure::default();
        for sel in &set.node.items {
            match &sel.node {
                Selection::Field(f) => {
                    let f = &f.node;
                    m.directives = m.directives.saturating_add(f.directives.len() as u64);
                    if f.alias.is_some() {
                        m.aliases = m.aliases.saturating_add(1);
                    }
                    if root {
                        m.root_fields = m.root_fields.saturating_add(1);
                    }
                    let name = f.name.node.as_str();
                    let def = self
                        .registry
                        .types
                        .get(parent)
                        .and_then(MetaType::fields)
                        .and_then(|fs| fs.get(name));
                    let child_ty = match name {
                        "__schema" => "__Schema".to_owned(),
                        "__type" => "__Type".to_owned(),
                        _ => def
                            .map(|d| MetaTypeName::concrete_typename(&d.ty).to_owned())
                            .unwrap_or_default(),
                    };
                    let has_first = def.is_some_and(|d| d.args.contains_key("first"));
                    let mult = self.first_of(f, has_first);
                    let child = if f.selection_set.node.items.is_empty() {
                        Measure::default()
                    } else {
                        self.set(&child_ty, &f.selection_set, false, nesting + 1)?
                    };
                    m.depth = m.depth.max(child.depth.saturating_add(1));
                    m.complexity = m
                        .complexity
                        .saturating_add(1)
                        .saturating_add(mult.saturating_mul(child.complexity));
                    m.aliases = m.aliases.saturating_add(child.aliases);
                    m.directives = m.directives.saturating_add(child.directives);
                }
                Selection::FragmentSpread(s) => {
                    m.directives = m.directives.saturating_add(s.node.directives.len() as u64);
                    let name = s.node.fragment_name.node.to_string();
                    let key = (name.clone(), root);
                    let fm = if let Some(fm) = self.memo.get(&key) {
                        *fm
                    } else if self.active.contains(&name) {
                        // A cycle: validation refuses it with its own message.
                        Measure::default()
                    } else if let Some(frag) = self.doc.fragments.get(&s.node.fragment_name.node) {
                        self.active.push(name);
                        let on = frag.node.type_condition.node.on.node.to_string();
                        let mut fm = self.set(&on, &frag.node.selection_set, root, nesting + 1)?;
                        fm.directives = fm
                            .directives
                            .saturating_add(frag.node.directives.len() as u64);
                        self.active.pop();
                        self.memo.insert(key, fm);
                        fm
                    } else {
                        Measure::default()
                    };
                    m.add(&fm);
                }
                Selection::InlineFragment(i) => {
                    m.directives = m.directives.saturating_add(i.node.directives.len() as u64);
                    let on = i
                        .node
                        .type_condition
                        .as_ref()
                        .map(|t| t.node.on.node.to_string())
                        .unwrap_or_else(|| parent.to_owned());
                    let im = self.set(&on, &i.node.selection_set, root, nesting + 1)?;
                    m.add(&im);
                }
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    struct Q;
    struct Me;

    #[Object]
    impl Q {
        async fn me(&self) -> Me {
            Me
        }
        async fn items(&self, first: Option<i32>) -> Vec<Me> {
            (0..first.unwrap_or(0).clamp(0, 3)).map(|_| Me).collect()
        }
    }

    #[Object]
    impl Me {
        async fn sub(&self) -> &str {
            "u1"
        }
        async fn more(&self) -> Me {
            Me
        }
    }

    fn limits() -> QueryLimits {
        QueryLimits {
            max_depth: 3,
            max_complexity: 100,
            max_aliases: 3,
            max_root_fields: 2,
            max_directives: 2,
            max_query_bytes: 4000,
            max_variables_bytes: 100,
        }
    }

    async fn run(q: &str) -> Option<String> {
        let schema = Schema::build(Q, EmptyMutation, EmptySubscription)
            .extension(limits())
            .finish();
        schema
            .execute(q)
            .await
            .errors
            .first()
            .map(|e| e.message.clone())
    }

    #[tokio::test]
    async fn limits_name_the_observed_value() {
        assert_eq!(run("{ me { sub } }").await, None);
        assert_eq!(run("{ me { more { sub } } }").await, None);
        let e = run("{ me { more { more { sub } } } }").await.unwrap();
        assert!(e.contains("query depth: 4 exceeds the limit of 3"), "{e}");
        let e = run("{ a: me { sub } b: me { sub } c: me { sub } }")
            .await
            .unwrap();
        assert!(
            e.contains("root fields in the operation: 3 exceeds the limit of 2"),
            "{e}"
        );
        let e = run("{ me { a: sub b: sub c: sub d: sub } }").await.unwrap();
        assert!(e.contains("aliases in the operation: 4"), "{e}");
        // Lists multiply by `first`: 1 + 33 * (1 + 1) = 67 passes, 1 + 50 * 2 = 101 does not.
        assert_eq!(run("{ items(first: 33) { more { sub } } }").await, None);
        let e = run("{ items(first: 50) { more { sub } } }").await.unwrap();
        assert!(e.contains("query complexity (each field 1, lists multiplied by `first`): 101 exceeds the limit of 100"), "{e}");
        let e =
            run("{ me { sub @skip(if: false) @include(if: true) more @skip(if: false) { sub } } }")
                .await
                .unwrap();
        assert!(e.contains("directives in the operation: 3"), "{e}");
        // A fragment bomb is measured in linear time and refused.
        let mut q = String::from("{ me { ...F0 } }\n");
        for i in 0..40 {
            q.push_str(&format!(
                "fragment F{i} on Me {{ ...F{} ...F{} }}\n",
                i + 1,
                i + 1
            ));
        }
        q.push_str("fragment F40 on Me { a: sub }\n");
        let e = run(&q).await.unwrap();
        assert!(e.contains("complexity") || e.contains("aliases"), "{e}");
        // Cycles are left to the parser's and validation's own checks (the walk terminates).
        assert!(
            run("{ me { ...A } } fragment A on Me { ...B } fragment B on Me { ...A }")
                .await
                .is_some()
        );
    }
}
