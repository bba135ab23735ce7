//! Subscriptions over WebSocket: both protocols, authentication in `connection_init`, closing on
//! token expiry, every event decided against the subscriber's scope and field mask at delivery
//! (and audited), the debounced indicator notices, and the event bus across replicas through
//! Redis — including Redis dying and coming back mid-test.

use std::sync::atomic::Ordering;
use std::time::Duration;

use carehub_entity as ent;
use carehub_tests::*;
use futures::{SinkExt, StreamExt};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Proto {
    /// graphql-transport-ws
    Transport,
    /// legacy graphql-ws (subscriptions-transport-ws)
    Legacy,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Transport => "graphql-transport-ws",
            Proto::Legacy => "graphql-ws",
        }
    }
}

#[derive(Debug)]
enum Frame {
    Json(Value),
    Closed(u16, String),
}

/// A GraphQL-over-WebSocket client speaking either protocol.
struct Client {
    ws: Socket,
    proto: Proto,
}

impl Client {
    async fn connect(address: &str, path: &str, proto: Proto) -> Self {
        let url = format!("{}{path}", address.replacen("http://", "ws://", 1));
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("sec-websocket-protocol", proto.name().parse().unwrap());
        let (ws, resp) = tokio_tungstenite::connect_async(req)
            .await
            .expect("websocket upgrade");
        assert_eq!(resp.headers()["sec-websocket-protocol"], proto.name());
        Self { ws, proto }
    }

    async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("send");
    }

    /// The next protocol message (answering protocol pings), or the close; `None` on timeout.
    async fn recv(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) => return Some(Frame::Closed(1006, "stream ended".into())),
                Ok(Some(m)) => m,
            };
            match msg {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).expect("JSON message");
                    match v["type"].as_str() {
                        Some("ping") => self.send(json!({"type": "pong"})).await,
                        Some("ka") => {}
                        _ => return Some(Frame::Json(v)),
                    }
                }
                Ok(Message::Close(Some(f))) => {
                    return Some(Frame::Closed(f.code.into(), f.reason.to_string()))
                }
                Ok(Message::Close(None)) => return Some(Frame::Closed(1005, String::new())),
                Ok(_) => {}
                Err(e) => return Some(Frame::Closed(1006, e.to_string())),
            }
        }
    }

    /// Sends `connection_init` and returns the answer.
    async fn init(&mut self, payload: Value) -> Frame {
        self.send(json!({"type": "connection_init", "payload": payload}))
            .await;
        self.recv(Duration::from_secs(10))
            .await
            .expect("an answer to connection_init")
    }

    async fn init_ok(&mut self, token: &str) {
        match self
            .init(json!({"Authorization": format!("Bearer {token}")}))
            .await
        {
            Frame::Json(v) if v["type"] == "connection_ack" => {}
            other => panic!("expected connection_ack, got {other:?}"),
        }
    }

    async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.proto == Proto::Transport {
            "subscribe"
        } else {
            "start"
        };
        self.send(
            json!({"id": id, "type": kind, "payload": {"query": query, "variables": variables}}),
        )
        .await;
    }

    /// The payload of the next event of subscription `id`; `None` if none comes within `wait`
    /// (or the subscription completes).
    async fn event(&mut self, id: &str, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await? {
                Frame::Json(v) if v["id"] == id && (v["type"] == "next" || v["type"] == "data") => {
                    return Some(v["payload"].clone())
                }
                Frame::Json(v) if v["id"] == id && v["type"] == "complete" => return None,
                Frame::Json(_) => {}
                Frame::Closed(code, reason) => {
                    panic!("connection closed ({code} {reason}) while waiting for an event")
                }
            }
        }
    }

    /// Waits for the server to close the connection; returns code and reason.
    async fn closed(&mut self, wait: Duration) -> Option<(u16, String)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await? {
                Frame::Closed(code, reason) => return Some((code, reason)),
                Frame::Json(_) => {}
            }
        }
    }
}

const REPORT_RAISED: &str = "subscription($r: String!) { reportRaised(regionCode: $r) { id childId category status description } }";
const CREATE_REPORT: &str = "mutation($i: CreateReportInput!) { createReport(input: $i) { id } }";
const WAIT: Duration = Duration::from_secs(10);

/// POSTs a GraphQL request to a server (an app or a replica).
async fn gql_at(address: &str, token: &str, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON body")
}

