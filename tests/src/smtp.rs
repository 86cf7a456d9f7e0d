//! A real SMTP server for the tests of invitations by e-mail: aiosmtpd (the Debian package
//! `python3-aiosmtpd`) on a free loopback port, with a small handler that writes every message
//! it accepts as a JSON file (envelope, headers and the decoded text body) and refuses, like a
//! real relay, every recipient whose local part is `nobody`. Only std, tokio and serde_json, so
//! the signaling crate's tests include this file too. The server is killed when dropped.

use serde_json::Value;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The handler aiosmtpd loads (`-c tether_test_mailbox.JsonMailbox FOLDER`).
const HANDLER: &str = r#"# Written by tether's tests: stores each message as JSON, refuses nobody@...
import email, json, os
from email import policy

class JsonMailbox:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(args[0])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split("@")[0] == "nobody":
            return "550 5.1.1 <%s>: no such mailbox here" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=policy.default)
        part = msg.get_body(("plain",))
        self.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "body": part.get_content() if part is not None else "",
            "raw": raw.decode("utf-8", "replace"),
        }
        path = os.path.join(self.folder, "%04d.json" % self.count)
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 Message accepted for delivery"
"#;

/// A running aiosmtpd and the folder its messages land in.
#[derive(Debug)]
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    mailbox: PathBuf,
}

/// A Python that has aiosmtpd: `TETHER_PYTHON`, else Debian's own python3 (a `python3` earlier
/// on `PATH` may be another installation without Debian's packages), else `python3`.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TETHER_PYTHON") {
        return PathBuf::from(p);
    }
    for candidate in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(candidate)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "no python3 with aiosmtpd: install the Debian package python3-aiosmtpd (see \
         scripts/packages.sh) or set TETHER_PYTHON"
    );
}

/// A loopback port nothing listens on (free when this returns).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl SmtpServer {
    /// Start the server with its files in `dir`; returns once it accepts connections.
    pub fn start(dir: &Path) -> SmtpServer {
        let mailbox = dir.join("mailbox");
        std::fs::create_dir_all(&mailbox).expect("create the mailbox folder");
        std::fs::write(dir.join("tether_test_mailbox.py"), HANDLER).expect("write the handler");
        let port = free_port();
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "tether_test_mailbox.JsonMailbox"])
            .arg(&mailbox)
            .env("PYTHONPATH", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start aiosmtpd");
        let mut server = SmtpServer {
            child,
            port,
            mailbox,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("aiosmtpd exited at start with {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "aiosmtpd did not listen on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.mailbox)
            .expect("read the mailbox")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p).expect("read a message");
                serde_json::from_str(&text).expect("a message as JSON")
            })
            .collect()
    }

    /// Wait up to `timeout` until `n` messages have arrived; all of them.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(
                started.elapsed() < timeout,
                "the SMTP server received {} messages, not {n}, within {timeout:?}",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The invitation link in a message body (the line that contains `/join.html#t=`), and its
/// token.
pub fn link_in(body: &str) -> (String, String) {
    let link = body
        .lines()
        .map(str::trim)
        .find(|l| l.contains("/join.html#t="))
        .unwrap_or_else(|| panic!("no invitation link in the message:\n{body}"))
        .to_owned();
    let token = link
        .split_once("#t=")
        .map(|(_, t)| t.to_owned())
        .unwrap_or_default();
    (link, token)
}
