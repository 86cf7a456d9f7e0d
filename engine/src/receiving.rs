//! The receiving side of a file transfer: the `.part` file inside the chosen folder, a writer
//! task per connection that hashes and writes the bytes as they arrive, the check at the end,
//! and resuming from the bytes written when a connection breaks half-way.

use super::super::{EngineEvent, Mesh};
use super::{Reply, TransferDone, hex, inside, report_progress};
use crate::error::EngineError;
use crate::peer::FileStream;
use bytes::BytesMut;
use sha2::{Digest, Sha256};
use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};
use tether_protocol::{ParticipantId, PeerMessage, TransferDirection};
use tokio::sync::{mpsc, oneshot};

/// Bytes go to the disk in blocks of this size...
const BLOCK: usize = 256 * 1024;
/// ...with up to this many blocks queued for the disk thread, so a slow write (page-cache
/// writeback) does not stop the channel from being read: a stalled reader lets the SCTP window
/// close, and webrtc-rs then waits for the sender's zero-window probe before going on.
const DISK_QUEUE: usize = 32;
/// A block also goes once it holds this many messages (one `writev`, and a bound on memory
/// when a peer sends tiny messages).
const BLOCK_MESSAGES: usize = 1024;

/// What a sender announced.
pub(in super::super) struct Offer {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// The `.part` file and the hash of the bytes written to it so far.
pub(in super::super) struct Sink {
    file: std::fs::File,
    hasher: Sha256,
    /// Bytes written: the offset the transfer resumes from.
    received: u64,
    /// The digest that followed the bytes, when the offer had none.
    digest: Option<BytesMut>,
}

pub(in super::super) struct Incoming {
    offer: Offer,
    part: PathBuf,
    dest: PathBuf,
    reply: Option<Reply>,
    /// A customer receiving from a CSR checks rules 10/11 and its consent again on resuming.
    recheck: bool,
    /// None while a writer task holds it.
    sink: Option<Sink>,
    /// Dropping it stops the writer task (the transfer was given up).
    stop: Option<oneshot::Sender<()>>,
}

/// Why a writer task stopped.
pub(in super::super) enum End {
    /// Every announced byte is written and flushed.
    Complete,
    /// The channel closed first (its connection broke): resume later from `received`.
    Broken,
    /// The sender sent more than it announced.
    TooMuch,
    /// Writing the `.part` file failed.
    Write(String),
    /// The transfer was given up on this side.
    Stopped,
}

/// What transfer tasks report to the mesh.
pub(in super::super) enum Note {
    Received {
        from: ParticipantId,
        id: u64,
        sink: Option<Box<Sink>>,
        end: End,
    },
    Sent {
        to: ParticipantId,
        id: u64,
        /// The digest sent after the bytes, when the offer had none.
        result: Result<Option<[u8; 32]>, EngineError>,
    },
}

/// Create the partial file for `name` in `dir`: never over an existing file, never through a
/// symlink (`create_new` fails on any existing entry, dangling links included).
async fn create_part(dir: &Path, name: &str) -> Result<(std::fs::File, PathBuf, PathBuf), String> {
    let dest = inside(dir, name)?;
    if std::fs::symlink_metadata(&dest).is_ok() {
        return Err(format!("{name} already exists in the folder"));
    }
    let part = dir.join(format!(".{name}.part"));
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&part)
        .await
        .map_err(|e| format!("can't create {name}: {e}"))?;
    Ok((file.into_std().await, part, dest))
}

