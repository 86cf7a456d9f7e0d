//! The signaling service's REST API as the engine uses it: a minimal HTTP/1.1 client, CSR
//! sign-in and session start, invitations, and joining by link or short code.

use crate::error::EngineError;
use serde_json::{Value, json};
use std::time::Duration;
use tether_protocol::{ParticipantId, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every REST exchange is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Responses larger than this are refused (session records can be large, not unbounded).
const MAX_RESPONSE: usize = 16 << 20;
/// Uploads (a recording) may take a while on a slow uplink.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// Where the service is: `http://host:port` (a reverse proxy terminating TLS is future work).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUrl {
    authority: String,
}

impl ServiceUrl {
    pub fn parse(url: &str) -> Result<ServiceUrl, EngineError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| EngineError::BadUrl(url.into()))?;
        let authority = rest.split(['/', '#', '?']).next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') {
            return Err(EngineError::BadUrl(url.into()));
        }
        Ok(ServiceUrl {
            authority: authority.to_owned(),
        })
    }

    /// The WebSocket signaling endpoint.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/api/v1/ws", self.authority)
    }

    /// One request; `Ok` only for a 2xx answer, whose JSON body (or `Null`) it returns.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, EngineError> {
        let (status, json) = self.exchange(method, path, bearer, body).await?;
        ok_or_refusal(status, json)
    }

    /// Upload a file as a request body (streamed from disk, not held in memory); the answer's
    /// JSON, or the service's refusal.
    pub async fn upload(
        &self,
        path: &str,
        bearer: &str,
        file: &std::path::Path,
        content_type: &str,
    ) -> Result<Value, EngineError> {
        let source = tokio::fs::File::open(file).await?;
        let body = Body::File(source, content_type);
        let raw = self
            .round_trip("POST", path, Some(bearer), body, UPLOAD_TIMEOUT)
            .await?;
        let (status, json) = parse_response(&raw)?;
        ok_or_refusal(status, json)
    }

    /// GET a file (such as a session recording): its bytes, at most `MAX_RESPONSE`.
    pub async fn download(&self, path: &str, bearer: &str) -> Result<Vec<u8>, EngineError> {
        let raw = self
            .round_trip("GET", path, Some(bearer), Body::Empty, UPLOAD_TIMEOUT)
            .await?;
        let (status, body) = split_response(&raw)?;
        if status != 200 {
            let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
            ok_or_refusal(status, json)?;
        }
        Ok(body)
    }

    /// One request; the status and the JSON body (`Null` when empty or not JSON), whatever the
    /// status.
    pub async fn exchange(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), EngineError> {
        let body = match body {
            Some(v) => Body::Json(v.to_string()),
            None => Body::Empty,
        };
        let raw = self.round_trip(method, path, bearer, body, TIMEOUT).await?;
        parse_response(&raw)
    }

    /// Send one request on a new connection and read the whole response (at most
    /// `MAX_RESPONSE` bytes) within `limit`.
    async fn round_trip(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Body<'_>,
        limit: Duration,
    ) -> Result<Vec<u8>, EngineError> {
        let exchange = async {
            let mut stream = TcpStream::connect(&self.authority).await?;
            let mut head = format!(
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
                self.authority
            );
            if let Some(token) = bearer {
                head.push_str(&format!("Authorization: Bearer {token}\r\n"));
            }
            match body {
                Body::Empty => head.push_str("Content-Length: 0\r\n\r\n"),
                Body::Json(ref text) => head.push_str(&format!(
                    "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                    text.len()
                )),
                Body::File(ref file, content_type) => head.push_str(&format!(
                    "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                    file.metadata().await?.len()
                )),
            }
            stream.write_all(head.as_bytes()).await?;
            if let Body::File(mut file, _) = body {
                tokio::io::copy(&mut file, &mut stream).await?;
            }
            let mut raw = Vec::new();
            (&mut stream)
                .take(MAX_RESPONSE as u64 + 1)
                .read_to_end(&mut raw)
                .await?;
            Ok::<_, EngineError>(raw)
        };
        let raw = tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| EngineError::Io(format!("no answer within {} s", limit.as_secs())))??;
        if raw.len() > MAX_RESPONSE {
            return Err(EngineError::Protocol("response too large".into()));
        }
        Ok(raw)
    }
}

/// What a request carries.
enum Body<'a> {
    Empty,
    Json(String),
    /// A file streamed from disk, with its content type.
    File(tokio::fs::File, &'a str),
}

/// The JSON of a 2xx answer, or the service's refusal with its code and message.
fn ok_or_refusal(status: u16, json: Value) -> Result<Value, EngineError> {
    if (200..300).contains(&status) {
        return Ok(json);
    }
    Err(EngineError::Service {
        status,
        code: json["code"].as_str().unwrap_or("unknown").to_owned(),
        message: json["message"]
            .as_str()
            .unwrap_or("the service refused the request")
            .to_owned(),
    })
}

/// A whole HTTP/1.1 response: its status and JSON body (`Null` when empty or not JSON).
fn parse_response(raw: &[u8]) -> Result<(u16, Value), EngineError> {
    let (status, body) = split_response(raw)?;
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// A whole HTTP/1.1 response: its status and body bytes (chunked bodies joined).
fn split_response(raw: &[u8]) -> Result<(u16, Vec<u8>), EngineError> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| EngineError::Protocol("no HTTP header".into()))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let body = &raw[end + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| EngineError::Protocol("no HTTP status".into()))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    if !chunked {
        return Ok((status, body.to_vec()));
    }
    let mut joined = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| EngineError::Protocol("a chunk without its size line".into()))?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| EngineError::Protocol(format!("bad chunk size {size_text:?}")))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok((status, joined));
        }
        let chunk = rest
            .get(..size)
            .ok_or_else(|| EngineError::Protocol("a chunk shorter than its size".into()))?;
        joined.extend_from_slice(chunk);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

