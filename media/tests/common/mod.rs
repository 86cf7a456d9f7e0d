//! A private X server for the media tests: Xvfb on a display number it picks itself, stopped
//! when the test process exits (its shell wrapper kills it once our end of its stdin closes).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug)]
pub struct Xvfb {
    /// The display name, such as `:101`.
    pub name: String,
    _wrapper: Child,
}

impl Xvfb {
    /// Start Xvfb with these screen arguments (e.g. `["-screen", "0", "1280x720x24"]`).
    pub fn start(screens: &[&str]) -> Xvfb {
        let mut wrapper = Command::new("sh")
            .arg("-c")
            .arg(r#"Xvfb -displayfd 3 -nolisten tcp -noreset +extension XTEST +extension RANDR "$@" 3>&1 1>/dev/null 2>/dev/null & x=$!; read _; kill $x"#)
            .arg("xvfb")
            .args(screens)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is installed (scripts/test.sh installs it)");
        let mut line = String::new();
        BufReader::new(wrapper.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("display number");
        let number: u32 = line.trim().parse().unwrap_or_else(|_| {
            panic!("Xvfb did not start (it printed {line:?} for its display number)")
        });
        Xvfb {
            name: format!(":{number}"),
            _wrapper: wrapper,
        }
    }
}

/// The X display the test command started (`DISPLAY`, which libraries such as scrap read), and
/// a lock that each test drawing on it or injecting into it holds meanwhile.
pub fn shared() -> (String, MutexGuard<'static, ()>) {
    static TURN: Mutex<()> = Mutex::new(());
    let name = std::env::var("DISPLAY").unwrap_or_else(|_| {
        panic!("no DISPLAY: run the tests with ./scripts/test.sh, which starts Xvfb, or set DISPLAY to an X server of your own")
    });
    (name, TURN.lock().unwrap_or_else(|p| p.into_inner()))
}