/// Write one connection's worth of a transfer's bytes, then hand the sink back (none if the
/// disk thread failed unexpectedly). This task reads the channel; a blocking thread hashes and
/// writes the blocks.
async fn write(
    mut stream: FileStream,
    sink: Sink,
    size: u64,
    digest_follows: bool,
    id: u64,
    events: mpsc::Sender<EngineEvent>,
    mut stop: oneshot::Receiver<()>,
) -> (Option<Sink>, End) {
    let Sink {
        file,
        hasher,
        mut received,
        mut digest,
    } = sink;
    let (disk, blocks) = mpsc::channel::<Block>(DISK_QUEUE);
    let writer = tokio::task::spawn_blocking(move || to_disk(file, hasher, blocks));
    let mut block = Block::default();
    let mut end = loop {
        if received == size && (!digest_follows || digest.is_some()) {
            break End::Complete;
        }
        let bytes = tokio::select! {
            bytes = stream.next() => bytes,
            _ = &mut stop => break End::Stopped,
        };
        let Some(bytes) = bytes else {
            break End::Broken;
        };
        if received == size {
            // Only the digest may follow the bytes.
            if bytes.len() != tether_protocol::FILE_DIGEST_BYTES {
                break End::TooMuch;
            }
            digest = Some(bytes);
            continue;
        }
        let before = received;
        let now = before + bytes.len() as u64;
        if now > size {
            break End::TooMuch;
        }
        block.push(bytes);
        received = now;
        if block.bytes >= BLOCK || block.messages.len() >= BLOCK_MESSAGES || now == size {
            let full = std::mem::take(&mut block);
            if disk.send(full).await.is_err() {
                break End::Write("the disk writer stopped".into());
            }
        }
        if report_progress(before, now, size) {
            let total = size;
            let _ = events.try_send(EngineEvent::TransferProgress {
                id,
                bytes: now,
                total,
            });
        }
    };
    // Bytes received but not yet handed over are written too: the confirmed offset is what is
    // on disk, and every byte counted in `received` is.
    if block.bytes > 0 {
        let _ = disk.send(block).await;
    }
    drop(disk);
    let joined = writer.await;
    stream.close().await;
    let (file, hasher) = match joined {
        Ok((file, hasher, Ok(()))) => (file, hasher),
        Ok((file, hasher, Err(e))) => {
            if !matches!(end, End::TooMuch | End::Stopped) {
                end = End::Write(e.to_string());
            }
            (file, hasher)
        }
        // The thread panicked: nothing more can be said of the file.
        Err(e) => return (None, End::Write(e.to_string())),
    };
    let sink = Sink {
        file,
        hasher,
        received,
        digest,
    };
    (Some(sink), end)
}

/// Received messages on their way to the disk, kept as they came (no copy into one buffer).
#[derive(Default)]
struct Block {
    messages: Vec<BytesMut>,
    bytes: usize,
}

impl Block {
    fn push(&mut self, message: BytesMut) {
        self.bytes += message.len();
        self.messages.push(message);
    }
}

/// Hash and write each block in turn (one vectored write per block), flushing at the end;
/// stops at the first write error.
fn to_disk(
    mut file: std::fs::File,
    mut hasher: Sha256,
    mut blocks: mpsc::Receiver<Block>,
) -> (std::fs::File, Sha256, std::io::Result<()>) {
    while let Some(block) = blocks.blocking_recv() {
        for message in &block.messages {
            hasher.update(message);
        }
        if let Err(e) = write_all_vectored(&mut file, &block.messages) {
            return (file, hasher, Err(e));
        }
    }
    let flushed = file.flush();
    (file, hasher, flushed)
}

impl super::Transfers {
    /// Incoming transfers this endpoint's user approved at a prompt.
    pub(in super::super) fn incoming_approved(&self) -> Vec<(ParticipantId, u64)> {
        self.incoming
            .iter()
            .filter(|(_, inc)| inc.recheck)
            .map(|(k, _)| *k)
            .collect()
    }
}

impl Mesh {
    /// Open the partial file and tell the sender to go. `asked`: this side asked for the file
    /// (a fetch or a download) rather than approving it at a prompt; `reply` awaits the end.
    pub(in super::super) async fn receive(
        &mut self,
        from: ParticipantId,
        id: u64,
        offer: Offer,
        asked: bool,
        reply: Option<Reply>,
    ) {
        let created = match self.files_dir() {
            Ok(dir) => create_part(dir, &offer.name).await,
            Err(e) => Err(e),
        };
        let (file, part, dest) = match created {
            Ok(x) => x,
            Err(reason) => {
                self.refuse(from, id, reason.clone()).await;
                if let Some(reply) = reply {
                    let _ = reply.send(Err(EngineError::Invalid(reason)));
                }
                return;
            }
        };
        let size = offer.size;
        let incoming = Incoming {
            offer,
            part,
            dest,
            recheck: !asked,
            reply,
            sink: Some(Sink {
                file,
                hasher: Sha256::new(),
                received: 0,
                digest: None,
            }),
            stop: None,
        };
        self.transfers.incoming.insert((from, id), incoming);
        let accept = PeerMessage::FileAccept { id, offset: 0 };
        if self.send_peer(from, &accept).await.is_ok() && size == 0 {
            self.complete(from, id).await;
        }
    }

