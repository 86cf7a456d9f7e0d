//! The mesh's peer connections over their lifetime: one per other participant, opened by the
//! side that offers (the lower id), closed when a participant leaves or the session ends, and
//! replaced when one breaks while both participants are still there.

use super::{EngineEvent, Mesh, PeerSlot};
use crate::error::EngineError;
use crate::peer::Peer;
use std::sync::Arc;
use tether_protocol::{ParticipantId, Roster, SignalData, offers_to};
use tokio::sync::mpsc;

impl Mesh {
    /// Make the peers match the roster: connect to newcomers, close those who left.
    pub(super) async fn reconcile(&mut self, roster: &Roster) {
        self.roster = roster.clone();
        self.present = roster.participants.iter().map(|p| p.id).collect();
        let gone: Vec<_> = self
            .peers
            .keys()
            .copied()
            .filter(|p| !self.present.contains(p))
            .collect();
        for id in gone {
            self.drop_peer(id).await;
        }
        self.abandon_transfers_with_absent().await;
        // Offer only to participants whose signaling connection is up: a relay to anyone else
        // would be refused. Those who connect later come with a later roster.
        let ready: Vec<_> = roster
            .participants
            .iter()
            .filter(|p| p.connected)
            .map(|p| p.id)
            .collect();
        for id in ready {
            if id != self.me && !self.peers.contains_key(&id) && offers_to(self.me, id) {
                self.open_peer(id, true).await;
            }
        }
    }

    /// Whether a connection to `id` should exist now: the session goes on and the participant
    /// is present with its signaling connected.
    fn reachable(&self, id: ParticipantId) -> bool {
        !self.ended
            && self
                .roster
                .participants
                .iter()
                .any(|p| p.id == id && p.connected)
    }

    pub(super) async fn open_peer(&mut self, id: ParticipantId, offerer: bool) {
        let generation = self.next_generation;
        self.next_generation += 1;
        let (tx, mut rx) = mpsc::channel(super::EVENT_QUEUE);
        let forward = self.peer_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                if forward.send((id, generation, event)).await.is_err() {
                    return;
                }
            }
        });
        match Peer::start(offerer, &self.ice_servers, &self.config.bind, tx).await {
            Ok(peer) => {
                self.peers.insert(
                    id,
                    PeerSlot {
                        peer: Arc::new(peer),
                        open: false,
                        generation,
                    },
                );
                self.set_count();
            }
            Err(e) => self.emit(EngineEvent::PeerError {
                peer: id,
                message: e.to_string(),
            }),
        }
    }

    pub(super) async fn drop_peer(&mut self, id: ParticipantId) {
        if let Some(slot) = self.peers.remove(&id) {
            slot.peer.close().await;
            self.set_count();
            self.emit(EngineEvent::PeerClosed(id));
        }
    }

    pub(super) async fn close_all(&mut self) {
        for id in self.peers.keys().copied().collect::<Vec<_>>() {
            self.drop_peer(id).await;
        }
        self.abandon_transfers_with_absent().await;
    }

    /// The connection to `id` failed or closed. If both of us are still in the session, start a
    /// new one: the offering side offers again; the answering side asks it to (`restart`).
    pub(super) async fn connection_lost(&mut self, id: ParticipantId) {
        if !self.peers.contains_key(&id) {
            return;
        }
        self.drop_peer(id).await;
        if !self.reachable(id) {
            return;
        }
        if offers_to(self.me, id) {
            self.open_peer(id, true).await;
        } else {
            let _ = self.signaling.signal(id, SignalData::Restart).await;
        }
    }

    /// Close the connection to `peer` at once, as a network failure would, then recover.
    pub(super) async fn break_connection(
        &mut self,
        peer: ParticipantId,
    ) -> Result<(), EngineError> {
        let slot = self.peers.get(&peer).ok_or_else(|| {
            EngineError::Invalid(format!("no connection to participant {}", peer.0))
        })?;
        slot.peer.close().await;
        self.connection_lost(peer).await;
        Ok(())
    }

    pub(super) async fn on_signal(&mut self, from: ParticipantId, data: SignalData) {
        if !self.present.contains(&from) || self.ended {
            return;
        }
        let offering = offers_to(self.me, from);
        match &data {
            SignalData::Restart if offering => {
                // The answering side lost the connection: offer a new one, unless the one we
                // are offering now is already new (both sides noticed the same failure).
                if self.peers.get(&from).is_some_and(|s| !s.open) {
                    return;
                }
                self.drop_peer(from).await;
                if self.reachable(from) {
                    self.open_peer(from, true).await;
                }
                return;
            }
            SignalData::Restart => {
                self.emit(EngineEvent::PeerError {
                    peer: from,
                    message: "a restart request from a peer that should offer".into(),
                });
                return;
            }
            SignalData::Offer { .. } if offering => {
                self.emit(EngineEvent::PeerError {
                    peer: from,
                    message: "an offer from a peer that should answer".into(),
                });
                return;
            }
            SignalData::Offer { .. } => {
                // An offer always starts a connection: on an answered one, the offering side
                // has started over (it lost the old one first).
                if self.peers.get(&from).is_some_and(|s| s.peer.has_remote()) {
                    self.drop_peer(from).await;
                }
                if !self.peers.contains_key(&from) {
                    self.open_peer(from, false).await;
                }
            }
            // Candidates of a connection that is gone: nothing to add them to.
            _ if !self.peers.contains_key(&from) => return,
            _ => {}
        }
        if let Some(slot) = self.peers.get(&from)
            && let Err(e) = slot.peer.handle_signal(data).await
        {
            self.emit(EngineEvent::PeerError {
                peer: from,
                message: e.to_string(),
            });
        }
    }
}
