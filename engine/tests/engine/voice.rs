//! Voice over real peers: a tone sent by one participant is decoded by the other at its
//! frequency with exactly the number of frames sent; muting stops what is sent.

use crate::common::{service, session_with, until};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tether_engine::EngineEvent;
use tether_engine::voice::SinkFactory;
use tether_media::tone::{CountingSink, ToneSource};
use tether_media::voice::AudioSink;

/// A counting sink the test can read while the engine plays into it.
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<CountingSink>>);

impl AudioSink for Heard {
    fn play(&mut self, samples: &[i16]) {
        self.0.lock().expect("sink").play(samples);
    }
}

impl Heard {
    fn frames(&self) -> u64 {
        self.0.lock().expect("sink").frames()
    }
    fn frequency(&self) -> Option<f64> {
        self.0.lock().expect("sink").dominant_frequency()
    }
    /// One sink for every speaker (the tests have one each way).
    fn factory(&self) -> SinkFactory {
        let me = self.clone();
        Box::new(move |_| Box::new(me.clone()))
    }
}

/// Wait until `heard` stops growing (nothing more in flight), at most 10 s.
async fn settled(heard: &Heard) -> u64 {
    let mut last = heard.frames();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = heard.frames();
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("still hearing after 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tone_goes_through_at_its_frequency_frame_for_frame() {
    let (service, url, admin) = service("voice").await;
    let (_, (csr, mut csr_ev), mut customers) = session_with(&url, &admin, &["Carl"]).await;
    let (carl, _carl_ev) = customers.remove(0);

    // Carl joins first, saying a steady 1000 Hz; then the CSR joins with 100 frames of 440 Hz.
    let (carl_heard, csr_heard) = (Heard::default(), Heard::default());
    carl.join_audio(
        Box::new(ToneSource::endless(1000.0, 8000)),
        carl_heard.factory(),
    )
    .await
    .expect("carl joins");
    csr.join_audio(
        Box::new(ToneSource::frames(440.0, 8000, 100)),
        csr_heard.factory(),
    )
    .await
    .expect("csr joins");
    until(&mut csr_ev, "the tone ended", |e| {
        matches!(e, EngineEvent::VoiceSourceEnded)
    })
    .await;
    assert_eq!(
        settled(&carl_heard).await,
        100,
        "every frame sent was decoded once"
    );
    let f = carl_heard.frequency().expect("a tone");
    assert!((f - 440.0).abs() < 2.0, "Carl heard {f} Hz");
    let f = csr_heard.frequency().expect("a tone");
    assert!((f - 1000.0).abs() < 2.0, "the CSR heard {f} Hz");

    // Carl mutes: nothing more of him reaches the CSR.
    carl.set_muted(true).await.expect("mute");
    let muted_at = settled(&csr_heard).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(csr_heard.frames(), muted_at, "heard while muted");
    carl.set_muted(false).await.expect("unmute");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        csr_heard.frames() > muted_at + 20,
        "unmuted voice arrives again"
    );

    csr.leave_audio().await.expect("leave");
    assert!(csr.leave_audio().await.is_err(), "left twice");
    drop((csr, carl));
    service.stop().await;
}
