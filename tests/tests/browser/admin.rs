//! The administration page and invitations by e-mail in a real browser, against a service with
//! a real SMTP server (aiosmtpd): the first admin signs in on the console, opens Administration
//! from its header, creates a CSR account (one-time password shown once), gets a settings
//! mistake explained in words, turns file transfer off and finds it still off after a reload;
//! the new CSR signs in with the one-time password, has no Administration link and is refused
//! by the page; then it invites by e-mail from the invite panel: a refused address is said in
//! words, and the message that arrives carries the link whose token admits the customer.

use crate::common::*;
use serde_json::{Value, json};
use std::path::Path;
use tether_signaling::Service;
use tether_signaling::config::{Config, SmtpSecurity};
use tether_tests::browser::Browser;
use tether_tests::smtp::{SmtpServer, link_in};
use tether_tests::{http, login_with, temp_dir};

const ADMIN_PASSWORD: &str = "admin console password 1";
const BRUNO_PASSWORD: &str = "bruno's own password";

#[test]
fn admin_pages_and_invitations_by_email() {
    crate::common::run("admin", scenario);
}

/// Sign in on the console at `url` and replace the one-time password `once` with `new`.
async fn first_sign_in(browser: &Browser, url: &str, user: &str, once: &str, new: &str) {
    check(
        browser,
        "open the console",
        browser.goto(&format!("{url}/")).await,
    )
    .await;
    type_into(browser, "#signin-user", user).await;
    type_into(browser, "#signin-pass", once).await;
    click(browser, "#signin-form button[type=submit]").await;
    check(
        browser,
        "forced password change",
        browser.wait_visible("#view-password", WAIT).await,
    )
    .await;
    type_into(browser, "#pw-current", once).await;
    type_into(browser, "#pw-new", new).await;
    type_into(browser, "#pw-repeat", new).await;
    click(browser, "#password-form button[type=submit]").await;
    check(
        browser,
        "home",
        browser.wait_visible("#view-home", WAIT).await,
    )
    .await;
}

async fn script(browser: &Browser, what: &str, js: &str) -> Value {
    check(browser, what, browser.execute(js, json!([])).await).await
}

async fn screenshot(browser: &Browser, name: &str) {
    let shot = check(browser, name, browser.screenshot(name).await).await;
    assert!(shot.is_file(), "no screenshot at {}", shot.display());
}

