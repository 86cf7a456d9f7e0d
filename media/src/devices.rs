//! The machine's ALSA sound devices, read from `/proc/asound`, so a user can be told which
//! microphone and speaker tether would use. Only a listing: capturing from and playing to a
//! device is [`crate::alsa_device`].

use std::fs;

/// One ALSA PCM device: a card's numbered device that can capture, play back, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioDevice {
    /// The card number (`0` in `hw:0,3`).
    pub card: u32,
    /// The device number on the card (`3` in `hw:0,3`).
    pub device: u32,
    /// The card's short identifier, such as `PCH`.
    pub card_id: String,
    /// The card's name, such as `HDA Intel PCH`.
    pub card_name: String,
    /// The device's name, such as `ALC3232 Analog` or `HDMI 0`.
    pub name: String,
    pub playback: bool,
    pub capture: bool,
}

impl AudioDevice {
    /// The ALSA name of the device with format conversion, such as `plughw:CARD=PCH,DEV=0`.
    pub fn alsa_name(&self) -> String {
        if self.card_id.is_empty() {
            format!("plughw:{},{}", self.card, self.device)
        } else {
            format!("plughw:CARD={},DEV={}", self.card_id, self.device)
        }
    }
}

/// Every capture and playback device of this machine, in card and device order; an empty list
/// when the machine has no sound card (or no `/proc/asound`, as in most containers and VMs).
pub fn audio_devices() -> Vec<AudioDevice> {
    let cards = fs::read_to_string("/proc/asound/cards").unwrap_or_default();
    let pcm = fs::read_to_string("/proc/asound/pcm").unwrap_or_default();
    parse_devices(&cards, &pcm)
}

/// The devices described by the text of `/proc/asound/cards` and `/proc/asound/pcm`. Lines
/// that do not parse are skipped.
pub fn parse_devices(cards: &str, pcm: &str) -> Vec<AudioDevice> {
    let cards: Vec<(u32, String, String)> = cards.lines().filter_map(parse_card).collect();
    let mut devices: Vec<AudioDevice> = pcm
        .lines()
        .filter_map(|line| {
            let mut device = parse_pcm(line)?;
            if let Some((_, id, name)) = cards.iter().find(|(n, _, _)| *n == device.card) {
                device.card_id.clone_from(id);
                device.card_name.clone_from(name);
            }
            Some(device)
        })
        .collect();
    devices.sort_by_key(|d| (d.card, d.device));
    devices
}

/// ` 0 [PCH            ]: HDA-Intel - HDA Intel PCH` → (0, "PCH", "HDA Intel PCH").
fn parse_card(line: &str) -> Option<(u32, String, String)> {
    let (number, rest) = line.trim_start().split_once(" [")?;
    let number = number.trim().parse().ok()?;
    let (id, rest) = rest.split_once("]:")?;
    let name = rest.split_once(" - ").map_or(rest, |(_, name)| name);
    Some((number, id.trim().to_owned(), name.trim().to_owned()))
}

/// `00-03: HDMI 0 : HDMI 0 : playback 1 : capture 1` → card 0, device 3.
fn parse_pcm(line: &str) -> Option<AudioDevice> {
    let (address, rest) = line.split_once(": ")?;
    let (card, device) = address.trim().split_once('-')?;
    let mut fields = rest.split(" : ").map(str::trim);
    let id = fields.next()?.to_owned();
    let name = fields.next().map_or_else(|| id.clone(), str::to_owned);
    let (mut playback, mut capture) = (false, false);
    for field in fields {
        playback |= field.starts_with("playback");
        capture |= field.starts_with("capture");
    }
    Some(AudioDevice {
        card: card.parse().ok()?,
        device: device.parse().ok()?,
        card_id: String::new(),
        card_name: String::new(),
        name,
        playback,
        capture,
    })
}
