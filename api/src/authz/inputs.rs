//! Arguments are authorized before anything runs: this extension walks the parsed document,
//! and every input-object field a request sets is checked — as a READ for filters and sort
//! keys (nothing may be inferred through `where`/`orderBy`), as a WRITE for mutation inputs —
//! and every mutation root field is checked as a write. One forbidden field refuses the whole
//! operation before a single row is touched.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::registry::{MetaType, Registry};
use async_graphql::{
    ErrorExtensions, Name, Pos, Positioned, ServerError, ServerResult, Value, Variables,
};
use carehub_policy::{ClassSet, GroupSet, RowFacts, WriteDecision};

use super::context::RequestCtx;
use crate::error::ApiError;

/// Factory of the input guard.
pub struct InputGuard;

impl ExtensionFactory for InputGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(InputGuardExt)
    }
}

struct InputGuardExt;

#[async_trait::async_trait]
impl Extension for InputGuardExt {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        if let Some(rc) = ctx.data_opt::<Arc<RequestCtx>>() {
            let checker = Checker {
                rc,
                registry: &ctx.schema_env.registry,
                doc: &doc,
                variables,
            };
            checker.check()?;
        }
        Ok(doc)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    Write,
}

struct Checker<'a> {
    rc: &'a RequestCtx,
    registry: &'a Registry,
    doc: &'a ExecutableDocument,
    variables: &'a Variables,
}

fn base_type(ty: &str) -> &str {
    ty.trim_matches(|c| c == '[' || c == ']' || c == '!')
}

fn err(e: ApiError, pos: Pos) -> ServerError {
    e.extend().into_server_error(pos)
}

impl Checker<'_> {
    fn check(&self) -> ServerResult<()> {
        for (_, op) in self.doc.operations.iter() {
            let (root, mode) = match op.node.ty {
                OperationType::Query => (self.registry.query_type.as_str(), Mode::Read),
                OperationType::Mutation => match &self.registry.mutation_type {
                    Some(m) => (m.as_str(), Mode::Write),
                    None => continue,
                },
                OperationType::Subscription => match &self.registry.subscription_type {
                    Some(s) => (s.as_str(), Mode::Read),
                    None => continue,
                },
            };
            self.selection_set(root, &op.node.selection_set, mode, true, 0)?;
        }
        Ok(())
    }

    fn selection_set(
        &self,
        parent: &str,
        set: &Positioned<SelectionSet>,
        mode: Mode,
        root: bool,
        depth: usize,
    ) -> ServerResult<()> {
        if depth > 64 {
            // Cycles through fragments are rejected by validation; stop walking regardless.
            return Ok(());
        }
        for sel in &set.node.items {
            match &sel.node {
                Selection::Field(f) => {
                    let name = f.node.name.node.as_str();
                    if name.starts_with("__") {
                        continue;
                    }
                    let Some(MetaType::Object { fields, .. }) = self.registry.types.get(parent)
                    else {
                        continue;
                    };
                    let Some(field) = fields.get(name) else {
                        continue;
                    };
                    if root && mode == Mode::Write {
                        self.check_field(parent, name, Mode::Write, f.pos)?;
                    }
                    for (arg_name, arg_value) in &f.node.arguments {
                        let Some(arg) = field.args.get(arg_name.node.as_str()) else {
                            continue;
                        };
                        let value = arg_value.node.clone().into_const_with(|v: Name| {
                            Ok::<_, ServerError>(
                                self.variables
                                    .get(&v)
                                    .cloned()
                                    .unwrap_or(async_graphql::Value::Null),
                            )
                        })?;
                        let arg_mode = if root && mode == Mode::Write {
                            Mode::Write
                        } else {
                            Mode::Read
                        };
                        self.value(base_type(&arg.ty), &value, arg_mode, arg_value.pos, 0)?;
                    }
                    let child_ty = base_type(&field.ty);
                    self.selection_set(child_ty, &f.node.selection_set, mode, false, depth + 1)?;
                }
                Selection::FragmentSpread(s) => {
                    if let Some(frag) = self.doc.fragments.get(&s.node.fragment_name.node) {
                        let on = frag.node.type_condition.node.on.node.as_str();
                        self.selection_set(on, &frag.node.selection_set, mode, root, depth + 1)?;
                    }
                }
                Selection::InlineFragment(i) => {
                    let on = i
                        .node
                        .type_condition
                        .as_ref()
                        .map(|t| t.node.on.node.as_str())
                        .unwrap_or(parent);
                    self.selection_set(on, &i.node.selection_set, mode, root, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    fn value(
        &self,
        ty: &str,
        value: &Value,
        mode: Mode,
        pos: Pos,
        depth: usize,
    ) -> ServerResult<()> {
        if depth > 16 {
            return Ok(());
        }
        match value {
            Value::List(items) => {
                for v in items {
                    self.value(ty, v, mode, pos, depth + 1)?;
                }
            }
            Value::Object(obj) => {
                let Some(MetaType::InputObject { input_fields, .. }) = self.registry.types.get(ty)
                else {
                    return Ok(());
                };
                for (k, v) in obj {
                    if matches!(v, Value::Null) {
                        continue;
                    }
                    let Some(field) = input_fields.get(k.as_str()) else {
                        continue;
                    };
                    self.check_field(ty, k.as_str(), mode, pos)?;
                    self.value(base_type(&field.ty), v, mode, pos, depth + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn check_field(&self, ty: &str, field: &str, mode: Mode, pos: Pos) -> ServerResult<()> {
        let rc = self.rc;
        let qualified = format!("{ty}.{field}");
        let Some(fid) = rc.app.fields.get(ty, field) else {
            return Err(err(
                ApiError::Forbidden {
                    reason: "the field has no entry in the remit policy".into(),
                    field: Some(qualified),
                },
                pos,
            ));
        };
        let allowed = match mode {
            Mode::Read => rc.policy.static_read(rc.role, fid),
            Mode::Write => {
                let facts = RowFacts {
                    own_org: true,
                    same_agency: true,
                    classes: ClassSet::EMPTY,
                    view: None,
                    lawful: GroupSet::EMPTY,
                    break_glass: false,
                    purpose: rc.principal.purpose,
                };
                matches!(
                    rc.policy.decide_write(rc.role, fid, &facts),
                    WriteDecision::Allow
                )
            }
        };
        if allowed {
            Ok(())
        } else {
            let what = match mode {
                Mode::Read => "filter or sort on a field this role may not read",
                Mode::Write => "write a field outside this role's remit",
            };
            let group = rc
                .policy
                .group_name(rc.policy.group_of(fid, ClassSet::EMPTY));
            Err(err(
                ApiError::Forbidden {
                    reason: format!("role {} may not {what} ({group})", rc.principal.role),
                    field: Some(qualified),
                },
                pos,
            ))
        }
    }
}