/// How someone holding an invitation presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invitation {
    /// The secret token of an invitation link.
    Token(String),
    /// The nine-digit short code read over the phone.
    Code(String),
}

impl Invitation {
    /// An invitation link (`.../join.html#t=TOKEN`), a bare token, or a short code.
    pub fn parse(input: &str) -> Option<Invitation> {
        let input = input.trim();
        if let Some((_, token)) = input.split_once("#t=") {
            return (!token.is_empty()).then(|| Invitation::Token(token.to_owned()));
        }
        if tether_protocol::ShortCode::parse(input).is_some() {
            return Some(Invitation::Code(input.to_owned()));
        }
        let token_like = input.len() >= 22
            && input
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        token_like.then(|| Invitation::Token(input.to_owned()))
    }
}

/// A place in a session: the participant's id, role and token (the WebSocket credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    pub session_id: String,
    pub participant: ParticipantId,
    pub role: Role,
    pub token: String,
}

fn field<'a>(v: &'a Value, pointer: &str) -> Result<&'a Value, EngineError> {
    v.pointer(pointer)
        .ok_or_else(|| EngineError::Protocol(format!("missing {pointer} in {v}")))
}

fn parse<T: serde::de::DeserializeOwned>(v: &Value, pointer: &str) -> Result<T, EngineError> {
    serde_json::from_value(field(v, pointer)?.clone())
        .map_err(|e| EngineError::Protocol(format!("{pointer}: {e}")))
}

fn seat(v: &Value, session_pointer: &str) -> Result<Seat, EngineError> {
    Ok(Seat {
        session_id: parse(v, session_pointer)?,
        participant: parse(v, "/participant/id")?,
        role: parse(v, "/participant/role")?,
        token: parse(v, "/participant/token")?,
    })
}

impl ServiceUrl {
    /// Sign a CSR in; returns the sign-in token.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<String, EngineError> {
        let v = self
            .request(
                "POST",
                "/api/v1/login",
                None,
                Some(&json!({"username": username, "password": password})),
            )
            .await?;
        field(&v, "/token")?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| EngineError::Protocol("token is not a string".into()))
    }

    /// Start a session as the signed-in CSR (defaults: the organization's first type).
    pub async fn start_session(
        &self,
        sign_in: &str,
        session_type: Option<&str>,
        tracking_code: Option<&str>,
    ) -> Result<Seat, EngineError> {
        let body = json!({"session_type": session_type, "tracking_code": tracking_code});
        let v = self
            .request("POST", "/api/v1/sessions", Some(sign_in), Some(&body))
            .await?;
        seat(&v, "/session/id")
    }

    /// Invite for `role` ("customer" or "csr"); returns the invitation (token, link, code).
    pub async fn invite(
        &self,
        sign_in: &str,
        session_id: &str,
        role: &str,
    ) -> Result<Value, EngineError> {
        let path = format!("/api/v1/sessions/{session_id}/invitations");
        self.request("POST", &path, Some(sign_in), Some(&json!({"role": role})))
            .await
    }

    /// Join with an invitation under a display name (a CSR invitation needs `sign_in`).
    pub async fn join(
        &self,
        invitation: &Invitation,
        name: &str,
        sign_in: Option<&str>,
    ) -> Result<Seat, EngineError> {
        let body = match invitation {
            Invitation::Token(t) => json!({"token": t, "name": name}),
            Invitation::Code(c) => json!({"code": c, "name": name}),
        };
        let v = self
            .request("POST", "/api/v1/join", sign_in, Some(&body))
            .await?;
        seat(&v, "/session_id")
    }

    /// STUN/TURN servers for this participant (`ice_servers` as the service gives them).
    pub async fn ice_servers(&self, seat: &Seat) -> Result<Value, EngineError> {
        Ok(field(
            &self
                .request("GET", "/api/v1/ice", Some(&seat.token), None)
                .await?,
            "/ice_servers",
        )?
        .clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let cases = [
            (
                "http://127.0.0.1:8080",
                Some("ws://127.0.0.1:8080/api/v1/ws"),
            ),
            (
                "http://support.example:80/join.html#t=x",
                Some("ws://support.example:80/api/v1/ws"),
            ),
            ("https://support.example", None),
            ("127.0.0.1:8080", None),
            ("http://", None),
            ("http://user@host", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                ServiceUrl::parse(input).ok().map(|u| u.ws_url()).as_deref(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn invitations() {
        let token = "OYliARsvOezt_ZBoibAOMGFGXK0toaFq-OAKULN0GTE";
        let cases = [
            (
                format!("http://h:1/join.html#t={token}"),
                Some(Invitation::Token(token.into())),
            ),
            (token.to_owned(), Some(Invitation::Token(token.into()))),
            (
                "1234-56789".into(),
                Some(Invitation::Code("1234-56789".into())),
            ),
            (
                "1234 56789".into(),
                Some(Invitation::Code("1234 56789".into())),
            ),
            ("12345".into(), None),
            ("http://h:1/join.html#t=".into(), None),
            ("not a token!".into(), None),
        ];
        for (input, want) in cases {
            assert_eq!(Invitation::parse(&input), want, "{input}");
        }
    }
}
