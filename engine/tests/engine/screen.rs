//! Screen sharing over real peers, on the test command's Xvfb display: the customer's monitor,
//! then one chosen application window, reach the CSR's engine as decoded pictures showing what
//! was drawn; sharing starts only under the customer's own consent and stops at once when it is
//! revoked; and the CSR's own desktop reaches the customer.

use crate::common::{consent, loopback, service, start_activity, until};
use crate::xdisplay::Display;
use tether_engine::service::Invitation;
use tether_engine::{Engine, EngineConfig, EngineEvent};
use tether_media::capture::WindowChoice;
use tether_media::frame::I420;
use tether_protocol::{Activity, Capability, Command, ParticipantId};
use tokio::sync::mpsc::Receiver;

const QUADRANTS: [[u8; 3]; 4] = [[220, 40, 40], [40, 200, 60], [40, 60, 220], [230, 220, 40]];
const APP_RGB: [u8; 3] = [200, 60, 200];

/// The next picture from `from` that satisfies `ok`, within the wait of `until`.
async fn picture(
    events: &mut Receiver<EngineEvent>,
    from: ParticipantId,
    what: &str,
    ok: impl Fn(&I420) -> bool,
) -> std::sync::Arc<I420> {
    let e = until(
        events,
        what,
        |e| matches!(e, EngineEvent::Screen { from: f, picture } if *f == from && ok(&picture.0)),
    )
    .await;
    let EngineEvent::Screen { picture, .. } = e else {
        unreachable!()
    };
    picture.0
}

fn close(a: [f64; 3], b: [u8; 3]) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (x - f64::from(y)).abs() < 16.0)
}

/// Each quadrant's middle has its colour.
fn shows_quadrants(p: &I420) -> bool {
    let (w, h) = (p.width, p.height);
    let spots = [
        (w / 4, h / 4),
        (3 * w / 4, h / 4),
        (w / 4, 3 * h / 4),
        (3 * w / 4, 3 * h / 4),
    ];
    spots
        .iter()
        .zip(QUADRANTS)
        .all(|((x, y), rgb)| close(p.mean_rgb(x - 20, y - 20, 40, 40), rgb))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customers_screen_and_then_one_window_reach_the_csr_while_allowed() {
    let x = Display::open();
    let _turn = x.turn().await;
    let (w, h) = x.size();
    let (hw, hh) = (w / 2, h / 2);
    let mut drawn = Vec::new();
    for ((qx, qy), rgb) in [(0, 0), (hw, 0), (0, hh), (hw, hh)]
        .into_iter()
        .zip(QUADRANTS)
    {
        drawn.push(x.window((qx as i16, qy as i16, hw, hh), rgb, None));
    }

    let (service, url, admin) = service("screen").await;
    let csr_seat = url.start_session(&admin, None, None).await.expect("start");
    let inv = url
        .invite(&admin, &csr_seat.session_id, "customer")
        .await
        .expect("invite");
    let code = Invitation::Code(inv["code"].as_str().expect("code").to_owned());
    let carl_seat = url.join(&code, "Carl", None).await.expect("join");
    let (csr, mut csr_ev) = Engine::connect(&url, &csr_seat, loopback())
        .await
        .expect("csr");
    let carl_config = EngineConfig {
        application: Some(WindowChoice::Title("tether-engine-app".into())),
        ..loopback()
    };
    let (carl, mut carl_ev) = Engine::connect(&url, &carl_seat, carl_config)
        .await
        .expect("carl");
    crate::common::mesh_open(&mut csr_ev, &[carl.me()]).await;
    crate::common::mesh_open(&mut carl_ev, &[csr.me()]).await;
    let c = carl.me();

    // Carl allows viewing; the CSR views the desktop: the quadrants arrive, at full size.
    consent(
        (&csr, &mut csr_ev),
        (&carl, &mut carl_ev),
        Capability::RemoteView,
        true,
    )
    .await;
    start_activity(&csr, &mut carl_ev, Activity::ViewDesktop).await;
    until(
        &mut carl_ev,
        "sharing started",
        |e| matches!(e, EngineEvent::Sharing { source: Some(_), to } if to == &vec![csr.me()]),
    )
    .await;
    let desktop = picture(&mut csr_ev, c, "the desktop", shows_quadrants).await;
    assert_eq!((desktop.width, desktop.height), (w as usize, h as usize));

    // Viewing again, the screen standing still: a fresh picture comes.
    csr.command(Command::StopActivity {
        activity: Activity::ViewDesktop,
    })
    .await
    .expect("stop");
    until(&mut carl_ev, "sharing stopped", |e| {
        matches!(e, EngineEvent::Sharing { source: None, .. })
    })
    .await;
    // Pictures of the first view still queued are not the ones this part waits for.
    while csr_ev.try_recv().is_ok() {}
    start_activity(&csr, &mut carl_ev, Activity::ViewDesktop).await;
    picture(&mut csr_ev, c, "the desktop again", shows_quadrants).await;

    // Application view: only Carl's chosen window is shared, at its own size.
    csr.command(Command::StopActivity {
        activity: Activity::ViewDesktop,
    })
    .await
    .expect("stop");
    let app = x.window((300, 200, 400, 300), APP_RGB, Some("tether-engine-app"));
    start_activity(&csr, &mut carl_ev, Activity::ViewApplication).await;
    let window = picture(&mut csr_ev, c, "the window", |p| {
        p.width == 400 && p.height == 300
    })
    .await;
    assert!(
        close(window.mean_rgb(100, 100, 200, 100), APP_RGB),
        "the window's colour: {:?}",
        window.mean_rgb(100, 100, 200, 100)
    );

    // Carl revokes: his endpoint stops sharing at once.
    carl.revoke_consent(Capability::RemoteView)
        .await
        .expect("revoke");
    until(&mut carl_ev, "sharing stopped", |e| {
        matches!(e, EngineEvent::Sharing { source: None, .. })
    })
    .await;

    // The other direction: the CSR shares its own desktop with Carl.
    x.destroy(app);
    start_activity(&csr, &mut csr_ev, Activity::ShareDesktop).await;
    let shared = picture(&mut carl_ev, csr.me(), "the CSR's desktop", shows_quadrants).await;
    assert_eq!((shared.width, shared.height), (w as usize, h as usize));

    drop((csr, carl));
    service.stop().await;
    for id in drawn {
        x.destroy(id);
    }
}
