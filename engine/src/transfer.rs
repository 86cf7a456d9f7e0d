//! File transfer between a CSR and a customer over the mesh: the customer approves each
//! transfer, bytes go on a `file-ID` data channel with back-pressure, the receiver writes only
//! inside its chosen folder and checks the SHA-256, and the CSR's engine reports the metadata
//! to the session record.

#[path = "receiving.rs"]
mod receiving;
pub(super) use receiving::Note;

use super::{EngineEvent, Mesh};
use crate::error::EngineError;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tether_protocol::{
    Activity, Capability, Command, ParticipantId, PeerMessage, PublishedFile, TransferDirection,
    TransferOutcome, TransferReport, check_file_name,
};
use tokio::sync::oneshot;

/// Progress is reported at most once per this many bytes (and at the end), so a large file
/// can't flood the program's event queue.
const PROGRESS_STEP: u64 = 1 << 20;

fn report_progress(before: u64, now: u64, total: u64) -> bool {
    now == total || before / PROGRESS_STEP != now / PROGRESS_STEP
}

/// A finished transfer, as its initiator learns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferDone {
    pub id: u64,
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

pub(super) type Reply = oneshot::Sender<Result<TransferDone, EngineError>>;
type Key = (ParticipantId, u64);

/// A transfer waiting for the local user's approval.
pub(super) enum Waiting {
    /// A CSR offers a file to this customer.
    Receive {
        name: String,
        size: u64,
        sha256: String,
    },
    /// A CSR asks for a file from this customer's folder.
    Send { name: String, path: PathBuf },
}

pub(super) struct Outgoing {
    direction: TransferDirection,
    path: PathBuf,
    name: String,
    size: u64,
    /// Known from the offer, or once the sending task has hashed the whole file.
    sha256: String,
    /// The offer had no `sha256`: the digest follows the bytes on the file channel.
    digest_after: bool,
    reply: Option<Reply>,
    /// The task sending the bytes, once accepted (replaced when the receiver resumes).
    task: Option<AbortOnDrop>,
}

impl Outgoing {
    /// What the program and the record learn of this transfer when it ends.
    fn done(&self, id: u64) -> TransferDone {
        TransferDone {
            id,
            name: self.name.clone(),
            size: self.size,
            sha256: self.sha256.clone(),
        }
    }
}

/// A file we asked a peer for, and our request (sent again on a new connection).
pub(super) struct Fetching {
    request: PeerMessage,
    pub(super) reply: Option<Reply>,
}

/// A spawned task that is stopped when its owner drops it.
pub(super) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Default)]
pub(super) struct Transfers {
    pub(super) waiting: std::collections::HashMap<Key, Waiting>,
    pub(super) incoming: std::collections::HashMap<Key, receiving::Incoming>,
    pub(super) outgoing: std::collections::HashMap<Key, Outgoing>,
    /// Fetches and downloads we asked for: the peer's offer with this id is accepted without
    /// a prompt.
    pub(super) fetching: std::collections::HashMap<Key, Fetching>,
    /// The message that closed each finished transfer on this side (`file_result` or
    /// `refused`), sent again if the peer asks about it after a broken connection lost it.
    pub(super) closed: std::collections::HashMap<Key, PeerMessage>,
    /// Basic mode, CSR side: the files this CSR published, by id.
    pub(super) published: std::collections::BTreeMap<u64, (PathBuf, PublishedFile)>,
}

/// SHA-256 and size of a file, read in a blocking thread.
async fn digest(path: PathBuf) -> Result<(u64, String), EngineError> {
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let size = std::io::copy(&mut file, &mut hasher)?;
        Ok::<_, std::io::Error>((size, hex(&hasher.finalize())))
    })
    .await
    .map_err(|e| EngineError::Io(e.to_string()))?
    .map_err(EngineError::from)
}

