//! The customer helper: a terminal program a customer runs with an invitation. It shows who is
//! in the session and the chat, asks every consent as a clear prompt, lets the customer reply,
//! revoke or leave at any time, and exits when the session ends.

use crate::EngineError;
use crate::service::{Invitation, ServiceUrl};
use crate::session::{ChatLine, Engine, EngineConfig, EngineEvent};
use clap::Parser;
use std::collections::HashSet;
use std::io::Write;
use tether_protocol::{Capability, Command, Event, ParticipantId, Role, Roster};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Debug, Parser)]
#[command(
    name = "tether-helper",
    version,
    about = "Join a tether support session from this computer"
)]
pub struct Args {
    /// The invitation link, or the nine-digit code your support representative read to you.
    pub invitation: String,
    /// Your name as the support representative will see it.
    #[arg(long)]
    pub name: String,
    /// The support service (http://host:port); not needed with a link.
    #[arg(long)]
    pub service: Option<String>,
    /// For scripted use only: answer "yes" in advance to a consent request for this capability
    /// (remote_view, remote_control, file_transfer, system_info, recording). You can still
    /// revoke it at any time with /revoke.
    #[arg(long = "consent-in-advance", value_name = "CAPABILITY")]
    pub consent_in_advance: Vec<String>,
    /// The folder for file transfer: files you accept are saved here, and the support
    /// representative may ask (you approve each) for files from here. Without it, no transfer.
    #[arg(long)]
    pub folder: Option<std::path::PathBuf>,
    /// Local address for peer connections.
    #[arg(long, default_value = "0.0.0.0:0")]
    pub bind: String,
    /// The X display to share and control (default: the DISPLAY variable).
    #[arg(long)]
    pub display: Option<String>,
    /// Which monitor to share when the support representative views your desktop (0 = the
    /// first; `--list-screens` shows them).
    #[arg(long, default_value_t = 0)]
    pub monitor: usize,
    /// The application window to share when the support representative asks to view one
    /// application: its title (or a part of it), or its X window id as `0x…`.
    #[arg(long)]
    pub application: Option<String>,
    /// Your voice for /audio as a WAV file (16-bit PCM, 48 kHz) instead of the microphone.
    /// Without a file or a microphone, /audio sends a quiet test tone.
    #[arg(long)]
    pub voice_file: Option<std::path::PathBuf>,
    /// Save what you hear in audio as WAV files (one per speaker: NAME-ID.wav beside this path)
    /// instead of playing it on the speaker. Without it or a speaker, voices are only counted.
    #[arg(long)]
    pub voice_out: Option<std::path::PathBuf>,
    /// The ALSA device for your microphone and speaker, such as `default` or
    /// `plughw:CARD=PCH,DEV=0` (default: the first sound card that can capture, and the first
    /// that can play).
    #[arg(long, value_name = "NAME")]
    pub audio_device: Option<String>,
}

/// The ALSA device /audio captures from: none with `--voice-file`.
fn microphone_name(args: &Args) -> Option<String> {
    if args.voice_file.is_some() {
        return None;
    }
    args.audio_device
        .clone()
        .or_else(tether_media::alsa_device::default_microphone)
}

/// The ALSA device voices play on: none with `--voice-out`.
fn speaker_name(args: &Args) -> Option<String> {
    if args.voice_out.is_some() {
        return None;
    }
    args.audio_device
        .clone()
        .or_else(tether_media::alsa_device::default_speaker)
}

