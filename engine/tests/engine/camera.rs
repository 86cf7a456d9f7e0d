//! Camera video over real peers: a CSR's camera cannot start before a customer has joined;
//! once one has, the pictures the CSR's program gives reach the customer decoded, in colour.

use crate::common::{customer, loopback, mesh_open, service, start_activity, until};
use tether_engine::{Engine, EngineEvent};
use tether_media::frame::{Bgra, I420};
use tether_protocol::{Activity, Command};

const GREEN: [u8; 4] = [60, 180, 40, 255]; // BGRA

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_starts_only_after_a_customer_joined_and_reaches_them() {
    let (service, url, admin) = service("camera").await;
    let seat = url.start_session(&admin, None, None).await.expect("start");
    let (csr, mut csr_ev) = Engine::connect(&url, &seat, loopback()).await.expect("csr");
    let frame = I420::from_bgra(&Bgra::filled(640, 360, GREEN)).expect("picture");
    csr.set_camera(Box::new(move || Some(frame.clone())))
        .await
        .expect("camera");

    // Nobody to see it yet: the service refuses the video activity.
    csr.command(Command::StartActivity {
        activity: Activity::Video,
        target: None,
    })
    .await
    .expect("ask");
    until(
        &mut csr_ev,
        "refusal",
        |e| matches!(e, EngineEvent::Refused { code, .. } if code == "no_customer_yet"),
    )
    .await;

    let carl_seat = customer(&url, &admin, &seat.session_id, "Carl").await;
    let (carl, mut carl_ev) = Engine::connect(&url, &carl_seat, loopback())
        .await
        .expect("carl");
    mesh_open(&mut csr_ev, &[carl.me()]).await;
    mesh_open(&mut carl_ev, &[csr.me()]).await;
    start_activity(&csr, &mut carl_ev, Activity::Video).await;
    let seen = until(
        &mut carl_ev,
        "the CSR's camera",
        |e| matches!(e, EngineEvent::Camera { from, .. } if *from == csr.me()),
    )
    .await;
    let EngineEvent::Camera { picture, .. } = seen else {
        unreachable!()
    };
    assert_eq!((picture.0.width, picture.0.height), (640, 360));
    let [r, g, b] = picture.0.mean_rgb(100, 100, 400, 150);
    let want = [GREEN[2], GREEN[1], GREEN[0]].map(f64::from);
    assert!(
        [r, g, b]
            .iter()
            .zip(want)
            .all(|(x, y)| (x - y).abs() < 16.0),
        "the camera's colour arrived as {:?}",
        [r, g, b]
    );
    drop((csr, carl));
    service.stop().await;
}