async fn scenario() {
    let dir = temp_dir("browser-admin");
    let smtp = SmtpServer::start(&dir);
    let mut config = Config::for_tests(dir.join("t.db"));
    config.web_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    config.smtp_host = Some("127.0.0.1".into());
    config.smtp_port = Some(smtp.port);
    config.smtp_security = SmtpSecurity::None;
    config.smtp_from = Some("Example Support <support@example.com>".into());
    let service = Service::start(config).await.expect("service starts");
    let url = service.url.clone();
    let once = service.admin_password.clone().expect("a one-time password");

    let browser = Browser::start().await.expect("browser starts");
    check(&browser, "resize", browser.resize(1280, 1000).await).await;

    // The first admin signs in; the console's header leads to Administration.
    first_sign_in(&browser, &url, "admin", &once, ADMIN_PASSWORD).await;
    click(&browser, "#admin-link").await;
    check(
        &browser,
        "admin page",
        browser.wait_visible("#panel-accounts", WAIT).await,
    )
    .await;
    shows(&browser, "#accounts", "Administrator").await;

    // A new CSR account; its one-time password is shown once.
    type_into(&browser, "#new-username", "bruno").await;
    type_into(&browser, "#new-name", "Bruno Costa").await;
    click(&browser, "#new-account button[type=submit]").await;
    shows(&browser, "#once-for", "bruno").await;
    let bruno_once = check(
        &browser,
        "password",
        browser.text_of("#once-password").await,
    )
    .await;
    assert_eq!(bruno_once.chars().count(), 16, "{bruno_once:?}");
    shows(&browser, "#accounts", "Bruno Costa").await;
    shows(&browser, "tr[data-username=bruno]", "Password to choose").await;
    screenshot(&browser, "admin-accounts").await;
    click(&browser, "#once-done").await;

    // Refusals are said in words: the last admin can't lose its rights.
    click(
        &browser,
        "tr[data-username=admin] button[aria-label^='Remove admin']",
    )
    .await;
    shows(&browser, "#accounts-error", "last enabled administrator").await;

    // Settings: a mistake is explained and marked; then file transfer off, saved.
    click(&browser, "#tab-settings").await;
    check(
        &browser,
        "settings",
        browser.wait_visible("#settings-form", WAIT).await,
    )
    .await;
    shows(&browser, "#mail", "127.0.0.1").await;
    type_into(&browser, "#turn-urls", "http://turn.example.org").await;
    click(&browser, "#settings-form button[type=submit]").await;
    shows(
        &browser,
        "#settings-error",
        "TURN server 1: expected a URL starting with turn:",
    )
    .await;
    let marked = script(
        &browser,
        "marked",
        "return document.getElementById('turn-urls').getAttribute('aria-invalid');",
    )
    .await;
    assert_eq!(marked, "true");
    screenshot(&browser, "admin-settings-error").await;
    script(
        &browser,
        "clear",
        "document.getElementById('turn-urls').value = '';",
    )
    .await;
    click(&browser, "input[name=file_transfer][value=off]").await;
    type_into(&browser, ".type-name", " desk").await;
    click(&browser, "#settings-form button[type=submit]").await;
    shows(&browser, "#settings-state", "Saved at").await;
    screenshot(&browser, "admin-settings").await;

    // It sticks: after loading the page anew, and for the service.
    check(&browser, "leave", browser.goto(&format!("{url}/")).await).await;
    check(
        &browser,
        "reload",
        browser.goto(&format!("{url}/admin.html#settings")).await,
    )
    .await;
    let state = script(
        &browser,
        "fresh page",
        "return document.getElementById('settings-state').textContent;",
    )
    .await;
    assert_eq!(state, "", "the page was not loaded anew");
    check(
        &browser,
        "settings again",
        browser.wait_visible("#settings-form", WAIT).await,
    )
    .await;
    shows(&browser, "#mail", "On").await;
    let mode = script(
        &browser,
        "file transfer",
        "return (document.querySelector('input[name=file_transfer]:checked') || {}).value || null;",
    )
    .await;
    assert_eq!(mode, "off", "the saved file-transfer mode after a reload");
    screenshot(&browser, "admin-settings-reloaded").await;
    let token = login_with(service.addr, "admin", ADMIN_PASSWORD).await;
    let (status, settings) = http(
        service.addr,
        "GET",
        "/api/v1/admin/settings",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["file_transfer"], "off");
    assert_eq!(settings["session_types"][0]["name"], "General desk");
    assert_eq!(settings["turn_urls"], json!([]));

    // Bruno is not an admin: no link to the page, and the page refuses him.
    click(&browser, "#sign-out").await;
    check(
        &browser,
        "signed out",
        browser.wait_visible("#view-signin", WAIT).await,
    )
    .await;
    first_sign_in(&browser, &url, "bruno", &bruno_once, BRUNO_PASSWORD).await;
    let hidden = script(
        &browser,
        "admin link",
        "return document.getElementById('admin-link').hidden;",
    )
    .await;
    assert_eq!(hidden, true, "a CSR sees the Administration link");
    check(
        &browser,
        "admin page",
        browser.goto(&format!("{url}/admin.html")).await,
    )
    .await;
    shows(&browser, "#refused-why", "Only administrators").await;
    let shown = script(
        &browser,
        "admin view",
        "return !document.getElementById('view-admin').hidden;",
    )
    .await;
    assert_eq!(shown, false, "a CSR sees the administration view");
    screenshot(&browser, "admin-refused").await;

    // Bruno invites by e-mail.
    check(&browser, "console", browser.goto(&format!("{url}/")).await).await;
    click(&browser, "#quick-start").await;
    shows(&browser, "#ws-state", "Connected").await;
    click(&browser, "#invite-btn").await;
    type_into(&browser, "#invite-email", "nobody@example.com").await;
    click(&browser, "#invite-email-form button[type=submit]").await;
    shows(
        &browser,
        "#invite-error",
        "The mail server refused the address nobody@example.com",
    )
    .await;
    script(
        &browser,
        "clear",
        "document.getElementById('invite-email').value = '';",
    )
    .await;
    type_into(&browser, "#invite-email", "carla@example.com").await;
    click(&browser, "#invite-email-form button[type=submit]").await;
    shows(
        &browser,
        ".invitation",
        "Sent by e-mail to carla@example.com",
    )
    .await;
    screenshot(&browser, "console-invite-email").await;

    let messages = smtp.wait_for(1, WAIT).await;
    assert_eq!(messages.len(), 1, "only the accepted address got a message");
    let mail = &messages[0];
    assert_eq!(mail["rcpt_tos"], json!(["carla@example.com"]));
    let body = mail["body"].as_str().expect("a text body");
    assert!(body.contains("Bruno Costa invites you"), "{body}");
    let (link, token) = link_in(body);
    let shown = script(
        &browser,
        "link",
        "return document.querySelector('.invitation input').value;",
    )
    .await;
    assert_eq!(
        shown, link,
        "the e-mailed link is the one the console shows"
    );
    let join = json!({ "token": token, "name": "Carla" });
    let (status, joined) = http(service.addr, "POST", "/api/v1/join", None, Some(join)).await;
    assert_eq!(status, 201, "{joined}");
    shows(&browser, "#people", "Carla").await;

    drop(browser);
    service.stop().await;
}
