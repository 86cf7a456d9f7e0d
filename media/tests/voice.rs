//! Voice end to end: tones through Opus and back measured by the counting sink, frame-length
//! errors, loss concealment, WAV files, and the ALSA device listing.

use std::path::PathBuf;
use std::time::{Duration, Instant};
use tether_media::MediaError;
use tether_media::devices::{audio_devices, parse_devices};
use tether_media::tone::{CountingSink, ToneSource, dominant_frequency};
use tether_media::voice::{
    AudioSink, AudioSource, DEFAULT_BITRATE, FRAME_SAMPLES, VoiceDecoder, VoiceEncoder,
};
use tether_media::wav::{WavSink, WavSource};

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tether-media-voice-{}-{name}", std::process::id()))
}

/// Send `frames` frames of a tone through an encoder and a decoder into a counting sink.
fn through_opus(frequency: f64, frames: u64) -> (CountingSink, Duration) {
    let mut source = ToneSource::frames(frequency, 12_000, frames);
    let mut encoder = VoiceEncoder::new(DEFAULT_BITRATE).expect("encoder");
    let mut decoder = VoiceDecoder::new().expect("decoder");
    let mut sink = CountingSink::new();
    let mut encoding = Duration::ZERO;
    while let Some(frame) = source.next_frame() {
        let started = Instant::now();
        let packet = encoder.encode(&frame).expect("encode");
        encoding += started.elapsed();
        assert!(
            !packet.is_empty() && packet.len() < 400,
            "{} bytes",
            packet.len()
        );
        let samples = decoder.decode(&packet).expect("decode");
        assert_eq!(samples.len(), FRAME_SAMPLES);
        sink.play(&samples);
    }
    (sink, encoding)
}

fn assert_tone_survives(frequency: f64) {
    let frames = 150; // three seconds
    let (sink, encoding) = through_opus(frequency, frames);
    assert_eq!(sink.frames(), frames);
    assert_eq!(sink.samples(), frames * FRAME_SAMPLES as u64);
    let heard = sink.dominant_frequency().expect("a tone was heard");
    assert!(
        (heard - frequency).abs() <= 2.0,
        "sent {frequency} Hz, heard {heard:.2} Hz"
    );
    // A 12 000 peak sine has an RMS of about 8 485; Opus keeps the level within a few dB.
    assert!(
        (5_000.0..11_000.0).contains(&sink.rms()),
        "rms {}",
        sink.rms()
    );
    eprintln!(
        "{frequency} Hz: heard {heard:.3} Hz; Opus encode {:.0} µs per 20 ms frame",
        encoding.as_secs_f64() * 1e6 / frames as f64
    );
}

#[test]
fn a_440_hz_tone_survives_opus() {
    assert_tone_survives(440.0);
}

#[test]
fn a_1000_hz_tone_survives_opus() {
    assert_tone_survives(1000.0);
}

#[test]
fn the_estimate_tells_close_tones_apart_and_silence_from_sound() {
    for frequency in [300.0, 301.5, 2_500.0] {
        let mut source = ToneSource::frames(frequency, 8_000, 50);
        let mut samples = Vec::new();
        while let Some(frame) = source.next_frame() {
            samples.extend_from_slice(&frame);
        }
        let heard = dominant_frequency(&samples).expect("a tone");
        assert!((heard - frequency).abs() < 0.2, "{frequency}: {heard}");
    }
    assert_eq!(dominant_frequency(&[0; 48_000]), None);
    assert_eq!(dominant_frequency(&[100; 10]), None, "too short to tell");
}

#[test]
fn a_tone_lasts_its_duration_in_whole_frames() {
    let mut tone = ToneSource::for_duration(440.0, 1000, Duration::from_millis(1010));
    let mut frames = 0;
    while tone.next_frame().is_some() {
        frames += 1;
    }
    assert_eq!(frames, 51, "1010 ms rounds up to 51 frames of 20 ms");
    let mut endless = ToneSource::endless(440.0, 1000);
    assert!((0..1000).all(|_| endless.next_frame().is_some()));
}

#[test]
fn wrong_lengths_and_settings_are_refused() {
    let mut encoder = VoiceEncoder::new(24_000).expect("encoder");
    for len in [0, 480, 959, 961, 1920] {
        match encoder.encode(&vec![0; len]) {
            Err(MediaError::Invalid(why)) => assert!(why.contains("960"), "{why}"),
            other => panic!("{len} samples: {other:?}"),
        }
    }
    assert!(encoder.encode(&[0; FRAME_SAMPLES]).is_ok());
    assert!(matches!(
        VoiceEncoder::new(1_000),
        Err(MediaError::Invalid(_))
    ));
    assert!(matches!(
        encoder.set_bitrate(600_000),
        Err(MediaError::Invalid(_))
    ));
    assert_eq!(
        encoder.bitrate(),
        24_000,
        "a refused bitrate changes nothing"
    );
    let mut decoder = VoiceDecoder::new().expect("decoder");
    assert!(matches!(decoder.decode(&[]), Err(MediaError::Invalid(_))));
}

