//! Support activities that clients report starting and stopping, and the consent capabilities.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Something a participant does in a session that the rules constrain. Clients report each start
/// and stop to the service so that rules 4–7 and 11 are enforced for everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// A CSR views the primary customer's desktop (needs `remote_view` consent).
    ViewDesktop,
    /// The controller controls the primary customer's desktop (needs `remote_control` consent).
    ControlDesktop,
    /// A CSR views one application of the primary customer (needs `remote_view` consent).
    ViewApplication,
    /// The controller controls one application of the primary customer (needs `remote_control`).
    ControlApplication,
    /// A CSR shares its own desktop with the customers.
    ShareDesktop,
    /// A CSR shares one of its own applications with the customers.
    ShareApplication,
    /// The primary customer shares its screen on its own initiative (e.g. a browser's picker).
    CustomerShare,
    /// The controller transfers files (basic mode: publish; customers download).
    FileTransferBasic,
    /// The controller sends files to or fetches files from the primary customer's computer.
    FileTransferAdvanced,
    /// The controller records the session (needs `recording` consent of the primary customer).
    Recording,
    /// A participant sends camera video.
    Video,
}

impl Activity {
    pub const ALL: [Activity; 11] = [
        Self::ViewDesktop,
        Self::ControlDesktop,
        Self::ViewApplication,
        Self::ControlApplication,
        Self::ShareDesktop,
        Self::ShareApplication,
        Self::CustomerShare,
        Self::FileTransferBasic,
        Self::FileTransferAdvanced,
        Self::Recording,
        Self::Video,
    ];

    /// Activities aimed at the primary customer's machine.
    pub fn targets_customer(self) -> bool {
        matches!(
            self,
            Self::ViewDesktop
                | Self::ControlDesktop
                | Self::ViewApplication
                | Self::ControlApplication
                | Self::FileTransferAdvanced
                | Self::Recording
        )
    }

    /// The consent the target customer must have given, if any.
    pub fn required_consent(self) -> Option<Capability> {
        match self {
            Self::ViewDesktop | Self::ViewApplication => Some(Capability::RemoteView),
            Self::ControlDesktop | Self::ControlApplication => Some(Capability::RemoteControl),
            Self::FileTransferAdvanced => Some(Capability::FileTransfer),
            Self::Recording => Some(Capability::Recording),
            _ => None,
        }
    }

    /// Support activities stop when their CSR hands control away (rule 7).
    pub fn is_support(self) -> bool {
        self.targets_customer()
            || matches!(
                self,
                Self::FileTransferBasic | Self::ShareDesktop | Self::ShareApplication
            )
    }

    /// Only the controller may start these; other CSRs may view and share.
    pub fn controller_only(self) -> bool {
        matches!(
            self,
            Self::ControlDesktop
                | Self::ControlApplication
                | Self::FileTransferBasic
                | Self::FileTransferAdvanced
                | Self::Recording
        )
    }

    /// Viewing or controlling a customer application blocks file transfer (rule 11).
    pub fn is_application_sharing(self) -> bool {
        matches!(self, Self::ViewApplication | Self::ControlApplication)
    }

    pub fn is_file_transfer(self) -> bool {
        matches!(self, Self::FileTransferBasic | Self::FileTransferAdvanced)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ViewDesktop => "view_desktop",
            Self::ControlDesktop => "control_desktop",
            Self::ViewApplication => "view_application",
            Self::ControlApplication => "control_application",
            Self::ShareDesktop => "share_desktop",
            Self::ShareApplication => "share_application",
            Self::CustomerShare => "customer_share",
            Self::FileTransferBasic => "file_transfer_basic",
            Self::FileTransferAdvanced => "file_transfer_advanced",
            Self::Recording => "recording",
            Self::Video => "video",
        }
    }
}

impl fmt::Display for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a customer consents to (rule 12). Asked at the moment, revocable at any time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    RemoteView,
    RemoteControl,
    FileTransfer,
    SystemInfo,
    Recording,
}

impl Capability {
    pub const ALL: [Capability; 5] = [
        Self::RemoteView,
        Self::RemoteControl,
        Self::FileTransfer,
        Self::SystemInfo,
        Self::Recording,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RemoteView => "remote_view",
            Self::RemoteControl => "remote_control",
            Self::FileTransfer => "file_transfer",
            Self::SystemInfo => "system_info",
            Self::Recording => "recording",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a consent stands for one customer and one capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    Pending,
    Granted,
    Denied,
    Revoked,
}