    /// The sender opened the channel of transfer `id`: a writer task takes the bytes.
    pub(in super::super) async fn on_file_channel(
        &mut self,
        from: ParticipantId,
        id: u64,
        stream: FileStream,
    ) {
        let (stop_tx, stop) = oneshot::channel();
        let taken = self
            .transfers
            .incoming
            .get_mut(&(from, id))
            .and_then(|inc| {
                let sink = inc.sink.take()?;
                inc.stop = Some(stop_tx);
                Some((sink, inc.offer.size, inc.offer.sha256.is_empty()))
            });
        let Some((sink, size, digest_follows)) = taken else {
            stream.close().await;
            self.emit(EngineEvent::PeerError {
                peer: from,
                message: format!("a data channel for transfer {id}, which is not expecting one"),
            });
            return;
        };
        let (events, notes) = (self.events.clone(), self.notes_tx.clone());
        tokio::spawn(async move {
            let (sink, end) = write(stream, sink, size, digest_follows, id, events, stop).await;
            let _ = notes
                .send(Note::Received {
                    from,
                    id,
                    sink: sink.map(Box::new),
                    end,
                })
                .await;
        });
    }

    pub(in super::super) async fn on_transfer_note(&mut self, note: Note) {
        match note {
            Note::Sent { to, id, result } => self.sent(to, id, result).await,
            Note::Received {
                from,
                id,
                sink,
                end,
            } => {
                // Gone meanwhile (the participant left, the session ended): nothing to keep.
                let Some(inc) = self.transfers.incoming.get_mut(&(from, id)) else {
                    return;
                };
                inc.stop = None;
                inc.sink = sink.map(|s| *s);
                match end {
                    End::Stopped => {}
                    End::Complete => {
                        self.complete(from, id).await;
                    }
                    End::Broken => {
                        // A new connection may be up already; otherwise this waits for it.
                        if self.peers.get(&from).is_some_and(|s| s.open) {
                            self.resume(from, id).await;
                        }
                    }
                    End::TooMuch => {
                        let reason = format!("transfer {id} sent more than it announced");
                        self.emit(EngineEvent::PeerError {
                            peer: from,
                            message: reason.clone(),
                        });
                        let result = PeerMessage::FileResult { id, ok: false };
                        self.close_transfer(from, id, result).await;
                        self.abandon_incoming(from, id, reason, false).await;
                    }
                    End::Write(e) => {
                        let reason = format!("writing transfer {id}: {e}");
                        self.abandon_incoming(from, id, reason, true).await;
                    }
                }
            }
        }
    }

    /// A new connection to `from` is open: every transfer with it that broke goes on.
    pub(in super::super) async fn resume_transfers(&mut self, from: ParticipantId) {
        self.resend_transfers(from).await;
        let broken: Vec<u64> = self
            .transfers
            .incoming
            .iter()
            .filter(|((p, _), inc)| *p == from && inc.sink.is_some())
            .map(|((_, id), _)| *id)
            .collect();
        for id in broken {
            self.resume(from, id).await;
        }
    }

    /// Accept again from the bytes written; a customer's endpoint first checks again that the
    /// CSR may still send (rules 10/11, its user's consent).
    async fn resume(&mut self, from: ParticipantId, id: u64) {
        let Some(inc) = self.transfers.incoming.get(&(from, id)) else {
            return;
        };
        let (recheck, total) = (inc.recheck, inc.offer.size);
        let offset = inc.sink.as_ref().map_or(0, |s| s.received);
        if recheck && let Err(reason) = self.transfer_allowed_from(from) {
            return self.abandon_incoming(from, id, reason, true).await;
        }
        let accept = PeerMessage::FileAccept { id, offset };
        if self.send_peer(from, &accept).await.is_ok() {
            self.emit(EngineEvent::TransferResumed { id, offset, total });
        }
    }

