//! Building the schema, its SDL, and the catalogue of every field of every object and input
//! type — which the server checks against the policy before it starts (fail closed).

use std::sync::Arc;

use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
use async_graphql::{Schema, SchemaBuilder};
use carehub_policy::SchemaField;

use super::mutation::Mutation;
use super::query::Query;
use super::subscription::SubscriptionRoot;
use crate::authz::inputs::InputGuard;
use crate::state::AppState;

/// The schema type.
pub type AppSchema = Schema<Query, Mutation, SubscriptionRoot>;

fn builder() -> SchemaBuilder<Query, Mutation, SubscriptionRoot> {
    Schema::build(Query::default(), Mutation::default(), SubscriptionRoot)
}

/// The schema served, with the app state, guard rails and the input guard.
pub fn build_schema(app: Arc<AppState>) -> AppSchema {
    let s = &app.settings;
    let mut b = builder()
        .extension(crate::guard::QueryLimits::from_settings(s))
        .extension(InputGuard)
        .extension(crate::metrics::GraphqlMetrics)
        .limit_depth(s.max_depth)
        .limit_complexity(s.max_complexity)
        .limit_directives(s.max_directives)
        .limit_recursive_depth(64);
    if !s.introspection {
        b = b.disable_introspection();
    }
    if s.mode == crate::config::Mode::Production {
        b = b.disable_suggestions();
    }
    b.data(app).finish()
}

/// The SDL of the schema (`carehub schema`, `schema.graphql`).
pub fn sdl() -> String {
    builder().finish().sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .sorted_fields()
            .sorted_enum_items(),
    )
}

/// Every field of every object and input type, introspection types excluded.
pub fn schema_fields() -> Vec<SchemaField> {
    let sdl = builder().finish().sdl();
    let Ok(doc) = async_graphql::parser::parse_schema(&sdl) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for def in doc.definitions {
        if let TypeSystemDefinition::Type(t) = def {
            let name = t.node.name.node.to_string();
            if name.starts_with("__") {
                continue;
            }
            match &t.node.kind {
                TypeKind::Object(o) => {
                    for f in &o.fields {
                        out.push(SchemaField {
                            type_name: name.clone(),
                            field_name: f.node.name.node.to_string(),
                            is_input: false,
                        });
                    }
                }
                TypeKind::InputObject(o) => {
                    for f in &o.fields {
                        out.push(SchemaField {
                            type_name: name.clone(),
                            field_name: f.node.name.node.to_string(),
                            is_input: true,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    out
}
