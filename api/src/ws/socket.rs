//! A WebSocket on the raw TCP stream of an upgraded connection that holds no buffer while idle.
//!
//! actix-http's dispatcher keeps an 8 KiB read and an 8 KiB write buffer for the life of a
//! connection, and actix-ws adds a channel (a 32-message block) and buffers of its own: most of
//! the 15.5 KB of RSS a WebSocket connection that mostly waits cost (bench/ws/RESULTS.md). Here
//! bytes are read when the socket is readable into a buffer on the stack, a frame is encoded into
//! a buffer of its own size and written, and only the bytes of a frame not yet complete are kept
//! between reads. The frames are read and written by actix-http's WebSocket codec (server side:
//! masked client frames, the frame size limit), as actix-ws did.

use std::io;
use std::time::Duration;

use actix_codec::{Decoder, Encoder};
use actix_http::ws::{CloseReason, Codec, Frame, Item, Message, ProtocolError};
use actix_web::web::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Bytes taken from the socket per read (a buffer on the stack, not kept).
const READ_CHUNK: usize = 4096;
/// How long a closed connection waits for the peer to close its side.
const LINGER: Duration = Duration::from_secs(1);

/// A client message, fragmented messages joined.
#[derive(Debug)]
pub enum Incoming {
    Text(String),
    Binary(Bytes),
    Ping(Bytes),
    Pong,
    /// The peer's close frame (its code and reason are not needed).
    Close,
}

/// The server side of one WebSocket connection.
pub struct WsSocket {
    io: TcpStream,
    codec: Codec,
    /// Bytes received but not yet a whole frame; no allocation while empty.
    pending: BytesMut,
    /// A fragmented message being joined: whether it is text, and its fragments so far.
    fragments: Option<(bool, BytesMut)>,
    /// The largest message (fragments joined) accepted.
    max_message: usize,
    /// The peer closed its side of the TCP connection.
    eof: bool,
    /// Frames queued to be written together ([`WsSocket::flush`]); no allocation while empty.
    out: BytesMut,
}

impl WsSocket {
    /// `received`: what the client sent right behind its handshake (say, its `connection_init`),
    /// already read from the socket.
    pub fn new(io: TcpStream, received: &[u8], max_frame: usize, max_message: usize) -> Self {
        Self {
            io,
            codec: Codec::new().max_size(max_frame),
            pending: BytesMut::from(received),
            fragments: None,
            max_message,
            eof: false,
            out: BytesMut::new(),
        }
    }

