//! Media on one peer connection: the codecs it negotiates (H.264 Constrained Baseline as Chrome
//! decodes it, Opus), the screen and voice tracks it sends, the frames and packets that arrive
//! on the remote's tracks, and keyframe requests (PLI) both ways.

use super::PeerEvent;
use super::frames::FrameAssembler;
use bytes::Bytes;
use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OnceCell, mpsc};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{MediaEngine, PeerConnection};
use webrtc::rtp_transceiver::RtpSender;

/// H.264 as Chrome sends and decodes it in WebRTC: Constrained Baseline, level 3.1 offered,
/// non-interleaved packetization; level asymmetry lets a 1080p (level 4) stream through.
pub const H264_FMTP: &str =
    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
const H264_PAYLOAD_TYPE: u8 = 102;
const OPUS_PAYLOAD_TYPE: u8 = 111;
/// The name of the camera track (its track id is `tether-camera-track`).
const CAMERA: &str = "camera";
const KEYFRAME_ASK_INTERVAL: Duration = Duration::from_millis(500);

fn h264() -> RTCRtpCodec {
    let feedback = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.into(),
        parameter: parameter.into(),
    };
    RTCRtpCodec {
        mime_type: "video/H264".into(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: H264_FMTP.into(),
        rtcp_feedback: vec![
            feedback("nack", ""),
            feedback("nack", "pli"),
            feedback("ccm", "fir"),
        ],
    }
}

fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "audio/opus".into(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
        rtcp_feedback: vec![],
    }
}

/// Register exactly the two codecs tether speaks.
pub(super) fn register_codecs(media: &mut MediaEngine) -> Result<(), String> {
    let video = RTCRtpCodecParameters {
        rtp_codec: h264(),
        payload_type: H264_PAYLOAD_TYPE,
    };
    let audio = RTCRtpCodecParameters {
        rtp_codec: opus(),
        payload_type: OPUS_PAYLOAD_TYPE,
    };
    media
        .register_codec(video, RtpCodecKind::Video)
        .map_err(|e| e.to_string())?;
    media
        .register_codec(audio, RtpCodecKind::Audio)
        .map_err(|e| e.to_string())
}

/// Passes inbound keyframe requests (PLI, FIR) on to the application; every other inbound RTCP
/// packet ends here, after the interceptors before it have acted on it. Registered last.
#[derive(Default)]
pub(super) struct KeyframeRequests {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let wanted: Vec<_> = packets
                .iter()
                .filter(|p| {
                    let any = p.as_any();
                    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
                })
                .cloned()
                .collect();
            if wanted.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(wanted);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

/// One track we send, with what writing to it needs.
pub(super) struct Outgoing {
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    /// The payload type the remote agreed to (known once negotiation is done).
    payload_type: OnceCell<u8>,
}

impl Outgoing {
    async fn add(
        pc: &Arc<dyn PeerConnection>,
        kind: RtpCodecKind,
        codec: RTCRtpCodec,
        name: &str,
    ) -> Result<Outgoing, String> {
        let ssrc = rand_ssrc();
        let track = TrackLocalStaticSample::new(
            Instant::now(),
            MediaStreamTrack::new(
                format!("tether-{name}"),
                format!("tether-{name}-track"),
                name.to_owned(),
                kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec,
                    ..Default::default()
                }],
            ),
        )
        .map_err(|e| e.to_string())?;
        let track = Arc::new(track);
        let sender = pc
            .add_track(track.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Outgoing {
            track,
            sender,
            ssrc,
            payload_type: OnceCell::new(),
        })
    }

    /// Write one encoded frame or packet lasting `duration`.
    pub(super) async fn write(&self, data: Bytes, duration: Duration) -> Result<(), String> {
        let pt = self
            .payload_type
            .get_or_try_init(|| async {
                let params = self
                    .sender
                    .get_parameters()
                    .await
                    .map_err(|e| e.to_string())?;
                params
                    .rtp_parameters
                    .codecs
                    .first()
                    .map(|c| c.payload_type)
                    .ok_or_else(|| "the remote accepted no codec for this track".to_owned())
            })
            .await?;
        let sample = Sample {
            data,
            duration,
            ..Sample::new(Instant::now())
        };
        self.track
            .sample_writer(self.ssrc, *pt)
            .write_sample(&sample)
            .await
            .map_err(|e| e.to_string())
    }
}

