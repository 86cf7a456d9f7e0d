//! Helpers shared by the engine's integration tests: a real service with a signed-in admin,
//! customers joining by code, folders and files for transfers, and waits on engine events
//! (every wait bounded).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tether_engine::service::{Invitation, Seat, ServiceUrl};
use tether_engine::{Engine, EngineConfig, EngineEvent};
use tether_protocol::ParticipantId;
use tether_signaling::Service;
use tether_signaling::config::Config;
use tokio::sync::mpsc::Receiver;

const WAIT: Duration = Duration::from_secs(20);

pub async fn until(
    events: &mut Receiver<EngineEvent>,
    what: &str,
    pred: impl Fn(&EngineEvent) -> bool,
) -> EngineEvent {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            if pred(&e) {
                return Some(e);
            }
            seen.push(e);
        }
        None
    })
    .await;
    match found {
        Ok(Some(e)) => e,
        _ => panic!("no {what} within {WAIT:?}; saw {seen:#?}"),
    }
}

/// Wait until this participant's control channels to all of `others` are open.
pub async fn mesh_open(events: &mut Receiver<EngineEvent>, others: &[ParticipantId]) {
    let mut open = Vec::new();
    let all = tokio::time::timeout(WAIT, async {
        while !others.iter().all(|o| open.contains(o)) {
            match events.recv().await {
                Some(EngineEvent::PeerOpen(p)) => open.push(p),
                Some(_) => {}
                None => return,
            }
        }
    })
    .await;
    assert!(
        all.is_ok(),
        "only {open:?} of {others:?} opened within {WAIT:?}"
    );
}

pub fn loopback() -> EngineConfig {
    EngineConfig {
        bind: vec!["127.0.0.1:0".into()],
        ..Default::default()
    }
}