/// Which devices (or files) voice uses, said when the helper starts.
fn audio_text(args: &Args) -> String {
    let (microphone, speaker) = (microphone_name(args), speaker_name(args));
    if microphone.is_none()
        && speaker.is_none()
        && args.voice_file.is_none()
        && args.voice_out.is_none()
    {
        return "No audio device found: /audio sends --voice-file (or a test tone) and saves voices to --voice-out (or only counts them).".into();
    }
    let microphone = match (&microphone, &args.voice_file) {
        (Some(name), _) => name.clone(),
        (None, Some(path)) => format!("the file {}", path.display()),
        (None, None) => "none (a test tone)".into(),
    };
    let speaker = match (&speaker, &args.voice_out) {
        (Some(name), _) => name.clone(),
        (None, Some(path)) => format!("WAV files beside {}", path.display()),
        (None, None) => "none (voices are only counted)".into(),
    };
    format!("Microphone: {microphone}; speaker: {speaker}.")
}

/// The voice source `/audio` uses, and what it is.
fn voice_source(
    args: &Args,
) -> Result<(Box<dyn tether_media::voice::AudioSource + Send>, String), EngineError> {
    let tone = || Box::new(tether_media::tone::ToneSource::endless(440.0, 1500));
    if let Some(path) = &args.voice_file {
        return tether_media::wav::WavSource::open(path)
            .map(|s| {
                let source: Box<dyn tether_media::voice::AudioSource + Send> = Box::new(s);
                (source, format!("the file {}", path.display()))
            })
            .map_err(|e| EngineError::Invalid(format!("voice file {}: {e}", path.display())));
    }
    Ok(match microphone_name(args) {
        Some(name) => match tether_media::alsa_device::Microphone::open(&name) {
            Ok(microphone) => (Box::new(microphone), format!("the microphone {name}")),
            Err(e) => (tone(), format!("a test tone ({e})")),
        },
        None => (tone(), "a test tone".into()),
    })
}

/// Where each speaker's voice goes, and where that is: WAV files, the speaker (every voice
/// mixed into one device), or a counter.
fn voice_sinks(args: &Args) -> (crate::voice::SinkFactory, String) {
    let counting = || {
        Box::new(tether_media::tone::CountingSink::new())
            as Box<dyn tether_media::voice::AudioSink + Send>
    };
    if let Some(path) = args.voice_out.clone() {
        let text = format!("WAV files beside {}", path.display());
        let factory: crate::voice::SinkFactory = Box::new(move |speaker| {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("voice");
            let file = path.with_file_name(format!("{stem}-{}.wav", speaker.0));
            match tether_media::wav::WavSink::create(&file) {
                Ok(sink) => Box::new(sink) as Box<dyn tether_media::voice::AudioSink + Send>,
                Err(_) => counting(),
            }
        });
        return (factory, text);
    }
    let Some(name) = speaker_name(args) else {
        return (Box::new(move |_| counting()), "nowhere (no speaker)".into());
    };
    match tether_media::alsa_device::Speaker::open(&name) {
        Ok(speaker) => {
            let mixer = tether_media::alsa_device::Mixer::new(Box::new(speaker));
            (
                Box::new(move |_| Box::new(mixer.input())),
                format!("the speaker {name}"),
            )
        }
        Err(e) => (Box::new(move |_| counting()), format!("nowhere ({e})")),
    }
}

/// Join the voice call with the chosen source; what to tell the customer.
async fn join_voice(engine: &Engine, args: &Args) -> String {
    let (source, sending) = match voice_source(args) {
        Ok(source) => source,
        Err(e) => return format!("Could not join audio: {e}"),
    };
    let (sinks, playing) = voice_sinks(args);
    match engine.join_audio(source, sinks).await {
        Ok(()) => format!(
            "You joined the voice call, sending {sending} and playing voices on {playing}. /mute to mute."
        ),
        Err(e) => format!("Could not join audio: {e}"),
    }
}