/// What an offer of a file announces before its bytes: the size, and the SHA-256 only for an
/// empty file (otherwise the digest is computed while sending and follows the bytes, so the
/// file is read once).
async fn announce(path: PathBuf) -> Result<(u64, String), EngineError> {
    let size = tokio::fs::metadata(&path).await?.len();
    let sha256 = if size == 0 {
        hex(&Sha256::digest([]))
    } else {
        String::new()
    };
    Ok((size, sha256))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The path of `name` inside `dir`, refusing anything that would leave it.
fn inside(dir: &Path, name: &str) -> Result<PathBuf, String> {
    check_file_name(name)?;
    Ok(dir.join(name))
}

/// A regular file (not a symlink, not a folder) inside `dir`.
fn readable_inside(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let path = inside(dir, name)?;
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_file() => Ok(path),
        Ok(_) => Err(format!("{name} is not a regular file in the shared folder")),
        Err(_) => Err(format!("there is no {name} in the shared folder")),
    }
}

impl Mesh {
    fn files_dir(&self) -> Result<&Path, String> {
        self.config
            .files_dir
            .as_deref()
            .ok_or_else(|| "this participant has not chosen a folder for files".to_owned())
    }

    /// Rule 10/11 as the service decided them: the CSR's advanced file transfer is running.
    fn transfer_allowed_from(&self, csr: ParticipantId) -> Result<(), String> {
        if !self.is_csr(csr) {
            return Err("only a support representative can transfer files with you".into());
        }
        let running = self.roster.activities.iter().any(|a| {
            a.actor == csr
                && a.activity == Activity::FileTransferAdvanced
                && a.target == Some(self.me)
        });
        if !running {
            return Err("file transfer is not active for this support representative".into());
        }
        if !self.consents.contains(&Capability::FileTransfer) {
            return Err("the customer has not allowed file transfer".into());
        }
        Ok(())
    }

    async fn send_peer(&self, to: ParticipantId, msg: &PeerMessage) -> Result<(), EngineError> {
        let slot = self.peers.get(&to).filter(|s| s.open).ok_or_else(|| {
            EngineError::Invalid(format!("participant {} is not connected", to.0))
        })?;
        slot.peer.send_text(&msg.to_json()).await
    }

    /// Refuse transfer `id` (or give it up); remembered, so a peer that asks again after a
    /// broken connection gets the same answer.
    async fn refuse(&mut self, to: ParticipantId, id: u64, reason: String) {
        self.close_transfer(to, id, PeerMessage::Refused { id, reason })
            .await;
    }

    /// Send the message that closes transfer `id` and remember it.
    async fn close_transfer(&mut self, to: ParticipantId, id: u64, msg: PeerMessage) {
        let _ = self.send_peer(to, &msg).await;
        self.transfers.closed.insert((to, id), msg);
    }

    /// A message about transfer `id` that this side already knows: one under way is ignored
    /// (each side resumes its own part on a new connection); a closed one gets its closing
    /// message again.
    async fn known(&mut self, from: ParticipantId, id: u64) -> bool {
        let key = (from, id);
        if let Some(msg) = self.transfers.closed.get(&key) {
            let _ = self.send_peer(from, msg).await;
            return true;
        }
        let t = &self.transfers;
        t.waiting.contains_key(&key)
            || t.outgoing.contains_key(&key)
            || t.incoming.contains_key(&key)
    }

    /// On a new connection to `peer`, send again what the broken one may have lost: our
    /// requests for files, and our offers (the receiver ignores those it has, answers those it
    /// closed, and resumes its own part with `file_accept`).
    pub(super) async fn resend_transfers(&mut self, peer: ParticipantId) {
        let mut again: Vec<PeerMessage> = Vec::new();
        for ((p, _), fetching) in &self.transfers.fetching {
            if *p == peer {
                again.push(fetching.request.clone());
            }
        }
        for ((p, id), out) in &self.transfers.outgoing {
            if *p == peer {
                again.push(PeerMessage::FileOffer {
                    id: *id,
                    name: out.name.clone(),
                    size: out.size,
                    // The same offer as the first time.
                    sha256: if out.digest_after {
                        String::new()
                    } else {
                        out.sha256.clone()
                    },
                });
            }
        }
        for msg in again {
            let _ = self.send_peer(peer, &msg).await;
        }
    }