pub async fn service(name: &str) -> (Service, ServiceUrl, String) {
    let dir = std::env::temp_dir().join(format!("tether-engine-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let service = Service::start(Config::for_tests(dir.join("t.db")))
        .await
        .expect("service");
    let url = ServiceUrl::parse(&service.url).expect("url");
    let once = service.admin_password.clone().expect("first start");
    let admin = url.sign_in("admin", &once).await.expect("sign in");
    let body = serde_json::json!({"current": once, "new": "a new admin password"});
    url.request("POST", "/api/v1/me/password", Some(&admin), Some(&body))
        .await
        .expect("password changed");
    (service, url, admin)
}

pub async fn customer(url: &ServiceUrl, admin: &str, session: &str, name: &str) -> Seat {
    let inv = url
        .invite(admin, session, "customer")
        .await
        .expect("invite");
    let code = Invitation::Code(inv["code"].as_str().expect("code").to_owned());
    url.join(&code, name, None).await.expect("join")
}

/// One participant's engine and its events.
pub type Party = (Engine, Receiver<EngineEvent>);

/// A new session: the admin as controlling CSR and one customer per name (joined by code), all
/// connected, with every control channel of the mesh open. Returns the session id, the CSR and
/// the customers in order.
pub async fn session_with(
    url: &ServiceUrl,
    admin: &str,
    customers: &[&str],
) -> (String, Party, Vec<Party>) {
    let csr_seat = url.start_session(admin, None, None).await.expect("start");
    let mut seats = Vec::new();
    for name in customers {
        seats.push(customer(url, admin, &csr_seat.session_id, name).await);
    }
    let mut parties = Vec::new();
    for seat in std::iter::once(&csr_seat).chain(&seats) {
        parties.push(
            Engine::connect(url, seat, loopback())
                .await
                .expect("connect"),
        );
    }
    let ids: Vec<ParticipantId> = parties.iter().map(|(e, _)| e.me()).collect();
    for (engine, events) in &mut parties {
        let others: Vec<_> = ids
            .iter()
            .copied()
            .filter(|id| *id != engine.me())
            .collect();
        mesh_open(events, &others).await;
    }
    let csr = parties.remove(0);
    (csr_seat.session_id, csr, parties)
}

/// The CSR asks `customer` for `capability` through the service; the customer's user answers
/// `granted`; returns once the CSR has seen the answer.
pub async fn consent(
    csr: (&Engine, &mut Receiver<EngineEvent>),
    customer: (&Engine, &mut Receiver<EngineEvent>),
    capability: tether_protocol::Capability,
    granted: bool,
) {
    use tether_protocol::{Command, Event};
    let ask = Command::RequestConsent {
        customer: customer.0.me(),
        capability,
    };
    csr.0.command(ask).await.expect("ask");
    until(customer.1, "consent request", |e| {
        matches!(e, EngineEvent::Session(Event::ConsentRequested { capability: c, .. }) if *c == capability)
    })
    .await;
    customer
        .0
        .answer_consent(capability, granted)
        .await
        .expect("answer");
    until(csr.1, "consent answer", |e| {
        matches!(e, EngineEvent::Session(Event::ConsentAnswered { capability: c, granted: g, .. }) if *c == capability && *g == granted)
    })
    .await;
}

/// An empty folder of this test process.
pub fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tether-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("folder");
    dir
}

/// Write `size` bytes that are not all alike (so a reordered or repeated chunk changes the
/// hash); returns their SHA-256.
pub fn write(path: &Path, size: usize) -> String {
    let bytes: Vec<u8> = (0..size)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(path, &bytes).expect("write");
    hash(path)
}

pub fn hash(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read");
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The admin (as controlling CSR) and a customer, Carl, each with a folder for files, their
/// control channels open.
pub struct FilePair {
    pub session_id: String,
    pub csr: Engine,
    pub csr_ev: Receiver<EngineEvent>,
    pub csr_dir: PathBuf,
    pub carl: Engine,
    pub carl_ev: Receiver<EngineEvent>,
    pub carl_dir: PathBuf,
}

pub async fn file_pair(url: &ServiceUrl, admin: &str, tag: &str) -> FilePair {
    let (csr_dir, carl_dir) = (
        folder(&format!("{tag}-csr")),
        folder(&format!("{tag}-carl")),
    );
    let csr_seat = url.start_session(admin, None, None).await.expect("start");
    let carl_seat = customer(url, admin, &csr_seat.session_id, "Carl").await;
    let config = |dir: &PathBuf| EngineConfig {
        files_dir: Some(dir.clone()),
        ..loopback()
    };
    let (csr, mut csr_ev) = Engine::connect(url, &csr_seat, config(&csr_dir))
        .await
        .expect("csr");
    let (carl, mut carl_ev) = Engine::connect(url, &carl_seat, config(&carl_dir))
        .await
        .expect("carl");
    mesh_open(&mut csr_ev, &[carl.me()]).await;
    mesh_open(&mut carl_ev, &[csr.me()]).await;
    FilePair {
        session_id: csr_seat.session_id,
        csr,
        csr_ev,
        csr_dir,
        carl,
        carl_ev,
        carl_dir,
    }
}

/// The admin sets the file-transfer mode (`off`, `basic`, `advanced`).
pub async fn file_transfer_mode(url: &ServiceUrl, admin: &str, mode: &str) {
    setting(url, admin, "file_transfer", mode.into()).await;
}

/// The admin changes one organization setting.
pub async fn setting(url: &ServiceUrl, admin: &str, key: &str, value: serde_json::Value) {
    let mut settings = url
        .request("GET", "/api/v1/admin/settings", Some(admin), None)
        .await
        .expect("settings");
    settings[key] = value;
    url.request(
        "PUT",
        "/api/v1/admin/settings",
        Some(admin),
        Some(&settings),
    )
    .await
    .unwrap_or_else(|e| panic!("setting {key}: {e}"));
}

/// The customer answers the next transfer request; returns its id and file name.
pub async fn answer_transfer(
    customer: &Engine,
    events: &mut Receiver<EngineEvent>,
    allow: bool,
) -> (u64, String) {
    let request = until(events, "transfer request", |e| {
        matches!(e, EngineEvent::TransferRequest { .. })
    })
    .await;
    let EngineEvent::TransferRequest { id, from, name, .. } = request else {
        unreachable!()
    };
    customer
        .approve_transfer(from, id, allow)
        .await
        .expect("answer");
    (id, name)
}

/// The CSR starts `activity`; returns once `watcher` has seen it in the roster (the service's
/// word, which the engines act on).
pub async fn start_activity(
    csr: &Engine,
    watcher: &mut Receiver<EngineEvent>,
    activity: tether_protocol::Activity,
) {
    csr.command(tether_protocol::Command::StartActivity {
        activity,
        target: None,
    })
    .await
    .expect("start");
    until(watcher, "activity in the roster", |e| {
        matches!(e, EngineEvent::Roster(r) if r.activities.iter().any(|a| a.activity == activity))
    })
    .await;
}

/// The CSR ends the session; once it has closed, the record's file transfers, each as the
/// values of `fields` (strings) in order.
pub async fn end_and_read_transfers(
    csr: (&Engine, &mut Receiver<EngineEvent>),
    url: &ServiceUrl,
    admin: &str,
    session_id: &str,
    fields: &[&str],
) -> Vec<Vec<String>> {
    csr.0.end("files done").await.expect("end");
    until(csr.1, "closed", |e| matches!(e, EngineEvent::Closed { .. })).await;
    let path = format!("/api/v1/sessions/{session_id}");
    let record = url
        .request("GET", &path, Some(admin), None)
        .await
        .expect("record");
    record["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["event"]["type"] == "file_transfer_recorded")
        .map(|e| {
            let t = &e["event"]["transfer"];
            let field = |k: &&str| t[*k].as_str().unwrap_or("").to_owned();
            fields.iter().map(field).collect()
        })
        .collect()
}

/// The expected rows of [`end_and_read_transfers`].
pub fn rows(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

/// The session is over for `engines`: wait (at most 10 s) until every media thread of each has
/// ended.
pub async fn media_threads_end(engines: &[&Engine]) {
    for _ in 0..100 {
        if engines.iter().all(|e| e.media_threads() == 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left: Vec<usize> = engines.iter().map(|e| e.media_threads()).collect();
    panic!("media threads still running after the session ended: {left:?}");
}

/// A transfer task's result, waited for at most a minute (a hang names the step).
pub async fn within<T>(task: tokio::task::JoinHandle<T>, what: &str) -> T {
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within a minute"))
        .expect("task")
}