/// The monitors and windows this computer can share, for `/screens`.
fn screens_text() -> String {
    let mut text = String::new();
    match tether_media::capture::displays() {
        Ok(displays) => {
            for d in displays {
                text.push_str(&format!(
                    "  monitor {}: {} {}x{} at {},{}{}\n",
                    d.index,
                    d.name,
                    d.width,
                    d.height,
                    d.x,
                    d.y,
                    if d.primary { " (primary)" } else { "" }
                ));
            }
        }
        Err(e) => text.push_str(&format!("  no monitors: {e}\n")),
    }
    if let Ok(windows) = tether_media::capture::windows() {
        for w in windows {
            text.push_str(&format!("  window 0x{:x}: {:?}\n", w.id, w.title));
        }
    }
    text
}

/// A window named on the command line: `0x…` is an X window id, anything else a title.
pub fn window_choice(text: &str) -> tether_media::capture::WindowChoice {
    use tether_media::capture::WindowChoice;
    match text
        .strip_prefix("0x")
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
    {
        Some(id) => WindowChoice::Id(id),
        None => WindowChoice::Title(text.to_owned()),
    }
}

fn capability(name: &str) -> Option<Capability> {
    Capability::ALL.into_iter().find(|c| c.as_str() == name)
}

fn describe(c: Capability) -> &'static str {
    match c {
        Capability::RemoteView => "see your screen",
        Capability::RemoteControl => "control your mouse and keyboard",
        Capability::FileTransfer => "transfer files to and from this computer",
        Capability::SystemInfo => {
            "read system information (operating system, hardware, disks, network) from this computer"
        }
        Capability::Recording => "record this session",
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Controller => "support, in control",
        Role::Csr => "support",
        Role::PrimaryCustomer => "primary customer",
        Role::Customer => "customer",
    }
}

struct Screen {
    me: ParticipantId,
    roster: Option<Roster>,
}