fn rand_ssrc() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now()) as u32 | 1
}

/// The screen and voice tracks this side sends on one connection.
pub(super) struct Tracks {
    pub(super) video: Outgoing,
    pub(super) audio: Outgoing,
    /// A participant's camera, beside its screen.
    pub(super) camera: Outgoing,
}

impl Tracks {
    /// Add both tracks (sendrecv), before the offer or the answer.
    pub(super) async fn add(
        pc: &Arc<dyn PeerConnection>,
        events: mpsc::Sender<PeerEvent>,
    ) -> Result<Tracks, String> {
        let video = Outgoing::add(pc, RtpCodecKind::Video, h264(), "screen").await?;
        let audio = Outgoing::add(pc, RtpCodecKind::Audio, opus(), "voice").await?;
        tokio::spawn(keyframe_requests(video.track.clone(), events));
        tokio::spawn(drain(audio.track.clone()));
        let camera = Outgoing::add(pc, RtpCodecKind::Video, h264(), CAMERA).await?;
        tokio::spawn(drain(camera.track.clone()));
        Ok(Tracks {
            video,
            audio,
            camera,
        })
    }
}

/// Tell the session when the remote asks for a keyframe of our screen track.
async fn keyframe_requests(track: Arc<TrackLocalStaticSample>, events: mpsc::Sender<PeerEvent>) {
    while let Some(event) = track.poll().await {
        #[allow(irrefutable_let_patterns)]
        let TrackLocalEvent::OnRtcpPacket(_) = event else {
            continue;
        };
        if events.send(PeerEvent::KeyframeRequest).await.is_err() {
            return;
        }
    }
}

async fn drain(track: Arc<TrackLocalStaticSample>) {
    while track.poll().await.is_some() {}
}

/// Read a remote track until it ends: whole H.264 frames (Annex-B) or Opus packets.
pub(super) async fn read_remote(
    track: Arc<dyn TrackRemote>,
    events: mpsc::Sender<PeerEvent>,
    keyframe_wanted: Arc<tokio::sync::Notify>,
) {
    if track.kind().await == RtpCodecKind::Audio {
        while let Some(event) = track.poll().await {
            match event {
                TrackRemoteEvent::OnRtpPacket(p)
                    if !p.payload.is_empty()
                        && events
                            .send(PeerEvent::Audio(p.payload.to_vec()))
                            .await
                            .is_err() =>
                {
                    return;
                }
                TrackRemoteEvent::OnEnded => return,
                _ => {}
            }
        }
        return;
    }
    let media_ssrc = track.ssrcs().await.first().copied().unwrap_or(0);
    // Each side names its tracks; the camera's id says so (see `Outgoing::add`).
    let camera = track.track_id().await.contains(CAMERA);
    let mut asked: Option<Instant> = None;
    let mut frames = FrameAssembler::new();
    loop {
        // Wake for a packet, a keyframe wanted here, or a gap that waited long enough.
        let deadline = frames.deadline();
        let give_up = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        let (out, wanted) = tokio::select! {
            event = track.poll() => match event {
                Some(TrackRemoteEvent::OnRtpPacket(p)) => (
                    frames.push(p.header.sequence_number, p.header.marker, p.payload, Instant::now()),
                    false,
                ),
                Some(TrackRemoteEvent::OnEnded) | None => return,
                Some(_) => continue,
            },
            () = keyframe_wanted.notified() => (Default::default(), true),
            () = give_up => (frames.tick(Instant::now()), false),
        };
        for frame in out.frames {
            if events
                .send(PeerEvent::Video { camera, frame })
                .await
                .is_err()
            {
                return;
            }
        }
        // Asked at most twice a second for losses; at once when the session wants one.
        let due = asked.is_none_or(|t| t.elapsed() > KEYFRAME_ASK_INTERVAL);
        if wanted || (out.need_keyframe && due) {
            asked = Some(Instant::now());
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc,
            };
            let _ = track.write_rtcp(vec![Box::new(pli)]).await;
        }
    }
}
