//! Whole H.264 frames from the RTP packets of a screen track: packets are put back in order
//! (a lost one may still come, resent after a NACK), a frame is handed on once every packet
//! from its first to its marker is there, and a frame given up for lost makes the stream wait
//! for the next keyframe, which is asked for, so the decoder never sees a broken reference.

use bytes::Bytes;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a gap may wait for its resent packet before the frame is given up.
pub(super) const REPAIR_WAIT: Duration = Duration::from_millis(150);
/// Packets held at most while waiting (a 1080p keyframe is a few hundred).
const MAX_HELD: usize = 4096;

/// What the packets so far completed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Assembled {
    /// Whole Annex-B frames, in order.
    pub frames: Vec<Vec<u8>>,
    /// A frame was lost: ask the sender for a keyframe.
    pub need_keyframe: bool,
}

#[derive(Default)]
pub(super) struct FrameAssembler {
    /// Packets not yet part of a handed-on frame, by extended sequence number.
    held: BTreeMap<u64, (bool, Bytes)>,
    /// The sequence number the next frame starts at.
    next: Option<u64>,
    /// The last extended sequence number seen (to extend the 16-bit ones).
    last: Option<u64>,
    /// Since when the first missing packet has been missing.
    gap_since: Option<Instant>,
    /// Waiting for a keyframe (at the start, and after a lost frame).
    broken: bool,
}

impl FrameAssembler {
    pub(super) fn new() -> Self {
        FrameAssembler {
            broken: true,
            ..Default::default()
        }
    }

    /// When a gap will be given up, if one is waiting.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.gap_since.map(|t| t + REPAIR_WAIT)
    }

    fn extend(&mut self, sequence: u16) -> u64 {
        let ext = match self.last {
            None => (1 << 16) | u64::from(sequence),
            Some(last) => {
                let base = last & !0xffff;
                let candidates = [base.wrapping_sub(1 << 16), base, base + (1 << 16)];
                candidates
                    .into_iter()
                    .map(|b| b | u64::from(sequence))
                    .min_by_key(|c| c.abs_diff(last))
                    .unwrap_or(base | u64::from(sequence))
            }
        };
        self.last = Some(self.last.map_or(ext, |l| l.max(ext)));
        ext
    }

    pub(super) fn push(
        &mut self,
        sequence: u16,
        marker: bool,
        payload: Bytes,
        now: Instant,
    ) -> Assembled {
        let ext = self.extend(sequence);
        if self.next.is_some_and(|n| ext < n) {
            // Part of a frame already handed on or given up: a late duplicate.
            return Assembled::default();
        }
        self.next.get_or_insert(ext);
        self.held.insert(ext, (marker, payload));
        let mut out = Assembled::default();
        self.drain(&mut out);
        if self.held.len() > MAX_HELD {
            self.give_up(&mut out);
        }
        self.update_gap(now);
        out
    }

    /// Time passed without packets: give up a gap that waited too long.
    pub(super) fn tick(&mut self, now: Instant) -> Assembled {
        let mut out = Assembled::default();
        if self.deadline().is_some_and(|d| now >= d) {
            self.give_up(&mut out);
            self.update_gap(now);
        }
        out
    }

    /// Hand on every frame that is complete from `next`.
    fn drain(&mut self, out: &mut Assembled) {
        while let Some(start) = self.next {
            let mut end = None;
            let mut k = start;
            while let Some((marker, _)) = self.held.get(&k) {
                if *marker {
                    end = Some(k);
                    break;
                }
                k += 1;
            }
            let Some(end) = end else { return };
            let packets: Vec<Bytes> = (start..=end)
                .filter_map(|k| self.held.remove(&k).map(|(_, p)| p))
                .collect();
            self.next = Some(end + 1);
            self.deliver(&packets, out);
        }
    }

    fn deliver(&mut self, packets: &[Bytes], out: &mut Assembled) {
        let mut depacketizer = H264Packet::default();
        let mut frame = Vec::new();
        for p in packets {
            match depacketizer.depacketize(p) {
                Ok(nals) => frame.extend_from_slice(&nals),
                Err(_) => {
                    self.broken = true;
                    out.need_keyframe = true;
                    return;
                }
            }
        }
        if self.broken {
            if !has_idr(&frame) {
                out.need_keyframe = true;
                return;
            }
            self.broken = false;
        }
        out.frames.push(frame);
    }

    /// Drop the frame that cannot be completed (up to the first marker held) and wait for a
    /// keyframe.
    fn give_up(&mut self, out: &mut Assembled) {
        let first_marker = self
            .held
            .iter()
            .find(|(_, (marker, _))| *marker)
            .map(|(k, _)| *k);
        match first_marker {
            Some(k) => {
                self.held.retain(|seq, _| *seq > k);
                self.next = Some(k + 1);
            }
            None => {
                self.next = self.held.keys().next_back().map(|k| k + 1);
                self.held.clear();
            }
        }
        self.broken = true;
        out.need_keyframe = true;
        self.drain(out);
    }

    fn update_gap(&mut self, now: Instant) {
        let waiting =
            self.next.is_some_and(|n| !self.held.contains_key(&n)) && !self.held.is_empty();
        match (waiting, self.gap_since) {
            (true, None) => self.gap_since = Some(now),
            (false, _) => self.gap_since = None,
            _ => {}
        }
    }
}

/// Whether an Annex-B frame holds an IDR slice (NAL type 5).
fn has_idr(frame: &[u8]) -> bool {
    frame
        .windows(4)
        .any(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A single-NAL RTP payload of NAL `kind` (5 = IDR slice, 1 = other slice).
    fn nal(kind: u8) -> Bytes {
        Bytes::from(vec![0x60 | kind, 0xaa, 0xbb])
    }

    fn check(packets: &[(u16, bool, u8)], want_frames: usize, want_keyframe: bool) {
        let mut a = FrameAssembler::new();
        let now = Instant::now();
        let (mut frames, mut asked) = (0, false);
        for (seq, marker, kind) in packets {
            let out = a.push(*seq, *marker, nal(*kind), now);
            frames += out.frames.len();
            asked |= out.need_keyframe;
        }
        let out = a.tick(now + REPAIR_WAIT * 2);
        frames += out.frames.len();
        asked |= out.need_keyframe;
        assert_eq!((frames, asked), (want_frames, want_keyframe), "{packets:?}");
    }

    #[test]
    fn frames_are_put_together_in_order_and_repaired_when_late() {
        // A keyframe of two packets then a frame: both arrive.
        check(&[(10, false, 5), (11, true, 5), (12, true, 1)], 2, false);
        // Reordered (a resent packet comes late but in time): still both.
        check(&[(10, false, 5), (12, true, 1), (11, true, 5)], 2, false);
        // Across the 16-bit wrap.
        check(&[(65535, true, 5), (0, true, 1), (1, true, 1)], 3, false);
        // Starting with a frame that is not a keyframe: dropped, a keyframe asked for.
        check(&[(10, true, 1), (11, true, 5), (12, true, 1)], 2, true);
        // A packet never comes: its frame and what depends on it are dropped until a keyframe.
        check(&[(10, true, 5), (12, true, 1), (13, true, 1)], 1, true);
        check(
            &[(10, true, 5), (12, true, 1), (13, true, 5), (14, true, 1)],
            3,
            true,
        );
        // A duplicate of a packet already used changes nothing.
        check(&[(10, true, 5), (10, true, 5), (11, true, 1)], 2, false);
    }
}
