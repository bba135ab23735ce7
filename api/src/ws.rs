//! The WebSocket endpoint `/graphql/ws` (upgrades on `/graphql` land here too): GraphQL
//! subscriptions over `graphql-transport-ws` and the legacy `graphql-ws`. The connection
//! authenticates in `connection_init` (`{"Authorization": "Bearer …"}` or `{"token": "…"}`, plus
//! an optional `"X-Purpose"`) with the same checks as an HTTP request. It is closed with 4403
//! when that fails and when the token expires, with 4401 when a subscription comes before
//! `connection_init`, with 4408 when `connection_init` does not come in time.
//!
//! The upgrade itself goes through [`upgrade`]: the handler answers the handshake and hands the
//! bare socket to a lean WebSocket ([`socket`]). An open connection costs about 3.5 KB of RSS
//! that way, against 15.5 KB with actix-http's buffers and actix-ws (bench/ws/RESULTS.md).

mod socket;
pub mod upgrade;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_http::body::BoxBody;
use actix_http::ws::{CloseCode, CloseReason, ProtocolError};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use async_graphql::http::{WebSocketProtocols, WsMessage};
use async_graphql::Data;
use carehub_policy::Principal;
use futures::{FutureExt, StreamExt};

use crate::auth::Authenticator;
use crate::authz::RequestCtx;
use crate::error::{ApiError, Code};
use crate::graphql::AppSchema;
use crate::state::AppState;
use socket::{Incoming, WsSocket};

/// Authentication failed, or the token expired (graphql-transport-ws "Forbidden").
pub const CLOSE_FORBIDDEN: u16 = 4403;
/// A subscription arrived before `connection_init` was acknowledged.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// No `connection_init` within [`INIT_TIMEOUT`].
pub const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// The client sends faster than its messages can be handled.
pub const CLOSE_TOO_MANY: u16 = 4429;

/// How long a client has to send `connection_init`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// WebSocket pings keep proxies from closing idle connections and find dead peers.
const PING_EVERY: Duration = Duration::from_secs(20);
/// A peer that answers nothing for this long is gone.
const SILENCE_LIMIT: Duration = Duration::from_secs(70);
/// Client messages queued while earlier ones are handled.
const INBOX: usize = 64;
/// Outgoing messages written together at most (bytes; a single larger message goes alone).
const BATCH_BYTES: usize = 64 * 1024;

/// An authenticated WebSocket connection, kept in the connection's GraphQL data. Every delivery
/// checks the session again ([`WsSession::reauthenticate`]), so an expired token stops the
/// events at once.
pub struct WsSession {
    /// Connection id (request ids of deliveries are `{id}.{cursor}`).
    pub id: String,
    /// The principal as authenticated at `connection_init`.
    pub principal: Principal,
    /// The token's `exp` (Unix seconds).
    pub expires_at: i64,
    pub client_addr: Option<String>,
    /// The server's partner state (revocation list), for sessions of API clients.
    pub partners: Option<web::Data<crate::partners::Partners>>,
}

impl std::fmt::Debug for WsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsSession")
            .field("id", &self.id)
            .field("sub", &self.principal.sub)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl WsSession {
    /// The principal for one delivery: the one `connection_init` authenticated (signature,
    /// issuer, audience, role, agency, region, purpose — the checks of an HTTP request), with a
    /// strict expiry: no leeway once the connection is open. The signature is not verified again
    /// per delivery: the token cannot change under an open connection and the policy and keys are
    /// fixed for the life of the process, so a second verification could only repeat the first
    /// answer (at ten thousand subscribers and fifty events a second it was a measurable cost).
    pub fn reauthenticate(&self, app: &AppState) -> Result<Principal, ApiError> {
        if chrono::Utc::now().timestamp() >= self.expires_at {
            return Err(ApiError::Unauthenticated(
                "token has expired; reconnect with a fresh token".into(),
            ));
        }
        if app.policy.role(&self.principal.role).is_none() {
            return Err(ApiError::Unauthenticated(format!(
                "role {:?} is not in the remit policy",
                self.principal.role
            )));
        }
        Ok(self.principal.clone())
    }

    /// For an API client's session: the client is still enabled. A disabled (revoked) client
    /// is refused on every delivery, as on every HTTP request; other sessions pass at once.
    pub async fn admitted(&self, app: &AppState) -> Result<(), ApiError> {
        let (Some(client_id), Some(partners)) = (&self.principal.client_id, &self.partners) else {
            return Ok(());
        };
        // Boxed: the check (Redis, then the client row) would otherwise sit in every idle
        // subscription's state, partner or not.
        match Box::pin(partners.revocation.check(app, client_id)).await {
            Ok(_) => Ok(()),
            Err((Code::Unauthenticated, message)) => Err(ApiError::Unauthenticated(message)),
            Err((_, message)) => Err(ApiError::Unavailable(message)),
        }
    }
}