#[test]
fn a_lost_packet_is_concealed_or_recovered() {
    let mut source = ToneSource::frames(440.0, 12_000, 60);
    let mut encoder = VoiceEncoder::new(DEFAULT_BITRATE).expect("encoder");
    let packets: Vec<Vec<u8>> = std::iter::from_fn(|| source.next_frame())
        .map(|frame| encoder.encode(&frame).expect("encode"))
        .collect();

    // Packet 30 is lost and nothing else arrives in time: concealment.
    let mut decoder = VoiceDecoder::new().expect("decoder");
    let mut sink = CountingSink::new();
    for (i, packet) in packets.iter().enumerate() {
        let samples = if i == 30 {
            let concealed = decoder.conceal().expect("conceal");
            let energy: f64 = concealed.iter().map(|&s| f64::from(s).powi(2)).sum();
            assert!(energy > 0.0, "concealment continues the tone, not silence");
            concealed
        } else {
            decoder.decode(packet).expect("decode")
        };
        assert_eq!(samples.len(), FRAME_SAMPLES, "packet {i}");
        sink.play(&samples);
    }
    assert_eq!(sink.frames(), 60);
    let heard = sink.dominant_frequency().expect("tone");
    assert!((heard - 440.0).abs() <= 2.0, "{heard}");

    // Packet 30 is lost but 31 arrives: rebuilt from 31's forward error correction.
    let mut decoder = VoiceDecoder::new().expect("decoder");
    for packet in &packets[..30] {
        decoder.decode(packet).expect("decode");
    }
    let recovered = decoder.recover(&packets[31]).expect("recover");
    assert_eq!(recovered.len(), FRAME_SAMPLES);
    assert_eq!(
        decoder.decode(&packets[31]).expect("decode").len(),
        FRAME_SAMPLES
    );
}

#[test]
fn wav_files_round_trip() {
    let path = scratch("round-trip.wav");
    let mut tone = ToneSource::frames(700.0, 9_000, 25);
    let mut sent = Vec::new();
    let mut sink = WavSink::create(&path).expect("create");
    while let Some(frame) = tone.next_frame() {
        sink.play(&frame);
        sent.extend_from_slice(&frame);
    }
    sink.play(&[7, 8, 9]); // a partial frame at the end
    sent.extend_from_slice(&[7, 8, 9]);
    assert_eq!(sink.samples(), 25 * 960 + 3);
    sink.finish().expect("finish");

    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(bytes.len(), 44 + 2 * sent.len());
    let mut source = WavSource::open(&path).expect("open");
    assert_eq!(source.channels(), 1);
    let mut read = Vec::new();
    while let Some(frame) = source.next_frame() {
        read.extend_from_slice(&frame);
    }
    assert!(source.take_error().is_none());
    assert_eq!(
        read.len(),
        26 * 960,
        "the partial frame is padded to a whole one"
    );
    assert_eq!(&read[..sent.len()], &sent[..]);
    assert!(read[sent.len()..].iter().all(|&s| s == 0));
    std::fs::remove_file(&path).expect("remove");
}

/// A WAV header for 16-bit PCM with these channels and rate, followed by `samples`.
fn wav_bytes(channels: u16, rate: u32, samples: &[i16]) -> Vec<u8> {
    let data = (samples.len() * 2) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + 12 + data).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
    b.extend_from_slice(&(2 * channels).to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    // An unrelated chunk before the samples, which the reader must skip.
    b.extend_from_slice(b"LIST");
    b.extend_from_slice(&4u32.to_le_bytes());
    b.extend_from_slice(b"INFO");
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    b
}

#[test]
fn stereo_wav_is_mixed_down_and_other_rates_are_refused() {
    let stereo: Vec<i16> = (0..960).flat_map(|i| [i as i16, 100]).collect();
    let file = wav_bytes(2, 48_000, &stereo);
    let mut source = WavSource::new(&file[..]).expect("stereo");
    assert_eq!(source.channels(), 2);
    let frame = source.next_frame().expect("one frame");
    assert_eq!(frame[0], 50);
    assert_eq!(frame[900], 500);
    assert!(source.next_frame().is_none());

    match WavSource::new(&wav_bytes(1, 44_100, &[0; 10])[..]) {
        Err(MediaError::Invalid(why)) => assert!(why.contains("44100"), "{why}"),
        other => panic!("44.1 kHz accepted: {other:?}"),
    }
    match WavSource::new(&wav_bytes(3, 48_000, &[0; 12])[..]) {
        Err(MediaError::Invalid(why)) => assert!(why.contains("3 channels"), "{why}"),
        other => panic!("3 channels accepted: {other:?}"),
    }
    assert!(matches!(
        WavSource::new(&b"not a wav file at all"[..]),
        Err(MediaError::Invalid(_))
    ));
}

#[test]
fn audio_devices_are_listed_without_panicking() {
    let devices = audio_devices();
    if !std::path::Path::new("/proc/asound/pcm").exists() {
        assert!(devices.is_empty(), "no sound card, no devices: {devices:?}");
    }
    for d in &devices {
        assert!(d.playback || d.capture, "{d:?}");
    }

    let cards = " 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n                      HDA Intel PCH at 0xf7f10000 irq 32\n 1 [Device         ]: USB-Audio - USB Audio Device\n                      C-Media USB Audio Device at usb-0000:00:14.0-1, full speed\n";
    let pcm = "01-00: USB Audio : USB Audio : playback 1 : capture 1\n00-03: HDMI 0 : HDMI 0 : playback 1\n00-00: ALC3232 Analog : ALC3232 Analog : playback 1 : capture 1\n";
    let devices = parse_devices(cards, pcm);
    assert_eq!(devices.len(), 3);
    assert_eq!((devices[0].card, devices[0].device), (0, 0));
    assert_eq!(devices[0].name, "ALC3232 Analog");
    assert_eq!(devices[0].card_name, "HDA Intel PCH");
    assert_eq!(devices[0].alsa_name(), "plughw:CARD=PCH,DEV=0");
    assert!(devices[0].capture && devices[0].playback);
    assert_eq!(devices[1].name, "HDMI 0");
    assert!(devices[1].playback && !devices[1].capture);
    assert_eq!(devices[2].alsa_name(), "plughw:CARD=Device,DEV=0");
    assert!(parse_devices("", "").is_empty());
    assert!(parse_devices("--- no soundcards ---\n", "").is_empty());
}