impl Screen {
    fn say(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    fn name(&self, id: ParticipantId) -> String {
        self.roster
            .as_ref()
            .and_then(|r| r.participants.iter().find(|p| p.id == id))
            .map_or_else(|| format!("participant {}", id.0), |p| p.name.clone())
    }
    fn roster(&mut self, roster: Roster) {
        let people: Vec<String> = roster
            .participants
            .iter()
            .map(|p| {
                let you = if p.id == self.me { ", you" } else { "" };
                format!("{} {} ({}{you})", p.id.0, p.name, role_name(p.role))
            })
            .collect();
        let changed = self.roster.as_ref().map(|r| &r.participants) != Some(&roster.participants);
        let recording = roster.recording;
        self.roster = Some(roster);
        if changed {
            self.say(&format!("Participants: {}", people.join("; ")));
        }
        if recording {
            self.say("This session is being recorded.");
        }
    }
    fn chat(&self, line: &ChatLine) {
        let to = if line.to.is_empty() {
            "everyone".to_owned()
        } else {
            "you".to_owned()
        };
        self.say(&format!("[{} -> {to}] {}", self.name(line.from), line.text));
    }
}

/// Run the helper until the session ends; returns the process exit code.
pub async fn run(args: Args) -> Result<(), EngineError> {
    let in_advance: HashSet<Capability> = args
        .consent_in_advance
        .iter()
        .map(|n| {
            capability(n).ok_or_else(|| {
                EngineError::Invalid(format!("unknown capability {n:?} for --consent-in-advance"))
            })
        })
        .collect::<Result<_, _>>()?;
    let invitation = Invitation::parse(&args.invitation).ok_or_else(|| {
        EngineError::Invalid(
            "expected an invitation link or a nine-digit code like 1234-56789".into(),
        )
    })?;
    let service = match (&args.service, &invitation) {
        (Some(url), _) => url.clone(),
        (None, Invitation::Token(_)) if args.invitation.starts_with("http://") => {
            args.invitation.clone()
        }
        _ => {
            return Err(EngineError::Invalid(
                "give --service http://host:port with a code".into(),
            ));
        }
    };
    let url = ServiceUrl::parse(&service)?;
    let seat = url.join(&invitation, &args.name, None).await?;
    let (engine, mut events) = Engine::connect(
        &url,
        &seat,
        EngineConfig {
            bind: vec![args.bind.clone()],
            files_dir: args.folder.clone(),
            x_display: args.display.clone(),
            monitor: args.monitor,
            application: args.application.as_deref().map(window_choice),
            ..EngineConfig::default()
        },
    )
    .await?;
    let mut screen = Screen {
        me: engine.me(),
        roster: None,
    };
    screen.say(&format!("Joined the support session as {}.", args.name));
    screen.say("Type a message and press Enter to chat. Commands: /to ID message, /revoke CAPABILITY, /audio, /mute, /unmute, /screens, /leave.");
    screen.say(&audio_text(&args));
    screen.roster(engine.welcome().roster.clone());

    let mut asking: Vec<Capability> = Vec::new();
    // File transfers waiting for a y/n: (from, id).
    let mut transfers: Vec<(ParticipantId, u64)> = Vec::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut sharers = HashSet::new();
    let mut audio_invites: Vec<ParticipantId> = Vec::new();
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return Ok(()) };
                match event {
                    EngineEvent::Roster(r) => screen.roster(r),
                    EngineEvent::Chat(line) => screen.chat(&line),
                    EngineEvent::Session(Event::ConsentRequested { customer, capability, by }) if customer == screen.me => {
                        if in_advance.contains(&capability) {
                            engine.answer_consent(capability, true).await?;
                            screen.say(&format!("{} may {} (allowed in advance with --consent-in-advance; /revoke {} to stop).", screen.name(by), describe(capability), capability));
                        } else {
                            asking.push(capability);
                            screen.say(&format!("{} asks to {}. Allow? [y/n]", screen.name(by), describe(capability)));
                        }
                    }
                    EngineEvent::TransferRequest { id, from, name, size, incoming } => {
                        transfers.push((from, id));
                        let what = if incoming { "send you the file" } else { "copy from your folder the file" };
                        screen.say(&format!("{} wants to {what} {name:?} ({size} bytes). Allow? [y/n]", screen.name(from)));
                    }
                    EngineEvent::TransferProgress { id, bytes, total } => {
                        let percent = (bytes * 100).checked_div(total).unwrap_or(100).min(100);
                        let filled = (percent / 5) as usize;
                        screen.say(&format!("Transfer {id}: [{}{}] {percent}% ({bytes} of {total} bytes)", "#".repeat(filled), ".".repeat(20 - filled)));
                    }
                    EngineEvent::TransferResumed { id, offset, total } => {
                        screen.say(&format!("Transfer {id}: the connection was restored; going on from byte {offset} of {total}."));
                    }
                    EngineEvent::TransferFinished { name, ok, .. } => {
                        screen.say(&if ok { format!("File transfer of {name:?} done.") } else { format!("File transfer of {name:?} failed.") });
                    }
                    EngineEvent::Session(Event::ActivityStarted { activity, actor, .. }) => {
                        screen.say(&format!("{} started {activity}.", screen.name(actor)));
                    }
                    EngineEvent::Refused { message, .. } => screen.say(&format!("Refused: {message}")),
                    EngineEvent::Sharing { to, source: Some(source) } => {
                        let names: Vec<String> = to.iter().map(|p| screen.name(*p)).collect();
                        screen.say(&format!("Your screen ({source}) is now seen by {}. /revoke remote_view stops it.", names.join(", ")));
                    }
                    EngineEvent::Sharing { source: None, .. } => screen.say("Your screen is no longer shared."),
                    EngineEvent::Screen { from, picture } if sharers.insert(from) => {
                        screen.say(&format!("{} shares their screen ({}x{}); open the join page in a browser to see it.", screen.name(from), picture.0.width, picture.0.height));
                    }
                    EngineEvent::InputRefused { from, reason } => screen.say(&format!("Input from {} was not applied: {reason}.", screen.name(from))),
                    EngineEvent::MediaError(message) => screen.say(&format!("Screen or voice problem: {message}")),
                    EngineEvent::VoiceSourceEnded => screen.say("Your voice (file or microphone) has ended."),
                    EngineEvent::AudioInvited { from } => {
                        audio_invites.push(from);
                        screen.say(&format!("{} invites you to the voice call. Join? [y/n]", screen.name(from)));
                    }
                    EngineEvent::PeerError { peer, message } => screen.say(&format!("Problem with {}: {message}", screen.name(peer))),
                    EngineEvent::Ended { .. } => screen.say("The session has ended. Thank you."),
                    EngineEvent::Closed { .. } => return Ok(()),
                    _ => {}
                }
            }
            line = lines.next_line(), if stdin_open => {
                let Ok(Some(line)) = line else { stdin_open = false; continue };
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                if !audio_invites.is_empty() && transfers.is_empty() && asking.is_empty() {
                    match line.to_ascii_lowercase().as_str() {
                        "y" | "yes" => {
                            audio_invites.clear();
                            screen.say(&join_voice(&engine, &args).await);
                        }
                        "n" | "no" => {
                            audio_invites.clear();
                            screen.say("Not joining the voice call; type /audio to join later.");
                        }
                        _ => screen.say("Please answer y or n: join the voice call?"),
                    }
                    continue;
                }
                if let Some((from, id)) = transfers.first().copied() {
                    let allow = matches!(line.to_ascii_lowercase().as_str(), "y" | "yes");
                    if allow || matches!(line.to_ascii_lowercase().as_str(), "n" | "no") {
                        transfers.remove(0);
                        if let Err(e) = engine.approve_transfer(from, id, allow).await {
                            screen.say(&format!("Could not answer: {e}"));
                        }
                        screen.say(if allow { "Allowed." } else { "Refused." });
                    } else {
                        screen.say("Please answer y or n.");
                    }
                } else if let Some(capability) = asking.first().copied() {
                    match line.to_ascii_lowercase().as_str() {
                        "y" | "yes" => {
                            asking.remove(0);
                            engine.answer_consent(capability, true).await?;
                            screen.say(&format!("Allowed. Type /revoke {capability} at any time to stop it."));
                        }
                        "n" | "no" => {
                            asking.remove(0);
                            engine.answer_consent(capability, false).await?;
                            screen.say("Refused.");
                        }
                        _ => screen.say(&format!("Please answer y or n: may they {}?", describe(capability))),
                    }
                } else if let Some(rest) = line.strip_prefix("/revoke ") {
                    match capability(rest.trim()) {
                        Some(c) => match engine.revoke_consent(c).await {
                            Ok(()) => screen.say(&format!("Revoked: {} no longer allowed.", describe(c))),
                            Err(e) => screen.say(&format!("Could not revoke: {e}")),
                        },
                        None => screen.say("Unknown capability; one of remote_view, remote_control, file_transfer, system_info, recording."),
                    }
                } else if line == "/audio" {
                    screen.say(&join_voice(&engine, &args).await);
                } else if line == "/mute" || line == "/unmute" {
                    if let Err(e) = engine.set_muted(line == "/mute").await {
                        screen.say(&format!("{e}"));
                    }
                } else if line == "/screens" {
                    screen.say(&format!("What this computer can share:\n{}", screens_text()));
                } else if line == "/leave" {
                    engine.command(Command::Leave).await?;
                } else if let Some(rest) = line.strip_prefix("/to ") {
                    let (id, text) = rest.split_once(' ').unwrap_or((rest, ""));
                    match id.parse::<u32>() {
                        Ok(id) => if let Err(e) = engine.chat(&[ParticipantId(id)], text).await { screen.say(&format!("Not sent: {e}")) },
                        Err(_) => screen.say("Usage: /to ID message"),
                    }
                } else if let Err(e) = engine.chat(&[], line).await {
                    screen.say(&format!("Not sent: {e}"));
                }
            }
        }
    }
}