/// What the `connection_init` callback learnt, for the socket loop.
#[derive(Default)]
struct InitOutcome {
    started: AtomicBool,
    expires_at: AtomicI64,
    failure: Mutex<Option<String>>,
}

impl InitOutcome {
    fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }
}

/// Route guard: the request asks for a WebSocket upgrade.
pub fn is_upgrade(ctx: &actix_web::guard::GuardContext<'_>) -> bool {
    ctx.head()
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// `GET /graphql/ws` (and `GET /graphql` with `Upgrade: websocket`).
pub async fn graphql_ws(
    req: HttpRequest,
    app: web::Data<Arc<AppState>>,
    schema: web::Data<AppSchema>,
) -> actix_web::Result<HttpResponse> {
    let offered: Vec<String> = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_owned()))
        .filter(|p| !p.is_empty())
        .collect();
    let protocol = if offered.is_empty() {
        // A client that names no subprotocol gets the current one.
        WebSocketProtocols::GraphQLWS
    } else {
        match offered
            .iter()
            .find_map(|p| p.parse::<WebSocketProtocols>().ok())
        {
            Some(p) => p,
            None => {
                return Ok(crate::http::error_response(
                    Code::BadUserInput,
                    "Sec-WebSocket-Protocol: offer graphql-transport-ws or graphql-ws",
                    &crate::http::request_id(req.headers()),
                ));
            }
        }
    };
    // Method, Upgrade, Connection, version and key, refused as actix-http refuses them.
    let mut handshake = actix_http::ws::handshake(req.head())?;
    if req.extensions().get::<upgrade::Upgradable>().is_none() {
        // Only a handshake with a request body misses the hand-over (actix-http keeps such a
        // connection for the body).
        return Ok(crate::http::error_response(
            Code::BadUserInput,
            "a WebSocket upgrade request carries no body",
            &crate::http::request_id(req.headers()),
        ));
    }
    let mut response: HttpResponse = handshake.message_body(BoxBody::new(()))?.into();
    if !offered.is_empty() {
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(protocol.sec_websocket_protocol()),
        );
    }
    let client_addr = req
        .connection_info()
        .realip_remote_addr()
        .map(str::to_owned);
    let max = app.settings.max_body_bytes.max(64 * 1024);
    let partners = req
        .app_data::<web::Data<crate::partners::Partners>>()
        .cloned();
    let app = app.get_ref().clone();
    let schema = schema.get_ref().clone();
    response
        .extensions_mut()
        .insert(upgrade::Handoff::new(move |io, received| {
            let socket = WsSocket::new(io, received, max, max);
            serve(app, schema, protocol, socket, client_addr, partners)
        }));
    Ok(response)
}

fn reason(code: u16, message: &str) -> CloseReason {
    // A close frame's reason holds at most 123 bytes.
    let mut end = message.len().min(123);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    CloseReason {
        code: CloseCode::from(code),
        description: Some(message[..end].to_owned()),
    }
}

