//! `tether-helper`: the customer's program; a thin shim over `tether_engine::helper`.

use clap::Parser;

fn main() {
    let args = tether_engine::helper::Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tether-helper: can't start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(tether_engine::helper::run(args)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("tether-helper: {e}");
            1
        }
    };
    // Exit now: a runtime shutdown would wait for the blocking read of the terminal.
    std::process::exit(code);
}