    /// CSR: offer a local file to a customer.
    pub(super) async fn send_file(&mut self, to: ParticipantId, path: PathBuf, reply: Reply) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Err(e) = check_file_name(&name) {
            let _ = reply.send(Err(EngineError::Invalid(format!("file name: {e}"))));
            return;
        }
        let (size, sha256) = match announce(path.clone()).await {
            Ok(d) => d,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let id = self.next_request;
        self.next_request += 1;
        let offer = PeerMessage::FileOffer {
            id,
            name: name.clone(),
            size,
            sha256: sha256.clone(),
        };
        match self.send_peer(to, &offer).await {
            Ok(()) => {
                self.transfers.outgoing.insert(
                    (to, id),
                    Outgoing {
                        direction: TransferDirection::ToCustomer,
                        path,
                        name,
                        size,
                        digest_after: sha256.is_empty(),
                        sha256,
                        reply: Some(reply),
                        task: None,
                    },
                );
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// CSR: ask a customer for a file from its folder.
    pub(super) async fn fetch_file(&mut self, from: ParticipantId, name: String, reply: Reply) {
        if let Err(e) = check_file_name(&name) {
            let _ = reply.send(Err(EngineError::Invalid(format!("file name: {e}"))));
            return;
        }
        if let Err(e) = self.files_dir() {
            let _ = reply.send(Err(EngineError::Invalid(e)));
            return;
        }
        let id = self.next_request;
        self.next_request += 1;
        let request = PeerMessage::FileFetch { id, name };
        match self.send_peer(from, &request).await {
            Ok(()) => {
                let fetching = Fetching {
                    request,
                    reply: Some(reply),
                };
                self.transfers.fetching.insert((from, id), fetching);
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// CSR, basic mode: publish a local file; every customer gets the new list.
    pub(super) async fn publish(&mut self, path: PathBuf) -> Result<PublishedFile, EngineError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        check_file_name(&name).map_err(|e| EngineError::Invalid(format!("file name: {e}")))?;
        if !self.is_csr(self.me) {
            return Err(EngineError::Invalid(
                "only a support representative publishes files".into(),
            ));
        }
        let (size, sha256) = digest(path.clone()).await?;
        let id = self.next_request;
        self.next_request += 1;
        let file = PublishedFile {
            id,
            name,
            size,
            sha256,
        };
        self.transfers.published.insert(id, (path, file.clone()));
        let customers: Vec<_> = self
            .peers
            .keys()
            .copied()
            .filter(|p| !self.is_csr(*p))
            .collect();
        for customer in customers {
            self.send_published(customer).await;
        }
        Ok(file)
    }

    /// Send the published list to one customer (also when its channel opens).
    pub(super) async fn send_published(&self, customer: ParticipantId) {
        if self.transfers.published.is_empty() || self.is_csr(customer) {
            return;
        }
        let files = self
            .transfers
            .published
            .values()
            .map(|(_, f)| f.clone())
            .collect();
        let _ = self
            .send_peer(customer, &PeerMessage::FilesPublished { files })
            .await;
    }

    /// Customer, basic mode: download a file a CSR published into our folder.
    pub(super) async fn download(&mut self, from: ParticipantId, id: u64, reply: Reply) {
        if let Err(e) = self.files_dir() {
            let _ = reply.send(Err(EngineError::Invalid(e)));
            return;
        }
        let request = PeerMessage::FileDownload { id };
        match self.send_peer(from, &request).await {
            Ok(()) => {
                let fetching = Fetching {
                    request,
                    reply: Some(reply),
                };
                self.transfers.fetching.insert((from, id), fetching);
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Rule 10/11 at the publishing CSR: its basic transfer must be running in the session.
    fn publishing_allowed(&self) -> Result<(), String> {
        let running = self
            .roster
            .activities
            .iter()
            .any(|a| a.actor == self.me && a.activity == Activity::FileTransferBasic);
        if running {
            Ok(())
        } else {
            Err("file transfer is not active".into())
        }
    }

    /// A peer's file message.
    pub(super) async fn on_file_message(&mut self, from: ParticipantId, msg: PeerMessage) {
        match msg {
            PeerMessage::FileOffer {
                id,
                name,
                size,
                sha256,
            } => {
                if let Some(fetching) = self.transfers.fetching.remove(&(from, id)) {
                    // The file we asked for: accept without a prompt.
                    let offer = receiving::Offer { name, size, sha256 };
                    self.receive(from, id, offer, true, fetching.reply).await;
                    return;
                }
                if self.known(from, id).await {
                    return;
                }
                let checked = self.transfer_allowed_from(from).and_then(|()| {
                    let dir = self.files_dir()?;
                    let dest = inside(dir, &name)?;
                    if std::fs::symlink_metadata(dest).is_ok() {
                        return Err(format!("{name} already exists in the folder"));
                    }
                    Ok(())
                });
                match checked {
                    Ok(()) => {
                        self.transfers.waiting.insert(
                            (from, id),
                            Waiting::Receive {
                                name: name.clone(),
                                size,
                                sha256,
                            },
                        );
                        self.emit_waiting(EngineEvent::TransferRequest {
                            id,
                            from,
                            name,
                            size,
                            incoming: true,
                        })
                        .await;
                    }
                    Err(reason) => self.refuse(from, id, reason).await,
                }
            }
            PeerMessage::FileFetch { id, name } => {
                if self.known(from, id).await {
                    return;
                }
                let checked = self
                    .transfer_allowed_from(from)
                    .and_then(|()| readable_inside(self.files_dir()?, &name));
                match checked {
                    Ok(path) => {
                        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                        self.transfers.waiting.insert(
                            (from, id),
                            Waiting::Send {
                                name: name.clone(),
                                path,
                            },
                        );
                        self.emit_waiting(EngineEvent::TransferRequest {
                            id,
                            from,
                            name,
                            size,
                            incoming: false,
                        })
                        .await;
                    }
                    Err(reason) => self.refuse(from, id, reason).await,
                }
            }
            PeerMessage::FileAccept { id, offset } => self.accepted(from, id, offset).await,
            PeerMessage::FilesPublished { files } if self.is_csr(from) => {
                self.emit(EngineEvent::FilesPublished { from, files });
            }
            PeerMessage::FileDownload { id } => {
                // Asked again after a broken connection: our offer is sent again on its own.
                // Otherwise it is a new download, even of a file downloaded before.
                if self.transfers.outgoing.contains_key(&(from, id)) {
                    return;
                }
                self.transfers.closed.remove(&(from, id));
                let checked = self.publishing_allowed().and_then(|()| {
                    if self.is_csr(from) {
                        return Err("files are published for customers".to_owned());
                    }
                    self.transfers
                        .published
                        .get(&id)
                        .cloned()
                        .ok_or_else(|| format!("no published file {id}"))
                });
                match checked {
                    Ok((path, file)) => {
                        let out = Outgoing {
                            direction: TransferDirection::Published,
                            path,
                            name: file.name.clone(),
                            size: file.size,
                            sha256: file.sha256.clone(),
                            digest_after: false,
                            reply: None,
                            task: None,
                        };
                        self.transfers.outgoing.insert((from, id), out);
                        let offer = PeerMessage::FileOffer {
                            id,
                            name: file.name,
                            size: file.size,
                            sha256: file.sha256,
                        };
                        let _ = self.send_peer(from, &offer).await;
                    }
                    Err(reason) => self.refuse(from, id, reason).await,
                }
            }
            PeerMessage::FileResult { id, ok } => {
                let Some(mut out) = self.transfers.outgoing.remove(&(from, id)) else {
                    return;
                };
                let done = out.done(id);
                self.finished(from, &done, ok, out.direction).await;
                if let Some(reply) = out.reply.take() {
                    let _ = reply.send(if ok {
                        Ok(done)
                    } else {
                        Err(EngineError::Invalid(
                            "the receiver's checksum did not match".into(),
                        ))
                    });
                }
            }
            _ => {}
        }
    }

    /// The local user answers a transfer request.
    pub(super) async fn approve_transfer(
        &mut self,
        from: ParticipantId,
        id: u64,
        allow: bool,
    ) -> Result<(), EngineError> {
        let waiting = self.transfers.waiting.remove(&(from, id)).ok_or_else(|| {
            EngineError::Invalid(format!(
                "no transfer {id} from participant {} waits for an answer",
                from.0
            ))
        })?;
        if !allow {
            self.refuse(from, id, "the customer declined the transfer".into())
                .await;
            return Ok(());
        }
        match waiting {
            Waiting::Receive { name, size, sha256 } => {
                let offer = receiving::Offer { name, size, sha256 };
                self.receive(from, id, offer, false, None).await;
            }
            Waiting::Send { name, path } => {
                let (size, sha256) = announce(path.clone()).await?;
                self.transfers.outgoing.insert(
                    (from, id),
                    Outgoing {
                        direction: TransferDirection::FromCustomer,
                        path,
                        name: name.clone(),
                        size,
                        digest_after: sha256.is_empty(),
                        sha256: sha256.clone(),
                        reply: None,
                        task: None,
                    },
                );
                self.send_peer(
                    from,
                    &PeerMessage::FileOffer {
                        id,
                        name,
                        size,
                        sha256,
                    },
                )
                .await?;
            }
        }
        Ok(())
    }

    /// The receiver is ready from `offset` on (0 at first, more when it resumes): the sender's
    /// endpoint checks again that it may send, then (re)starts the bytes.
    async fn accepted(&mut self, from: ParticipantId, id: u64, offset: u64) {
        let Some(out) = self.transfers.outgoing.get(&(from, id)) else {
            if !self.known(from, id).await {
                self.emit(EngineEvent::PeerError {
                    peer: from,
                    message: format!("an accept for unknown transfer {id}"),
                });
            }
            return;
        };
        let allowed = if offset > out.size {
            Err(format!(
                "offset {offset} is past the end of the file ({} bytes)",
                out.size
            ))
        } else {
            match out.direction {
                // The customer's endpoint: rules 10/11 and its own user's consent, again.
                TransferDirection::FromCustomer => self.transfer_allowed_from(from),
                TransferDirection::Published => self.publishing_allowed(),
                TransferDirection::ToCustomer => Ok(()),
            }
        };
        if let Err(reason) = allowed {
            self.refuse(from, id, reason.clone()).await;
            self.fail_outgoing(from, id, reason).await;
            return;
        }
        let Some(slot) = self.peers.get(&from).filter(|s| s.open) else {
            return; // the receiver accepts again on the next connection
        };
        let peer = slot.peer.clone();
        let Some(out) = self.transfers.outgoing.get_mut(&(from, id)) else {
            return;
        };
        let (path, total, digest_after) = (out.path.clone(), out.size, out.digest_after);
        let (events, notes) = (self.events.clone(), self.notes_tx.clone());
        if offset > 0 {
            let _ = events.try_send(EngineEvent::TransferResumed { id, offset, total });
        }
        // A task still sending over a previous connection stops here.
        out.task = Some(AbortOnDrop(tokio::spawn(async move {
            let last = std::sync::atomic::AtomicU64::new(offset);
            let progress = |bytes: u64| {
                let before = last.swap(bytes, std::sync::atomic::Ordering::Relaxed);
                if report_progress(before, bytes, total) {
                    let _ = events.try_send(EngineEvent::TransferProgress { id, bytes, total });
                }
            };
            let result = match std::fs::File::open(&path) {
                Ok(file) => {
                    peer.send_file(id, file, offset, digest_after, progress)
                        .await
                }
                Err(e) => Err(EngineError::from(e)),
            };
            let _ = notes
                .send(Note::Sent {
                    to: from,
                    id,
                    result,
                })
                .await;
        })));
    }

    /// Our sending task ended. A broken connection is not an error: the receiver resumes over
    /// the next one. Anything else (the file can't be read) fails the transfer.
    pub(super) async fn sent(
        &mut self,
        to: ParticipantId,
        id: u64,
        result: Result<Option<[u8; 32]>, EngineError>,
    ) {
        match result {
            Ok(Some(digest)) => {
                if let Some(out) = self.transfers.outgoing.get_mut(&(to, id)) {
                    out.sha256 = hex(&digest);
                }
            }
            Ok(None) | Err(EngineError::Closed) => {}
            Err(e) => {
                let reason = format!("sending file {id}: {e}");
                self.emit(EngineEvent::PeerError {
                    peer: to,
                    message: reason.clone(),
                });
                self.refuse(to, id, reason.clone()).await;
                self.fail_outgoing(to, id, reason).await;
            }
        }
    }

    /// Give up an outgoing transfer: tell the program and the one who asked, and the record.
    async fn fail_outgoing(&mut self, to: ParticipantId, id: u64, reason: String) {
        let Some(mut out) = self.transfers.outgoing.remove(&(to, id)) else {
            return;
        };
        let done = out.done(id);
        self.finished(to, &done, false, out.direction).await;
        if let Some(reply) = out.reply.take() {
            let _ = reply.send(Err(EngineError::Invalid(reason)));
        }
    }

    /// The local user revoked the `file_transfer` consent: every advanced transfer with a CSR
    /// stops at once, and requests waiting for an answer are refused (rule 12, enforced here).
    pub(super) async fn file_transfer_revoked(&mut self) {
        let reason = "the customer revoked consent to file transfer".to_owned();
        let waiting: Vec<_> = self.transfers.waiting.drain().map(|(k, _)| k).collect();
        for (from, id) in waiting {
            self.refuse(from, id, reason.clone()).await;
        }
        for (from, id) in self.transfers.incoming_approved() {
            self.abandon_incoming(from, id, reason.clone(), true).await;
        }
        let sending: Vec<_> = self
            .transfers
            .outgoing
            .iter()
            .filter(|(_, out)| out.direction == TransferDirection::FromCustomer)
            .map(|(k, _)| *k)
            .collect();
        for (to, id) in sending {
            self.refuse(to, id, reason.clone()).await;
            self.fail_outgoing(to, id, reason.clone()).await;
        }
    }

    /// Tell the program; a CSR's engine also reports the metadata to the session record.
    async fn finished(
        &mut self,
        peer: ParticipantId,
        done: &TransferDone,
        ok: bool,
        csr_direction: TransferDirection,
    ) {
        self.emit(EngineEvent::TransferFinished {
            id: done.id,
            name: done.name.clone(),
            ok,
        });
        if self.is_csr(self.me) {
            let transfer = TransferReport {
                name: done.name.clone(),
                size: done.size,
                sha256: if ok {
                    done.sha256.clone()
                } else {
                    String::new()
                },
                direction: csr_direction,
                outcome: if ok {
                    TransferOutcome::Completed
                } else {
                    TransferOutcome::Failed
                },
                customer: peer,
            };
            let _ = self
                .signaling
                .command(Command::ReportTransfer { transfer })
                .await;
        }
    }

    /// A refusal of one of our transfers (declined, or stopped by the other side).
    pub(super) async fn transfer_refused(
        &mut self,
        from: ParticipantId,
        id: u64,
        reason: &str,
    ) -> bool {
        let reply = if let Some(mut out) = self.transfers.outgoing.remove(&(from, id)) {
            if out.task.is_some() {
                // Stopped under way (not declined at the prompt): a failed transfer.
                self.finished(from, &out.done(id), false, out.direction)
                    .await;
            }
            out.reply.take()
        } else if let Some(fetching) = self.transfers.fetching.remove(&(from, id)) {
            fetching.reply
        } else if self.transfers.incoming.contains_key(&(from, id)) {
            self.abandon_incoming(from, id, reason.to_owned(), false)
                .await;
            return true;
        } else {
            return false;
        };
        if let Some(reply) = reply {
            let _ = reply.send(Err(EngineError::Refused(reason.to_owned())));
        }
        true
    }
}