/// Runs one connection: client frames into the GraphQL protocol engine, its messages out, and
/// the timers (init deadline, token expiry, heartbeat) beside them.
async fn serve(
    app: Arc<AppState>,
    schema: AppSchema,
    protocol: WebSocketProtocols,
    mut socket: WsSocket,
    client_addr: Option<String>,
    partners: Option<web::Data<crate::partners::Partners>>,
) {
    let stats = app.events.stats().clone();
    stats.ws_connections.fetch_add(1, Ordering::Relaxed);
    let id = uuid::Uuid::now_v7().simple().to_string();
    let outcome = Arc::new(InitOutcome::default());
    let (inbox, inbox_rx) = futures::channel::mpsc::channel::<String>(INBOX);
    let init = {
        let app = app.clone();
        let outcome = outcome.clone();
        let id = id.clone();
        move |payload: serde_json::Value| async move {
            outcome.started.store(true, Ordering::Relaxed);
            let admitted = match authenticate_init(&app, &payload, id, client_addr, partners) {
                Ok((session, rc)) => session.admitted(&app).await.map(|()| (session, rc)),
                Err(e) => Err(e),
            };
            match admitted {
                Ok((session, rc)) => {
                    outcome
                        .expires_at
                        .store(session.expires_at, Ordering::Relaxed);
                    let mut data = Data::default();
                    data.insert(Arc::new(session));
                    data.insert(Arc::new(rc));
                    Ok(data)
                }
                Err(e) => {
                    let message = format!("{}: {e}", e.code().as_str());
                    if let Ok(mut f) = outcome.failure.lock() {
                        *f = Some(message.clone());
                    }
                    Err(async_graphql::Error::new(message))
                }
            }
        }
    };
    let gql =
        async_graphql::http::WebSocket::new(schema, inbox_rx, protocol).on_connection_init(init);
    futures::pin_mut!(gql);
    let mut inbox = inbox;
    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    futures::pin_mut!(init_deadline);
    let mut expiry: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    let mut heartbeat = tokio::time::interval(PING_EVERY);
    heartbeat.tick().await;
    let mut last_heard = tokio::time::Instant::now();

    // What the protocol engine produced behind a batch of messages (see below).
    let mut after_batch: Option<Step> = None;
    let close: Option<CloseReason> = loop {
        // Wait for one thing to happen, then act on it outside the select (the branch futures
        // borrow the timers and streams the actions change).
        let step = if let Some(step) = after_batch.take() {
            step
        } else {
            tokio::select! {
            incoming = socket.next() => Step::Incoming(incoming),
            out = gql.next() => Step::Outgoing(out),
            _ = &mut init_deadline, if !outcome.started.load(Ordering::Relaxed) => Step::InitTimeout,
            _ = async { if let Some(e) = expiry.as_mut() { e.await } }, if expiry.is_some() => Step::Expired,
            _ = heartbeat.tick() => Step::Heartbeat,
            }
        };
        match step {
            Step::Incoming(incoming) => {
                last_heard = tokio::time::Instant::now();
                let text = match incoming {
                    Some(Ok(Incoming::Text(t))) => t,
                    Some(Ok(Incoming::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(Incoming::Ping(b))) => {
                        if socket.pong(&b).await.is_err() {
                            break None;
                        }
                        continue;
                    }
                    Some(Ok(Incoming::Pong)) => continue,
                    Some(Ok(Incoming::Close)) => {
                        break Some(CloseReason {
                            code: CloseCode::Normal,
                            description: None,
                        })
                    }
                    Some(Err(e)) => break Some(reason(1002, &format!("protocol error: {e}"))),
                    None => break None,
                };
                if inbox.try_send(text).is_err() {
                    break Some(reason(CLOSE_TOO_MANY, "too many messages; slow down"));
                }
            }
            Step::Outgoing(Some(WsMessage::Text(text))) => {
                if expiry.is_none() {
                    let exp = outcome.expires_at.load(Ordering::Relaxed);
                    if exp > 0 {
                        let left = (exp - chrono::Utc::now().timestamp()).max(0) as u64;
                        expiry = Some(Box::pin(tokio::time::sleep(Duration::from_secs(left))));
                    }
                }
                // The messages the engine already has ready go out in the same write (one
                // system call for a burst of events rather than one each); whatever ends the
                // batch is handled next.
                socket.queue_text(text);
                while socket.queued() < BATCH_BYTES {
                    match gql.next().now_or_never() {
                        Some(Some(WsMessage::Text(text))) => socket.queue_text(text),
                        Some(other) => {
                            after_batch = Some(Step::Outgoing(other));
                            break;
                        }
                        None => break,
                    }
                }
                if socket.flush().await.is_err() {
                    break None;
                }
            }
            Step::Outgoing(Some(WsMessage::Close(code, message))) => {
                break Some(remap_close(code, &message, &outcome))
            }
            Step::Outgoing(None) => {
                break Some(match outcome.failure() {
                    // Legacy graphql-ws: the connection_error was sent; close with the reason too.
                    Some(f) => reason(CLOSE_FORBIDDEN, &f),
                    None => CloseReason {
                        code: CloseCode::Normal,
                        description: None,
                    },
                });
            }
            Step::InitTimeout => {
                break Some(reason(
                    CLOSE_INIT_TIMEOUT,
                    "Connection initialisation timeout",
                ))
            }
            Step::Expired => {
                let message = "UNAUTHENTICATED: token expired; reconnect with a fresh token";
                if protocol == WebSocketProtocols::SubscriptionsTransportWS {
                    let frame = serde_json::json!({ "type": "connection_error", "payload": { "message": message } });
                    let _ = socket.text(frame.to_string()).await;
                }
                break Some(reason(CLOSE_FORBIDDEN, message));
            }
            Step::Heartbeat => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    break Some(reason(1001, "no answer to pings"));
                }
                if socket.ping(b"").await.is_err() {
                    break None;
                }
            }
        }
    };
    socket.close(close).await;
    stats.ws_connections.fetch_sub(1, Ordering::Relaxed);
}