/// Files a report about `child` through the server at `address`; returns its id.
async fn file_report(
    address: &str,
    token: &str,
    child: uuid::Uuid,
    category: &str,
    description: &str,
) -> String {
    let to = if matches!(
        category,
        "ABUSE" | "SEXUAL_ABUSE" | "NEGLECT" | "BULLYING" | "DOMESTIC_VIOLENCE"
    ) {
        json!(["POLICE", "CIVIL_AFFAIRS"])
    } else {
        json!(["CIVIL_AFFAIRS"])
    };
    let body = gql_at(
        address,
        token,
        CREATE_REPORT,
        json!({"i": {"childId": child.to_string(), "category": category, "discoveredAt": "2026-10-30T08:00:00Z", "reportedTo": to, "description": description}}),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["createReport"]["id"]
        .as_str()
        .expect("report id")
        .to_owned()
}

/// Waits until `n` subscriptions are live on a server (subscribing has no acknowledgement).
async fn wait_subscriptions(state: &carehub_api::state::AppState, n: i64) {
    for _ in 0..200 {
        if state.events.snapshot().subscriptions >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "only {} of {n} subscriptions became live",
        state.events.snapshot().subscriptions
    );
}

async fn readyz(client: &reqwest::Client, address: &str) -> Value {
    client
        .get(format!("{address}/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("readyz JSON")
}

/// Polls `/readyz` until Redis is reported as `state`.
async fn wait_redis(client: &reqwest::Client, address: &str, state: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let body = readyz(client, address).await;
        if body["redis"] == state {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{address}: redis never became {state}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn field_errors(payload: &Value) -> Vec<String> {
    payload["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["extensions"]["field"].as_str().map(str::to_owned))
        .collect()
}

backend_test!(
    events_are_decided_against_the_current_scope_and_mask,
    |backend| {
        let app = TestApp::spawn(backend).await;
        let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
        let teacher = app.token(
            "EDUCATION",
            "education.head_teacher",
            Some(&fx.school_a.to_string()),
            "450102",
            "teacher-a1",
        );
        let officer = app.token(
            "CIVIL_AFFAIRS",
            "civil_affairs.case_officer",
            None,
            "450102",
            "officer-1",
        );

        let mut t = Client::connect(&app.address, "/graphql/ws", Proto::Transport).await;
        t.init_ok(&teacher).await;
        t.subscribe("r", REPORT_RAISED, json!({"r": "450102"}))
            .await;
        let mut o = Client::connect(&app.address, "/graphql/ws", Proto::Transport).await;
        match o.init(json!({"token": officer, "X-Purpose": "CARE"})).await {
            Frame::Json(v) => assert_eq!(v["type"], "connection_ack", "{v}"),
            other => panic!("{other:?}"),
        }
        o.subscribe("r", REPORT_RAISED, json!({"r": "450102"}))
            .await;
        wait_subscriptions(&app.state, 2).await;

        // A harm report about a child of the teacher's class, one about a child of another class,
        // and a plain one about the class again.
        let harm = file_report(&app.address, &officer, fx.c1, "ABUSE", "身上有伤").await;
        let other_class =
            file_report(&app.address, &officer, fx.c2, "PSYCHOLOGICAL", "情绪低落").await;
        let plain = file_report(&app.address, &officer, fx.c1, "PSYCHOLOGICAL", "上课走神").await;

        // The teacher sees the harm report without the abuse narrative (G-ABUSE), never the other
        // class's report, then the plain one with its narrative.
        let e = t
            .event("r", WAIT)
            .await
            .expect("harm report reaches the teacher");
        assert_eq!(e["data"]["reportRaised"]["id"], harm.as_str(), "{e}");
        assert_eq!(e["data"]["reportRaised"]["category"], "ABUSE");
        assert!(e["data"]["reportRaised"]["description"].is_null(), "{e}");
        assert_eq!(error_codes(&e), vec!["FORBIDDEN"], "{e}");
        assert_eq!(field_errors(&e), vec!["Report.description"], "{e}");
        let e = t
            .event("r", WAIT)
            .await
            .expect("plain report reaches the teacher");
        assert_eq!(
            e["data"]["reportRaised"]["id"],
            plain.as_str(),
            "out-of-scope report must not arrive: {e}"
        );
        assert_eq!(e["data"]["reportRaised"]["description"], "上课走神");
        assert!(e["errors"].is_null(), "{e}");

        // The region-wide case officer sees all three, the abuse narrative included.
        let ids: Vec<Value> = [
            o.event("r", WAIT).await,
            o.event("r", WAIT).await,
            o.event("r", WAIT).await,
        ]
        .into_iter()
        .map(|e| e.expect("officer event"))
        .collect();
        assert_eq!(
            ids[0]["data"]["reportRaised"]["description"], "身上有伤",
            "{}",
            ids[0]
        );
        let got: Vec<&str> = ids
            .iter()
            .map(|e| e["data"]["reportRaised"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            got,
            vec![harm.as_str(), other_class.as_str(), plain.as_str()]
        );

        // Delivered sensitive fields are audited like reads: the officer's read of the narrative,
        // and the teacher's denied attempt.
        let reads = ent::audit_entry::Entity::find()
            .filter(ent::audit_entry::Column::Action.eq("READ"))
            .all(app.conn())
            .await
            .unwrap();
        let of = |sub: &str| {
            reads
                .iter()
                .find(|a| {
                    a.sub == sub
                        && a.record_ids
                            .as_array()
                            .is_some_and(|r| r.iter().any(|x| x == harm.as_str()))
                })
                .cloned()
        };
        let officer_read =
            of("officer-1").expect("the officer's read of the harm report is audited");
        assert_eq!(officer_read.decision, "ALLOWED");
        assert!(
            officer_read.fields.to_string().contains("description"),
            "{:?}",
            officer_read.fields
        );
        assert!(
            officer_read
                .request_id
                .as_deref()
                .is_some_and(|r| r.contains('.')),
            "delivery request id {:?}",
            officer_read.request_id
        );
        assert_eq!(
            of("teacher-a1")
                .expect("the teacher's denied read is audited")
                .decision,
            "DENIED"
        );

        // Scope is decided at delivery: once c1 leaves the teacher's class, its reports stop.
        let enrollment = ent::enrollment::Entity::find()
            .filter(ent::enrollment::Column::ChildId.eq(fx.c1))
            .one(app.conn())
            .await
            .unwrap()
            .unwrap();
        let mut moved = enrollment.clone().into_active_model();
        moved.head_teacher = Set(Some("teacher-a9".into()));
        moved.update(app.conn()).await.unwrap();
        let unseen = file_report(&app.address, &officer, fx.c1, "BEHAVIOURAL", "moved away").await;
        assert_eq!(
            o.event("r", WAIT).await.unwrap()["data"]["reportRaised"]["id"],
            unseen.as_str()
        );
        let mut back = enrollment.into_active_model();
        back.head_teacher = Set(Some("teacher-a1".into()));
        back.updated_at = Set(chrono::Utc::now());
        back.update(app.conn()).await.unwrap();
        let seen = file_report(&app.address, &officer, fx.c1, "BEHAVIOURAL", "back again").await;
        let e = t
            .event("r", WAIT)
            .await
            .expect("the class's reports resume");
        assert_eq!(
            e["data"]["reportRaised"]["id"],
            seen.as_str(),
            "the report filed while out of scope must not arrive: {e}"
        );
        assert!(app.state.events.snapshot().withheld_out_of_scope >= 2);
    }
);

backend_test!(
    subscribers_whose_answers_cannot_differ_share_one_resolution,
    |backend| {
        let app = TestApp::spawn(backend).await;
        let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
        let officer = |sub: &str| {
            app.token(
                "CIVIL_AFFAIRS",
                "civil_affairs.case_officer",
                None,
                "450102",
                sub,
            )
        };
        let teacher = app.token(
            "EDUCATION",
            "education.head_teacher",
            Some(&fx.school_a.to_string()),
            "450102",
            "teacher-a1",
        );
        // Two officers (one of them on two connections, one legacy) and a head teacher, all with
        // the same document and variables.
        let mut subscribers = Vec::new();
        for (token, proto) in [
            (officer("officer-1"), Proto::Transport),
            (officer("officer-1"), Proto::Legacy),
            (officer("officer-2"), Proto::Transport),
            (teacher, Proto::Transport),
        ] {
            let mut c = Client::connect(&app.address, "/graphql/ws", proto).await;
            c.init_ok(&token).await;
            c.subscribe("r", REPORT_RAISED, json!({"r": "450102"}))
                .await;
            subscribers.push(c);
        }
        wait_subscriptions(&app.state, 4).await;
        let before = app.state.events.snapshot();

        let harm = file_report(&app.address, &officer("filer"), fx.c1, "ABUSE", "身上有伤").await;
        let mut got = Vec::new();
        for c in subscribers.iter_mut() {
            let e = c
                .event("r", WAIT)
                .await
                .expect("every subscriber gets the report");
            assert_eq!(e["data"]["reportRaised"]["id"], harm.as_str(), "{e}");
            got.push(e);
        }
        // The officers' copies are the one answer: the narrative, no errors; the teacher's is
        // decided for the teacher (masked, FORBIDDEN).
        for e in &got[..3] {
            assert_eq!(e["data"]["reportRaised"]["description"], "身上有伤", "{e}");
            assert!(e["errors"].is_null(), "{e}");
        }
        assert!(
            got[3]["data"]["reportRaised"]["description"].is_null(),
            "{}",
            got[3]
        );
        assert_eq!(error_codes(&got[3]), vec!["FORBIDDEN"], "{}", got[3]);

        let after = app.state.events.snapshot();
        assert_eq!(after.deliveries - before.deliveries, 4, "{after:?}");
        assert_eq!(
            after.resolutions - before.resolutions,
            2,
            "one resolution for the three officer subscriptions, one for the teacher: {after:?}"
        );

        // Each user's delivery is audited once (officer-1's two connections make one entry),
        // the teacher's as denied.
        let reads = ent::audit_entry::Entity::find()
            .filter(ent::audit_entry::Column::Action.eq("READ"))
            .filter(ent::audit_entry::Column::Entity.eq("Report"))
            .all(app.conn())
            .await
            .unwrap();
        let of = |sub: &str| -> Vec<String> {
            reads
                .iter()
                .filter(|a| {
                    a.sub == sub
                        && a.record_ids
                            .as_array()
                            .is_some_and(|r| r.iter().any(|x| x == harm.as_str()))
                })
                .map(|a| a.decision.clone())
                .collect()
        };
        assert_eq!(of("officer-1"), vec!["ALLOWED"]);
        assert_eq!(of("officer-2"), vec!["ALLOWED"]);
        assert_eq!(of("teacher-a1"), vec!["DENIED"]);
    }
);

backend_test!(both_protocols_and_the_graphql_path, |backend| {
    let app = TestApp::spawn(backend).await;
    let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let officer = app.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "450102",
        "officer-1",
    );
    // Legacy graphql-ws on /graphql/ws, current graphql-transport-ws on /graphql.
    let mut legacy = Client::connect(&app.address, "/graphql/ws", Proto::Legacy).await;
    legacy.init_ok(&officer).await;
    legacy
        .subscribe("a", REPORT_RAISED, json!({"r": "4501"}))
        .await;
    let mut current = Client::connect(&app.address, "/graphql", Proto::Transport).await;
    current.init_ok(&officer).await;
    current
        .subscribe("b", REPORT_RAISED, json!({"r": "45"}))
        .await;
    wait_subscriptions(&app.state, 2).await;
    let id = file_report(&app.address, &officer, fx.c2, "PSYCHOLOGICAL", "x").await;
    let e = legacy.event("a", WAIT).await.expect("legacy data message");
    assert_eq!(e["data"]["reportRaised"]["id"], id.as_str(), "{e}");
    let e = current.event("b", WAIT).await.expect("next message");
    assert_eq!(e["data"]["reportRaised"]["id"], id.as_str(), "{e}");
    // Stopping a subscription completes it.
    current.send(json!({"id": "b", "type": "complete"})).await;
    legacy.send(json!({"id": "a", "type": "stop"})).await;
    match legacy.recv(WAIT).await {
        Some(Frame::Json(v)) => assert_eq!(v["type"], "complete", "{v}"),
        other => panic!("{other:?}"),
    }
    // GET /graphql without an upgrade is still GraphiQL / queries.
    let r = app
        .client
        .get(format!("{}/graphql", app.address))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
});

/// A client frame: FIN, the opcode, masked (as clients must) with a fixed key.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&u16::try_from(n).unwrap().to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// A raw HTTP/1.1 exchange: writes `request` in one piece, returns the response head and what
/// followed it.
async fn raw_exchange(address: &str, request: &[u8]) -> (tokio::net::TcpStream, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .unwrap();
    tcp.write_all(request).await.unwrap();
    let mut got = Vec::new();
    let end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 1024];
        let n = tokio::time::timeout(WAIT, tcp.read(&mut chunk))
            .await
            .expect("a response")
            .unwrap();
        assert!(n > 0, "closed before the response head: {got:?}");
        got.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&got[..end]).into_owned();
    (tcp, head, got[end..].to_vec())
}

fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n{extra}\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_are_answered_like_requests_and_early_messages_are_kept() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let officer = app.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "450102",
        "officer-1",
    );
    // The handshake, connection_init and a subscription in one write: the messages that came
    // with the handshake are not lost when the connection changes hands.
    let mut request = upgrade_request(
        "/graphql/ws",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
    )
    .into_bytes();
    let init = json!({"type": "connection_init", "payload": {"token": officer}}).to_string();
    request.extend(client_frame(0x1, init.as_bytes()));
    let sub = json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { reportRaised(regionCode: \"450102\") { id } }"}}).to_string();
    let (tcp, head, rest) = raw_exchange(&app.address, &request).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    let mut ws = tokio_tungstenite::WebSocketStream::from_partially_read(
        tcp,
        rest,
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await;
    let ack = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack:?}");
    ws.send(Message::text(sub)).await.unwrap();
    wait_subscriptions(&app.state, 1).await;
    ws.close(None).await.unwrap();

    // A request with `Upgrade: websocket` to another path gets that path's answer, and the
    // connection closes after it.
    let (_, head, body) = raw_exchange(
        &app.address,
        upgrade_request(
            "/healthz",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        )
        .as_bytes(),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains("x-request-id"),
        "middleware ran: {head}"
    );
    let _ = body;
    // A broken handshake is refused as before (no key).
    let (_, head, _) =
        raw_exchange(&app.address, upgrade_request("/graphql/ws", "").as_bytes()).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
}

backend_test!(connections_without_a_valid_token_are_refused, |backend| {
    let app = TestApp::spawn(backend).await;
    let _fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    // No token.
    let mut c = Client::connect(&app.address, "/graphql/ws", Proto::Transport).await;
    match c.init(json!({})).await {
        Frame::Closed(code, reason) => {
            assert_eq!(code, 4403);
            assert!(reason.contains("missing token"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // A token that does not verify.
    let mut c = Client::connect(&app.address, "/graphql/ws", Proto::Transport).await;
    match c.init(json!({"Authorization": "Bearer not.a.jwt"})).await {
        Frame::Closed(code, reason) => assert!(
            code == 4403 && reason.starts_with("UNAUTHENTICATED"),
            "{code} {reason}"
        ),
        other => panic!("{other:?}"),
    }
    // Legacy protocol: connection_error, then the close.
    let mut c = Client::connect(&app.address, "/graphql/ws", Proto::Legacy).await;
    match c.init(json!({"token": "not.a.jwt"})).await {
        Frame::Json(v) => assert_eq!(v["type"], "connection_error", "{v}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.closed(WAIT).await.map(|c| c.0), Some(4403));
    // A purpose the role may not use.
    let teacher = app.token(
        "EDUCATION",
        "education.head_teacher",
        None,
        "450102",
        "teacher-a1",
    );
    let mut c = Client::connect(&app.address, "/graphql/ws", Proto::Transport).await;
    match c
        .init(json!({"Authorization": format!("Bearer {teacher}"), "X-Purpose": "STATISTICS"}))
        .await
    {
        Frame::Closed(code, reason) => assert!(
            code == 4403 && reason.contains("FORBIDDEN"),
            "{code} {reason}"
        ),
        other => panic!("{other:?}"),
    }
    // An API client that was disabled: its token still verifies, the connection is refused
    // (as every HTTP request of the client is), and an enabled client is accepted.
    let (id, secret) = crate::partners::new_client(
        &app,
        "partner.school_system",
        carehub_entity::enums::SafelistMode::Log,
    )
    .await;
    let client_token = crate::partners::client_token(&app, &id, &secret).await;
    let mut c = Client::connect(&app.address, "/graphql/ws", Proto::Transport).await;
    match c
        .init(json!({"Authorization": format!("Bearer {client_token}")}))
        .await
    {
        Frame::Json(v) => assert_eq!(v["type"], "connection_ack", "{v}"),
        other => panic!("an enabled client is accepted: {other:?}"),
    }
    carehub_api::partners::clients::disable(
        app.conn(),
        &carehub_api::partners::RedisHandle::new(&app.state.settings),
        &id,
    )
    .await
    .unwrap();
    let mut c = Client::connect(&app.address, "/graphql/ws", Proto::Transport).await;
    match c
        .init(json!({"Authorization": format!("Bearer {client_token}")}))
        .await
    {
        Frame::Closed(code, reason) => assert!(
            code == 4403 && reason.starts_with("UNAUTHENTICATED") && reason.contains("revoked"),
            "{code} {reason}"
        ),
        other => panic!("a disabled client is refused: {other:?}"),
    }
    // Subscribing before connection_init.
    let mut c = Client::connect(&app.address, "/graphql/ws", Proto::Transport).await;
    c.subscribe("x", REPORT_RAISED, json!({"r": "45"})).await;
    assert_eq!(c.closed(WAIT).await.map(|c| c.0), Some(4401));
    // An aggregate-only role may not subscribe to records, and indicators only in its region.
    let inspector = app.token(
        "SUPERVISION",
        "supervision.inspector",
        None,
        "4501",
        "insp-1",
    );
    let mut c = Client::connect(&app.address, "/graphql/ws", Proto::Transport).await;
    c.init_ok(&inspector).await;
    c.subscribe("x", REPORT_RAISED, json!({"r": "4501"})).await;
    let e = c.event("x", WAIT).await.expect("an error payload");
    assert_eq!(error_codes(&e), vec!["FORBIDDEN"], "{e}");
    c.subscribe(
        "y",
        "subscription { indicatorsChanged(regionCode: \"4502\") { regionCode at } }",
        json!({}),
    )
    .await;
    let e = c.event("y", WAIT).await.expect("an error payload");
    assert_eq!(error_codes(&e), vec!["FORBIDDEN"], "{e}");
    // No subprotocol carehub speaks: the upgrade is refused.
    let mut req = format!("{}/graphql/ws", app.address.replacen("http://", "ws://", 1))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "mqtt".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_err());
});

backend_test!(expired_tokens_close_the_connection, |backend| {
    let app = TestApp::spawn(backend).await;
    let _fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
    let settings = &app.state.settings;
    for proto in [Proto::Transport, Proto::Legacy] {
        // A fresh two-second token per protocol: the first run alone outlives one.
        let short = carehub_api::cli::mint_dev_token(
            settings,
            "CIVIL_AFFAIRS",
            "civil_affairs.case_officer",
            None,
            "450102",
            Some("officer-1"),
            Duration::from_secs(2),
        )
        .unwrap();
        let mut c = Client::connect(&app.address, "/graphql/ws", proto).await;
        c.init_ok(&short).await;
        c.subscribe("r", REPORT_RAISED, json!({"r": "450102"}))
            .await;
        let (code, reason) = c
            .closed(Duration::from_secs(8))
            .await
            .expect("closed on expiry");
        assert_eq!(code, 4403, "{proto:?}: {reason}");
        assert!(reason.contains("expired"), "{reason}");
    }
    // A token already expired (inside the verifier's clock-skew leeway) is refused at init.
    let stale = carehub_api::cli::mint_dev_token(
        settings,
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "450102",
        Some("officer-1"),
        Duration::from_secs(0),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut c = Client::connect(&app.address, "/graphql/ws", Proto::Transport).await;
    match c.init(json!({"token": stale})).await {
        Frame::Closed(code, reason) => assert!(
            code == 4403 && reason.contains("expired"),
            "{code} {reason}"
        ),
        other => panic!("{other:?}"),
    }
});

backend_test!(
    indicator_notices_are_debounced_and_plans_due_are_announced,
    |backend| {
        let app = TestApp::spawn(backend).await;
        let fx = fixtures::load(app.conn(), &app.state.vault).await.unwrap();
        let officer = app.token(
            "CIVIL_AFFAIRS",
            "civil_affairs.case_officer",
            None,
            "450102",
            "officer-1",
        );
        let inspector = app.token("SUPERVISION", "supervision.inspector", None, "45", "insp-1");
        let mut i = Client::connect(&app.address, "/graphql/ws", Proto::Transport).await;
        i.init_ok(&inspector).await;
        i.subscribe(
            "i",
            "subscription { indicatorsChanged(regionCode: \"4501\") { regionCode at } }",
            json!({}),
        )
        .await;
        let mut o = Client::connect(&app.address, "/graphql/ws", Proto::Transport).await;
        o.init_ok(&officer).await;
        o.subscribe(
            "p",
            "subscription { carePlanDue(regionCode: \"450102\") { id childId status } }",
            json!({}),
        )
        .await;
        wait_subscriptions(&app.state, 2).await;

        for n in 0..5 {
            file_report(
                &app.address,
                &officer,
                fx.c2,
                "PSYCHOLOGICAL",
                &format!("burst {n}"),
            )
            .await;
        }
        let first = i.event("i", WAIT).await.expect("a notice");
        assert_eq!(
            first["data"]["indicatorsChanged"]["regionCode"], "4501",
            "{first}"
        );
        assert!(first["errors"].is_null(), "{first}");
        // Five changes within a second: one more notice at most, a second later.
        let mut more = 0;
        while i.event("i", Duration::from_millis(2500)).await.is_some() {
            more += 1;
        }
        assert!(more <= 1, "{more} extra notices for one burst");

        // The sweep moving a plan past its review date announces it.
        let plan = ent::care_plan::Entity::find()
            .filter(ent::care_plan::Column::ChildId.eq(fx.c1))
            .one(app.conn())
            .await
            .unwrap()
            .unwrap();
        let later = chrono::Utc::now() + chrono::Duration::days(400);
        let report = carehub_api::sweep::sweep(app.conn(), later).await.unwrap();
        assert!(report.plans_review_due >= 1, "{report:?}");
        app.state.events.notify_committed();
        let e = o.event("p", WAIT).await.expect("carePlanDue event");
        assert_eq!(e["data"]["carePlanDue"]["id"], plan.id.to_string(), "{e}");
        assert_eq!(e["data"]["carePlanDue"]["status"], "REVIEW_DUE");
    }
);

/// A private redis-server on a free port, killed when dropped.
struct PrivateRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut r = Self { port, child: None };
        r.restart();
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn redis_settings(url: &str, prefix: &str) -> Vec<(String, String)> {
    vec![
        ("REDIS_URL".into(), url.into()),
        ("CAREHUB_REDIS_PREFIX".into(), prefix.into()),
    ]
}

fn as_refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_on_one_replica_reaches_a_subscriber_on_the_other() {
    if !postgres_available() {
        return;
    }
    let Some(redis) = redis_url() else {
        assert!(
            !services_required(),
            "CAREHUB_REQUIRE_SERVICES=1 but CAREHUB_TEST_REDIS_URL is not set"
        );
        eprintln!("skipped: CAREHUB_TEST_REDIS_URL is not set");
        return;
    };
    // A channel of its own, so parallel tests sharing the Redis do not see each other.
    let extra = redis_settings(
        &redis,
        &format!("carehub-test-{}:", uuid::Uuid::new_v4().simple()),
    );
    let a = TestApp::spawn_with(Backend::Postgres, &as_refs(&extra)).await;
    let b = a.spawn_replica(&as_refs(&extra)).await;
    let fx = fixtures::load(a.conn(), &a.state.vault).await.unwrap();
    wait_redis(&a.client, &a.address, "ok", WAIT).await;
    wait_redis(&a.client, &b.address, "ok", WAIT).await;
    let officer = a.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "450102",
        "officer-1",
    );
    let mut on_b = Client::connect(&b.address, "/graphql/ws", Proto::Transport).await;
    on_b.init_ok(&officer).await;
    on_b.subscribe("r", REPORT_RAISED, json!({"r": "450102"}))
        .await;
    let mut on_a = Client::connect(&a.address, "/graphql/ws", Proto::Transport).await;
    on_a.init_ok(&officer).await;
    on_a.subscribe("r", REPORT_RAISED, json!({"r": "450102"}))
        .await;
    wait_subscriptions(&b.state, 1).await;
    wait_subscriptions(&a.state, 1).await;

    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            file_report(
                &a.address,
                &officer,
                fx.c2,
                "PSYCHOLOGICAL",
                &format!("on A {n}"),
            )
            .await,
        );
    }
    for id in &ids {
        let e = on_b.event("r", WAIT).await.expect("event on replica B");
        assert_eq!(e["data"]["reportRaised"]["id"], id.as_str(), "{e}");
        let e = on_a.event("r", WAIT).await.expect("event on replica A");
        assert_eq!(e["data"]["reportRaised"]["id"], id.as_str(), "{e}");
    }
    // Exactly once each: A's own copy coming back from Redis is dropped by cursor.
    assert!(
        on_a.event("r", Duration::from_millis(1500)).await.is_none(),
        "a duplicate reached A"
    );
    assert!(
        on_b.event("r", Duration::from_millis(100)).await.is_none(),
        "a duplicate reached B"
    );
    let sb = b.state.events.snapshot();
    assert!(
        sb.from_redis >= 1,
        "B received nothing through Redis: {sb:?}"
    );
    let sa = a.state.events.snapshot();
    // Whichever relay numbered an event published it; the other replica's copy was dropped.
    assert!(
        sa.redis_published + sb.redis_published >= 3,
        "{sa:?} {sb:?}"
    );
    assert!(sa.duplicates + sb.duplicates >= 3, "{sa:?} {sb:?}");
    b.stop().await;
}

backend_test!(redis_dying_and_returning_does_not_stop_events, |backend| {
    let mut redis = PrivateRedis::start();
    let extra = redis_settings(&redis.url(), "carehub-test:");
    let a = TestApp::spawn_with(backend, &as_refs(&extra)).await;
    // Two replicas on PostgreSQL; SQLite is single-replica, so the subscriber sits on A.
    let b = if backend == Backend::Postgres {
        Some(a.spawn_replica(&as_refs(&extra)).await)
    } else {
        None
    };
    let sub_address = b
        .as_ref()
        .map(|b| b.address.clone())
        .unwrap_or_else(|| a.address.clone());
    let sub_state = b
        .as_ref()
        .map(|b| b.state.clone())
        .unwrap_or_else(|| a.state.clone());
    let fx = fixtures::load(a.conn(), &a.state.vault).await.unwrap();
    wait_redis(&a.client, &a.address, "ok", WAIT).await;
    wait_redis(&a.client, &sub_address, "ok", WAIT).await;
    let officer = a.token(
        "CIVIL_AFFAIRS",
        "civil_affairs.case_officer",
        None,
        "450102",
        "officer-1",
    );
    let mut c = Client::connect(&sub_address, "/graphql/ws", Proto::Transport).await;
    c.init_ok(&officer).await;
    c.subscribe("r", REPORT_RAISED, json!({"r": "450102"}))
        .await;
    wait_subscriptions(&sub_state, 1).await;

    let id = file_report(&a.address, &officer, fx.c2, "PSYCHOLOGICAL", "before").await;
    assert_eq!(
        c.event("r", WAIT).await.expect("event before the outage")["data"]["reportRaised"]["id"],
        id.as_str()
    );

    // Redis dies: both replicas say so, keep serving, and events keep coming (on PostgreSQL
    // through the database catch-up).
    redis.kill();
    wait_redis(&a.client, &a.address, "degraded", WAIT).await;
    wait_redis(&a.client, &sub_address, "degraded", WAIT).await;
    let id = file_report(&a.address, &officer, fx.c2, "PSYCHOLOGICAL", "during").await;
    assert_eq!(
        c.event("r", WAIT).await.expect("event during the outage")["data"]["reportRaised"]["id"],
        id.as_str()
    );
    let health = a
        .client
        .get(format!("{sub_address}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert!(
        sub_state
            .events
            .stats()
            .redis_disconnects
            .load(Ordering::Relaxed)
            >= 1
    );

    // Redis returns: the replicas reconnect (with backoff) and events flow through it again.
    redis.restart();
    wait_redis(&a.client, &a.address, "ok", Duration::from_secs(20)).await;
    wait_redis(&a.client, &sub_address, "ok", Duration::from_secs(20)).await;
    let before = sub_state.events.snapshot().from_redis;
    let id = file_report(&a.address, &officer, fx.c2, "PSYCHOLOGICAL", "after").await;
    assert_eq!(
        c.event("r", WAIT).await.expect("event after the outage")["data"]["reportRaised"]["id"],
        id.as_str()
    );
    if b.is_some() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            sub_state.events.snapshot().from_redis > before
                || sub_state.events.snapshot().from_catch_up > 0
        );
    }
    assert!(
        c.event("r", Duration::from_millis(1500)).await.is_none(),
        "no duplicates after the outage"
    );
    if let Some(b) = b {
        b.stop().await;
    }
});