    /// The next client message; `None` once the peer has closed the connection. Cancel-safe:
    /// bytes read are kept in the socket until their frame is complete, whatever happens to the
    /// future.
    pub async fn next(&mut self) -> Option<Result<Incoming, ProtocolError>> {
        loop {
            match self.decode() {
                Ok(Some(message)) => return Some(Ok(message)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            if self.eof {
                return None;
            }
            if let Err(e) = self.io.readable().await {
                return Some(Err(ProtocolError::Io(e)));
            }
            match self.read_some() {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Some(Err(ProtocolError::Io(e))),
            }
        }
    }

    /// Reads what the socket has (without waiting) onto the pending bytes.
    fn read_some(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; READ_CHUNK];
        let n = self.io.try_read(&mut chunk)?;
        self.pending.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// The next whole message in the pending bytes, if there is one.
    fn decode(&mut self) -> Result<Option<Incoming>, ProtocolError> {
        let message = self.decode_pending();
        if self.pending.is_empty() {
            // Give the allocation back: an idle connection holds no buffer.
            self.pending = BytesMut::new();
        }
        message
    }

    fn decode_pending(&mut self) -> Result<Option<Incoming>, ProtocolError> {
        loop {
            if self.pending.is_empty() {
                return Ok(None);
            }
            let Some(frame) = self.codec.decode(&mut self.pending)? else {
                return Ok(None);
            };
            let (bytes, last) = match frame {
                Frame::Text(b) => return text(b).map(Some),
                Frame::Binary(b) => return Ok(Some(Incoming::Binary(b))),
                Frame::Ping(b) => return Ok(Some(Incoming::Ping(b))),
                Frame::Pong(_) => return Ok(Some(Incoming::Pong)),
                Frame::Close(_) => return Ok(Some(Incoming::Close)),
                Frame::Continuation(Item::FirstText(b)) => {
                    self.fragments = Some((true, BytesMut::new()));
                    (b, false)
                }
                Frame::Continuation(Item::FirstBinary(b)) => {
                    self.fragments = Some((false, BytesMut::new()));
                    (b, false)
                }
                Frame::Continuation(Item::Continue(b)) => (b, false),
                Frame::Continuation(Item::Last(b)) => (b, true),
            };
            // The codec refuses a continuation that was not started.
            let Some((_, joined)) = self.fragments.as_mut() else {
                return Err(ProtocolError::ContinuationNotStarted);
            };
            if joined.len() + bytes.len() > self.max_message {
                self.fragments = None;
                return Err(ProtocolError::Io(io::Error::other(
                    "Exceeded maximum continuation size",
                )));
            }
            joined.extend_from_slice(&bytes);
            if last {
                if let Some((is_text, joined)) = self.fragments.take() {
                    let joined = joined.freeze();
                    return if is_text {
                        text(joined).map(Some)
                    } else {
                        Ok(Some(Incoming::Binary(joined)))
                    };
                }
            }
        }
    }

    /// Writes one message (in a buffer of its own size, freed once written).
    async fn send(&mut self, message: Message) -> io::Result<()> {
        let mut out = BytesMut::new();
        self.codec
            .encode(message, &mut out)
            .map_err(io::Error::other)?;
        self.io.write_all(&out).await
    }

    pub async fn text(&mut self, text: String) -> io::Result<()> {
        self.send(Message::Text(text.into())).await
    }

    /// Queues a text message for the next [`WsSocket::flush`].
    pub fn queue_text(&mut self, text: String) {
        // Encoding a text message cannot fail (no size limit applies to what the server sends).
        let _ = self.codec.encode(Message::Text(text.into()), &mut self.out);
    }

    /// Bytes queued.
    pub fn queued(&self) -> usize {
        self.out.len()
    }

    /// Writes the queued messages in one go and frees the buffer.
    pub async fn flush(&mut self) -> io::Result<()> {
        let out = std::mem::take(&mut self.out);
        self.io.write_all(&out).await
    }

    pub async fn ping(&mut self, payload: &[u8]) -> io::Result<()> {
        self.send(Message::Ping(Bytes::copy_from_slice(payload)))
            .await
    }

    pub async fn pong(&mut self, payload: &[u8]) -> io::Result<()> {
        self.send(Message::Pong(Bytes::copy_from_slice(payload)))
            .await
    }

    /// Sends the close frame and closes the connection: our side first, then, for at most
    /// [`LINGER`], whatever the peer still sends is read and dropped until it closes too (a
    /// socket closed with unread bytes would reset the connection, and the peer could lose the
    /// close frame).
    pub async fn close(mut self, reason: Option<CloseReason>) {
        if self.send(Message::Close(reason)).await.is_err() {
            return;
        }
        if self.io.shutdown().await.is_err() || self.eof {
            return;
        }
        let _ = tokio::time::timeout(LINGER, async {
            loop {
                if self.io.readable().await.is_err() {
                    return;
                }
                match self.discard() {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
        })
        .await;
    }

    fn discard(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; READ_CHUNK];
        self.io.try_read(&mut chunk)
    }
}

fn text(bytes: Bytes) -> Result<Incoming, ProtocolError> {
    match String::from_utf8(bytes.into()) {
        Ok(s) => Ok(Incoming::Text(s)),
        Err(e) => Err(ProtocolError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            e.utf8_error(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use actix_http::ws::CloseCode;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;

    /// A connected pair: the server's socket, and the client's stream with a client-side codec.
    async fn pair(received: &[u8], max: usize) -> (WsSocket, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (WsSocket::new(server, received, max, max), client)
    }

    /// Client frames (masked), as a client would write them.
    fn frames(messages: Vec<Message>) -> BytesMut {
        let mut codec = Codec::new().client_mode();
        let mut out = BytesMut::new();
        for m in messages {
            codec.encode(m, &mut out).unwrap();
        }
        out
    }

    #[tokio::test]
    async fn messages_are_read_whole_however_the_bytes_arrive() {
        let first = frames(vec![Message::Text("connection_init".into())]);
        let rest = frames(vec![
            Message::Ping(Bytes::from_static(b"p")),
            Message::Continuation(Item::FirstText(Bytes::from_static(b"{\"type\":"))),
            Message::Continuation(Item::Continue(Bytes::from_static(b"\"subscribe\""))),
            Message::Continuation(Item::Last(Bytes::from_static(b"}"))),
            Message::Binary(Bytes::from_static(b"bin")),
            Message::Close(None),
        ]);
        // The first message came with the handshake; the rest trickles in a byte at a time.
        let (mut socket, mut client) = pair(&first, 1024).await;
        let writer = tokio::spawn(async move {
            for b in rest.iter() {
                client.write_all(&[*b]).await.unwrap();
                client.flush().await.unwrap();
            }
            client
        });
        assert!(
            matches!(socket.next().await, Some(Ok(Incoming::Text(t))) if t == "connection_init")
        );
        assert!(matches!(socket.next().await, Some(Ok(Incoming::Ping(b))) if &b[..] == b"p"));
        assert!(
            matches!(socket.next().await, Some(Ok(Incoming::Text(t))) if t == "{\"type\":\"subscribe\"}")
        );
        assert!(matches!(socket.next().await, Some(Ok(Incoming::Binary(b))) if &b[..] == b"bin"));
        assert!(matches!(socket.next().await, Some(Ok(Incoming::Close))));
        // Nothing is buffered between messages.
        assert_eq!(socket.pending.capacity(), 0);
        drop(writer.await.unwrap());
        assert!(socket.next().await.is_none(), "the peer closed");
    }

    #[tokio::test]
    async fn oversized_messages_and_unmasked_frames_are_refused() {
        let big = frames(vec![
            Message::Continuation(Item::FirstText(Bytes::from(vec![b'a'; 600]))),
            Message::Continuation(Item::Last(Bytes::from(vec![b'a'; 600]))),
        ]);
        let (mut socket, _client) = pair(&big, 1024).await;
        assert!(matches!(
            socket.next().await,
            Some(Err(ProtocolError::Io(_)))
        ));

        let mut unmasked = BytesMut::new();
        Codec::new()
            .encode(Message::Text("x".into()), &mut unmasked)
            .unwrap();
        let (mut socket, _client) = pair(&unmasked, 1024).await;
        assert!(matches!(
            socket.next().await,
            Some(Err(ProtocolError::UnmaskedFrame))
        ));

        let invalid = frames(vec![Message::Binary(Bytes::from_static(&[0xff]))]);
        let mut text = invalid.clone();
        text[0] = (text[0] & 0xf0) | 0x1; // the same bytes as a text frame
        let (mut socket, _client) = pair(&text, 1024).await;
        assert!(matches!(
            socket.next().await,
            Some(Err(ProtocolError::Io(_)))
        ));
    }

    #[tokio::test]
    async fn messages_and_the_close_reach_the_client() {
        let (mut socket, mut client) = pair(&[], 1024).await;
        socket.text("{\"type\":\"next\"}".into()).await.unwrap();
        socket.queue_text("{\"type\":\"next\"}".into());
        socket.queue_text("{\"type\":\"next\"}".into());
        assert!(socket.queued() > 0);
        socket.flush().await.unwrap();
        assert_eq!(socket.out.capacity(), 0, "nothing kept once written");
        socket.ping(b"").await.unwrap();
        let closing = tokio::spawn(socket.close(Some(CloseReason {
            code: CloseCode::from(4403),
            description: Some("Forbidden".into()),
        })));
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        closing.await.unwrap();
        let mut buf = BytesMut::from(&got[..]);
        let mut codec = Codec::new().client_mode();
        for _ in 0..3 {
            assert!(
                matches!(codec.decode(&mut buf).unwrap(), Some(Frame::Text(t)) if &t[..] == b"{\"type\":\"next\"}")
            );
        }
        assert!(matches!(
            codec.decode(&mut buf).unwrap(),
            Some(Frame::Ping(_))
        ));
        match codec.decode(&mut buf).unwrap() {
            Some(Frame::Close(Some(r))) => {
                assert_eq!(u16::from(r.code), 4403);
                assert_eq!(r.description.as_deref(), Some("Forbidden"));
            }
            other => panic!("expected the close frame, got {other:?}"),
        }
        assert!(buf.is_empty(), "then the end of the stream");
    }
}