/// One thing that happened on a connection.
enum Step {
    Incoming(Option<Result<Incoming, ProtocolError>>),
    Outgoing(Option<WsMessage>),
    InitTimeout,
    Expired,
    Heartbeat,
}

/// Gives the protocol engine's closes the codes graphql-transport-ws defines.
fn remap_close(code: u16, message: &str, outcome: &InitOutcome) -> CloseReason {
    match (code, outcome.failure()) {
        (1002, Some(f)) => reason(CLOSE_FORBIDDEN, &f),
        (1011, _) if message.contains("handshake") => reason(
            CLOSE_UNAUTHORIZED,
            "Unauthorized: send connection_init with a token first",
        ),
        _ => reason(code, message),
    }
}

/// Reads the token and purpose from the `connection_init` payload and authenticates them.
fn authenticate_init(
    app: &Arc<AppState>,
    payload: &serde_json::Value,
    id: String,
    client_addr: Option<String>,
    partners: Option<web::Data<crate::partners::Partners>>,
) -> Result<(WsSession, RequestCtx), ApiError> {
    let field = |names: &[&str]| -> Option<String> {
        let obj = payload.as_object()?;
        // Some clients nest HTTP-style headers under "headers".
        let nested = obj.get("headers").and_then(|h| h.as_object());
        [Some(obj), nested].into_iter().flatten().find_map(|o| {
            o.iter()
                .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
                .and_then(|(_, v)| v.as_str())
                .map(|s| s.trim().to_owned())
        })
    };
    let authorization = match (field(&["authorization"]), field(&["token"])) {
        (Some(a), _) if a.contains(' ') => a,
        (Some(bare), _) => format!("Bearer {bare}"),
        (None, Some(t)) => format!("Bearer {t}"),
        (None, None) => {
            return Err(ApiError::Unauthenticated(
                "missing token: send connection_init with payload {\"Authorization\": \"Bearer <JWT>\"} or {\"token\": \"<JWT>\"}".into(),
            ));
        }
    };
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(&authorization)
        .map_err(|_| ApiError::Unauthenticated("malformed token".into()))?;
    headers.insert(header::AUTHORIZATION, value);
    if let Some(p) = field(&["x-purpose", "purpose"]) {
        let value = HeaderValue::from_str(&p)
            .map_err(|_| ApiError::bad_input("X-Purpose", "is not a purpose of use"))?;
        headers.insert(header::HeaderName::from_static("x-purpose"), value);
    }
    let principal = crate::http::authenticate(app, &headers)?;
    let token = Authenticator::bearer(Some(&authorization))
        .map_err(|e| ApiError::Unauthenticated(e.to_string()))?;
    let claims = app
        .auth
        .verify(token)
        .map_err(|e| ApiError::Unauthenticated(e.to_string()))?;
    if claims.exp <= chrono::Utc::now().timestamp() {
        return Err(ApiError::Unauthenticated("token has expired".into()));
    }
    let rc = RequestCtx::new(
        app.clone(),
        principal.clone(),
        format!("ws-{id}"),
        client_addr.clone(),
    )?;
    Ok((
        WsSession {
            id,
            principal,
            expires_at: claims.exp,
            client_addr,
            partners,
        },
        rc,
    ))
}
