//! Consent is enforced by the customer's own engine: system information is read and sent only
//! after the customer allowed it, only to a CSR, and never after a revoke.

use crate::common::{consent, service, session_with, until};
use tether_engine::{EngineError, EngineEvent};
use tether_protocol::{Capability, Command, Event};

fn refused_for(result: Result<tether_protocol::SystemInfo, EngineError>, words: &str) {
    match result {
        Err(EngineError::Refused(reason)) => assert!(reason.contains(words), "{reason}"),
        other => panic!("expected a refusal mentioning {words:?}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_information_only_after_the_customers_own_consent() {
    let (service, url, admin) = service("consent").await;
    let (_, (csr, mut csr_ev), customers) = session_with(&url, &admin, &["Carl", "Dora"]).await;
    let [(carl, mut carl_ev), (dora, _)]: [_; 2] = customers.try_into().expect("two customers");
    let c = carl.me();

    // No consent asked yet: Carl's engine refuses, and Carl can't "answer" what nobody asked.
    refused_for(csr.request_system_info(c).await, "not allowed");
    let e = carl
        .answer_consent(Capability::SystemInfo, true)
        .await
        .expect_err("nothing asked");
    assert!(e.to_string().contains("nobody has asked"), "{e}");

    // Asked and denied: still refused.
    consent(
        (&csr, &mut csr_ev),
        (&carl, &mut carl_ev),
        Capability::SystemInfo,
        false,
    )
    .await;
    refused_for(csr.request_system_info(c).await, "not allowed");

    // Asked and allowed: the CSR gets Carl's machine's real information.
    consent(
        (&csr, &mut csr_ev),
        (&carl, &mut carl_ev),
        Capability::SystemInfo,
        true,
    )
    .await;
    let info = csr
        .request_system_info(c)
        .await
        .expect("system information");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    assert_eq!(info.hostname, hostname.trim());
    assert!(
        info.cpu_cores >= 1 && info.memory_total_bytes > info.memory_used_bytes,
        "{info:?}"
    );
    assert!(
        !info.os.is_empty() && !info.kernel.is_empty() && info.uptime_secs > 0,
        "{info:?}"
    );
    assert!(
        info.network
            .iter()
            .any(|i| i.addresses.iter().any(|a| a.starts_with("127.0.0.1/"))),
        "{:?}",
        info.network
    );
    assert!(!info.disks.is_empty(), "{:?}", info.disks);
    // The test command's Xvfb display is this machine's screen.
    assert!(
        info.displays
            .iter()
            .any(|d| (d.width, d.height) == (1920, 1080)),
        "{:?}",
        info.displays
    );

    // Another customer is not a CSR: Carl's engine refuses it whatever the consent.
    refused_for(
        dora.request_system_info(c).await,
        "only a support representative",
    );

    // Carl revokes: refused at once, from his own endpoint.
    carl.revoke_consent(Capability::SystemInfo)
        .await
        .expect("revoke");
    refused_for(csr.request_system_info(c).await, "not allowed");
    until(&mut csr_ev, "revocation recorded", |e| {
        matches!(e, EngineEvent::Session(Event::ConsentRevoked { .. }))
    })
    .await;

    csr.command(Command::End {
        notes: String::new(),
    })
    .await
    .expect("end");
    until(&mut carl_ev, "closed", |e| {
        matches!(e, EngineEvent::Closed { .. })
    })
    .await;
    service.stop().await;
}
