//! This machine's system information (OS, kernel, host, CPU, memory, disks, displays, network,
//! uptime), read with `sysinfo` and the X display's monitors only when a consented request asks
//! for it.

use sysinfo::{Disks, Networks, System};
use tether_protocol::{DiskInfo, DisplayInfo, InterfaceInfo, SystemInfo};

/// The monitors of the X display (`x_display`, else `DISPLAY`); none without one.
fn displays(x_display: Option<&str>) -> Vec<DisplayInfo> {
    let monitors = match x_display {
        Some(name) => tether_media::capture::displays_on(name),
        None => tether_media::capture::displays(),
    };
    monitors
        .unwrap_or_default()
        .into_iter()
        .map(|m| DisplayInfo {
            name: if m.name.is_empty() {
                format!("monitor {}", m.index)
            } else {
                m.name
            },
            width: m.width,
            height: m.height,
        })
        .collect()
}

/// Read the system information now. Blocking (it reads /proc and the like): call it from a
/// blocking thread.
pub fn gather(x_display: Option<&str>) -> SystemInfo {
    let system = System::new_all().ok();
    let (cpu_model, cpu_cores, memory_total_bytes, memory_used_bytes) = match &system {
        Some(s) => (
            s.cpus()
                .first()
                .map(|c| c.brand().trim().to_owned())
                .unwrap_or_default(),
            s.cpus().len() as u32,
            s.total_memory(),
            s.used_memory(),
        ),
        None => (String::new(), 0, 0, 0),
    };
    let os = [System::name().ok(), System::long_os_version().ok()]
        .into_iter()
        .flatten()
        .next_back()
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    let disks = Disks::new_with_refreshed_list()
        .map(|d| {
            d.iter()
                .map(|d| DiskInfo {
                    name: d.name().to_string_lossy().into_owned(),
                    mount_point: d.mount_point().display().to_string(),
                    total_bytes: d.total_space(),
                    available_bytes: d.available_space(),
                })
                .collect()
        })
        .unwrap_or_default();
    let network = Networks::new_with_refreshed_list()
        .map(|n| {
            let mut list: Vec<InterfaceInfo> = n
                .iter()
                .map(|(name, data)| InterfaceInfo {
                    name: name.to_string_lossy().into_owned(),
                    mac: data.mac_address().to_string(),
                    addresses: data
                        .ip_networks()
                        .iter()
                        .map(|ip| format!("{}/{}", ip.addr, ip.prefix))
                        .collect(),
                })
                .collect();
            list.sort_by(|a, b| a.name.cmp(&b.name));
            list
        })
        .unwrap_or_default();
    SystemInfo {
        os,
        kernel: System::kernel_version().unwrap_or_default(),
        hostname: System::host_name().unwrap_or_default(),
        cpu_model,
        cpu_cores,
        memory_total_bytes,
        memory_used_bytes,
        disks,
        displays: displays(x_display),
        network,
        uptime_secs: System::uptime().unwrap_or_default(),
    }
}