    /// Every byte arrived: check the hash, move the file into place, tell the sender.
    async fn complete(&mut self, from: ParticipantId, id: u64) {
        let Some(mut inc) = self.transfers.incoming.remove(&(from, id)) else {
            return;
        };
        let Some(sink) = inc.sink.take() else {
            return;
        };
        let got = hex(&sink.hasher.finalize());
        drop(sink.file);
        let expected = match &sink.digest {
            Some(digest) => hex(digest),
            None => inc.offer.sha256.clone(),
        };
        let mut ok = got == expected;
        if ok
            && (std::fs::symlink_metadata(&inc.dest).is_ok()
                || tokio::fs::rename(&inc.part, &inc.dest).await.is_err())
        {
            ok = false;
        }
        if !ok {
            let _ = tokio::fs::remove_file(&inc.part).await;
        }
        self.close_transfer(from, id, PeerMessage::FileResult { id, ok })
            .await;
        let done = TransferDone {
            id,
            name: inc.offer.name.clone(),
            size: inc.offer.size,
            sha256: got,
        };
        self.finished(from, &done, ok, TransferDirection::FromCustomer)
            .await;
        if let Some(reply) = inc.reply.take() {
            let _ = reply.send(if ok {
                Ok(done)
            } else {
                Err(EngineError::Invalid(
                    "the file's checksum did not match".into(),
                ))
            });
        }
    }

    /// Give up an incoming transfer: delete its `.part` file, tell the program (and the
    /// sender when `tell_peer`), and the record.
    pub(in super::super) async fn abandon_incoming(
        &mut self,
        from: ParticipantId,
        id: u64,
        reason: String,
        tell_peer: bool,
    ) {
        let Some(mut inc) = self.transfers.incoming.remove(&(from, id)) else {
            return;
        };
        let _ = tokio::fs::remove_file(&inc.part).await;
        if tell_peer {
            self.refuse(from, id, reason.clone()).await;
        }
        let done = TransferDone {
            id,
            name: inc.offer.name.clone(),
            size: inc.offer.size,
            sha256: String::new(),
        };
        self.finished(from, &done, false, TransferDirection::FromCustomer)
            .await;
        if let Some(reply) = inc.reply.take() {
            let _ = reply.send(Err(EngineError::Refused(reason)));
        }
    }

    /// Transfers with participants who left (or with everyone once the session is over) can
    /// never resume: give them up.
    pub(in super::super) async fn abandon_transfers_with_absent(&mut self) {
        let gone = |mesh: &Mesh, p: &ParticipantId| mesh.ended || !mesh.present.contains(p);
        let incoming: Vec<_> = self
            .transfers
            .incoming
            .keys()
            .filter(|(p, _)| gone(self, p))
            .copied()
            .collect();
        for (from, id) in incoming {
            let reason = format!("participant {} is no longer in the session", from.0);
            self.abandon_incoming(from, id, reason, false).await;
        }
        let outgoing: Vec<_> = self
            .transfers
            .outgoing
            .keys()
            .filter(|(p, _)| gone(self, p))
            .copied()
            .collect();
        for (to, id) in outgoing {
            let reason = format!("participant {} is no longer in the session", to.0);
            self.fail_outgoing(to, id, reason).await;
        }
        let ended = self.ended;
        let present = self.present.clone();
        self.transfers
            .waiting
            .retain(|(p, _), _| !ended && present.contains(p));
        self.transfers.fetching.retain(|(p, _), fetching| {
            let keep = !ended && present.contains(p);
            if !keep && let Some(reply) = fetching.reply.take() {
                let _ = reply.send(Err(EngineError::Closed));
            }
            keep
        });
    }
}

/// Write every message, in order, in as few `writev` calls as the kernel allows.
fn write_all_vectored(file: &mut std::fs::File, messages: &[BytesMut]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = messages.iter().map(|m| IoSlice::new(m)).collect();
    let mut rest = &mut slices[..];
    // Linux takes at most 1024 slices per call; `write_vectored` then writes a prefix.
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
