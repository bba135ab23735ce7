//! Operation safelists: a partner client runs only the GraphQL documents registered for it
//! (`carehub operations add --client … FILE.graphql`), named by the SHA-256 of their text.
//!
//! Requests use the Automatic Persisted Queries shape — `extensions.persistedQuery.sha256Hash`
//! with or without `query` — so Apollo Client, urql and `gql` work unchanged; an unknown id
//! answers `PERSISTED_QUERY_NOT_FOUND`, as APQ clients expect. Unlike APQ this is not a cache:
//! nothing a client sends is ever registered. Per client (`api_clients.safelist_mode`):
//! `LOG` runs unknown documents and logs them, `ENFORCE` refuses them, `IDS_ONLY` refuses any
//! query text and accepts only ids.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_graphql::{Request, Value};
use carehub_entity::enums::SafelistMode;
use carehub_entity::{api_client, persisted_operation};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use crate::error::Code;
use crate::state::AppState;

/// The lowercase hex SHA-256 of a document's text (the operation id).
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Cache of registered documents by (client, sha256). Documents are content-addressed, so a
/// cached entry can never be stale; misses are not cached (a new registration is seen at once).
#[derive(Default)]
pub struct Safelist {
    docs: RwLock<HashMap<(String, String), Arc<str>>>,
}

/// The `sha256Hash` of an APQ request, if it has one; an error if it is malformed.
fn apq_hash(r: &Request) -> Result<Option<String>, String> {
    let Some(pq) = r.extensions.get("persistedQuery") else {
        return Ok(None);
    };
    let Value::Object(pq) = pq else {
        return Err("extensions.persistedQuery must be an object".into());
    };
    if let Some(v) = pq.get("version") {
        if !matches!(v, Value::Number(n) if n.as_u64() == Some(1)) {
            return Err("extensions.persistedQuery.version must be 1".into());
        }
    }
    match pq.get("sha256Hash") {
        Some(Value::String(h)) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Some(h.to_ascii_lowercase()))
        }
        _ => Err("extensions.persistedQuery.sha256Hash must be 64 hexadecimal characters".into()),
    }
}

impl Safelist {
    async fn lookup(
        &self,
        db: &DatabaseConnection,
        client_id: &str,
        sha: &str,
    ) -> Result<Option<Arc<str>>, (Code, String)> {
        let key = (client_id.to_owned(), sha.to_owned());
        if let Some(d) = self.docs.read().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(Some(d));
        }
        let row = persisted_operation::Entity::find()
            .filter(persisted_operation::Column::ClientId.eq(client_id))
            .filter(persisted_operation::Column::Sha256.eq(sha))
            .one(db)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "safelist: cannot read persisted operations");
                (
                    Code::ServiceUnavailable,
                    "the database is unavailable; retry shortly".to_owned(),
                )
            })?;
        let Some(row) = row else { return Ok(None) };
        let doc: Arc<str> = Arc::from(row.document.as_str());
        if let Ok(mut m) = self.docs.write() {
            if m.len() > 10_000 {
                m.clear();
            }
            m.insert(key, doc.clone());
        }
        Ok(Some(doc))
    }

    /// Applies the client's safelist mode to one request, replacing an id by its document.
    pub async fn resolve(
        &self,
        app: &AppState,
        client: &api_client::Model,
        mut r: Request,
    ) -> Result<Request, (Code, String)> {
        let db = &app.db.write;
        let hash = apq_hash(&r).map_err(|m| (Code::BadUserInput, m))?;
        let has_text = !r.query.trim().is_empty();
        let cid = client.client_id.as_str();
        if has_text && client.safelist_mode == SafelistMode::IdsOnly {
            return Err((
                Code::Forbidden,
                format!("API client {cid} may send only persisted operation ids (extensions.persistedQuery.sha256Hash), not query text"),
            ));
        }
        if let Some(h) = &hash {
            if has_text && sha256_hex(&r.query) != *h {
                return Err((
                    Code::BadUserInput,
                    "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query text"
                        .into(),
                ));
            }
            match self.lookup(db, cid, h).await? {
                Some(doc) => {
                    r.query = doc.to_string();
                    return Ok(r);
                }
                None if !has_text => {
                    // The APQ "not found" answer: clients retry with the text (refused below
                    // unless registered, or in LOG mode).
                    return Err((
                        Code::PersistedQueryNotFound,
                        "PersistedQueryNotFound".into(),
                    ));
                }
                None => {}
            }
        } else if !has_text {
            return Err((
                Code::BadUserInput,
                "the request has neither a query nor extensions.persistedQuery.sha256Hash".into(),
            ));
        }
        let sha = sha256_hex(&r.query);
        if self.lookup(db, cid, &sha).await?.is_some() {
            return Ok(r);
        }
        match client.safelist_mode {
            SafelistMode::Log => {
                tracing::warn!(client.id = cid, operation.sha256 = %sha, operation.name = ?r.operation_name, "operation not on the safelist ran (LOG mode)");
                Ok(r)
            }
            _ => Err((
                Code::Forbidden,
                format!("operation {sha} is not on the safelist of API client {cid}; register it with `carehub operations add --client {cid} FILE.graphql`"),
            )),
        }
    }
}

/// Registers a document for a client (the `operations add` command); returns its id and
/// operation names. Registering the same text twice is a no-op.
pub async fn add_operation(
    db: &DatabaseConnection,
    client_id: &str,
    document: &str,
) -> anyhow::Result<(String, Vec<String>)> {
    let doc = async_graphql::parser::parse_query(document)
        .map_err(|e| anyhow::anyhow!("the document does not parse: {e}"))?;
    let names: Vec<String> = doc
        .operations
        .iter()
        .filter_map(|(n, _)| n.map(|n| n.to_string()))
        .collect();
    let client = api_client::Entity::find()
        .filter(api_client::Column::ClientId.eq(client_id))
        .one(db)
        .await?;
    if client.is_none() {
        anyhow::bail!("no API client {client_id:?}; see `carehub clients list`");
    }
    let sha = sha256_hex(document);
    let exists = persisted_operation::Entity::find()
        .filter(persisted_operation::Column::ClientId.eq(client_id))
        .filter(persisted_operation::Column::Sha256.eq(sha.as_str()))
        .one(db)
        .await?
        .is_some();
    if !exists {
        persisted_operation::ActiveModel {
            client_id: Set(client_id.to_owned()),
            sha256: Set(sha.clone()),
            operation_name: Set(if names.is_empty() {
                None
            } else {
                Some(names.join(","))
            }),
            document: Set(document.to_owned()),
            created_at: Set(chrono::Utc::now()),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok((sha, names))
}
