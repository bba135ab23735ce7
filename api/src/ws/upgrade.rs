//! The hand-over of WebSocket upgrades from actix-http (see `startup::run`).
//!
//! actix-http's HTTP/1 dispatcher gives a request with `Upgrade: websocket` to the server's
//! upgrade service together with the connection (`Framed<TcpStream, h1::Codec>`), instead of to
//! the application. [`serve`] still lets the application answer it — the same routes,
//! middleware, handler and errors as any request, marked [`Upgradable`] — and then writes the
//! answer itself: a 101 that carries a [`Handoff`] (put there by `ws::graphql_ws`) hands the bare
//! socket to it, the dispatcher's read and write buffers (8 KiB each, otherwise kept for the life
//! of the connection) are dropped; any other answer is written and the connection closed.

use std::future::Future;
use std::rc::Rc;

use actix_codec::Framed;
use actix_http::body::{BodySize, MessageBody};
use actix_http::{h1, ConnectionType, HttpMessage, Request, Response, StatusCode};
use actix_web::dev::{Service, ServiceResponse};
use futures::future::LocalBoxFuture;
use futures::SinkExt;
use tokio::net::TcpStream;

/// In a request's extensions: the request came through the upgrade hand-over, so its handler
/// may answer with a [`Handoff`].
#[derive(Clone, Copy, Debug)]
pub struct Upgradable;

type Run = Box<dyn FnOnce(TcpStream, &[u8]) -> LocalBoxFuture<'static, ()>>;

/// In a 101 response's extensions: what runs on the socket once the response is written. It gets
/// the stream and the bytes the client sent right behind its handshake (to copy: the buffer
/// holding them is dropped before the connection is served).
pub struct Handoff(Run);

impl Handoff {
    pub fn new<F, Fut>(run: F) -> Self
    where
        F: FnOnce(TcpStream, &[u8]) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        Self(Box::new(move |io, received| Box::pin(run(io, received))))
    }
}

/// Answers one upgrade request through the application `app` and serves the connection after it.
pub async fn serve<S, B>(
    app: Rc<S>,
    req: Request,
    mut framed: Framed<TcpStream, h1::Codec>,
) -> Result<(), actix_web::Error>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    req.extensions_mut().insert(Upgradable);
    let res: Response<_> = match app.call(req).await {
        Ok(res) => res.into_parts().1.map_into_boxed_body().into(),
        Err(e) => e.error_response().into(),
    };
    let (mut res, body) = res.into_parts();
    let handoff = res.extensions_mut().remove::<Handoff>();
    match handoff {
        Some(Handoff(run)) if res.status() == StatusCode::SWITCHING_PROTOCOLS => {
            drop(body);
            framed
                .send(h1::Message::Item((res, BodySize::None)))
                .await?;
            let parts = framed.into_parts();
            let connection = run(parts.io, &parts.read_buf);
            drop(parts.read_buf);
            drop(parts.write_buf);
            connection.await;
        }
        _ => {
            let bytes = actix_http::body::to_bytes(body)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            res.head_mut().set_connection_type(ConnectionType::Close);
            framed
                .send(h1::Message::Item((
                    res,
                    BodySize::Sized(bytes.len() as u64),
                )))
                .await?;
            if !bytes.is_empty() {
                framed.send(h1::Message::Chunk(Some(bytes))).await?;
            }
            framed.send(h1::Message::Chunk(None)).await?;
            framed.close().await?;
        }
    }
    Ok(())
}
