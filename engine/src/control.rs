//! Remote control on the customer's endpoint: input events from a CSR are injected into the
//! shared monitor or window only while this machine's own user allows control, only from the
//! CSR running the control activity aimed at us, and never after a revoke (rule 12, enforced
//! here, whatever the service or the CSR says).

use crate::session::EngineConfig;
use tether_media::inject::{Injector, Target};
use tether_media::{MediaError, capture};
use tether_protocol::{Activity, Capability, InputEvent, ParticipantId, Roster};

/// Why an input event from a peer is not injected, in words for the customer's program.
pub(crate) fn refusal(
    me: ParticipantId,
    from: ParticipantId,
    roster: &Roster,
    consent_given: bool,
) -> Option<&'static str> {
    if !consent_given {
        return Some("the customer has not allowed remote control");
    }
    let controlling = roster.activities.iter().any(|a| {
        matches!(
            a.activity,
            Activity::ControlDesktop | Activity::ControlApplication
        ) && a.actor == from
            && a.target.is_none_or(|t| t == me)
    });
    if !controlling {
        return Some("remote control is not running for this support representative");
    }
    None
}

/// What control would inject into, given the running activities: the chosen monitor for
/// desktop control, the chosen window for application control.
fn target_for(application: bool, config: &EngineConfig) -> Result<Target, MediaError> {
    if application {
        let choice = config.application.as_ref().ok_or_else(|| {
            MediaError::Unavailable("the customer has not chosen an application to share".into())
        })?;
        return Ok(Target::Window(capture::find_window(choice)?.id));
    }
    let displays = match &config.x_display {
        Some(name) => capture::displays_on(name)?,
        None => capture::displays()?,
    };
    let monitor = displays.get(config.monitor).ok_or_else(|| {
        MediaError::Unavailable(format!(
            "monitor {} (this display has {})",
            config.monitor,
            displays.len()
        ))
    })?;
    let r = monitor.rect();
    Ok(Target::Area {
        x: r.x,
        y: r.y,
        width: r.width,
        height: r.height,
    })
}

/// The injector while control is live; dropped (releasing every held key and button) the
/// moment it is not.
#[derive(Debug, Default)]
pub(crate) struct Control {
    /// The injector and whether it targets the application window (else the monitor).
    injector: Option<(bool, Injector)>,
    /// The last refusal told to the local program, so a stream of refused events is told once.
    last_refusal: Option<&'static str>,
}

/// The outcome of one event, for the session to report.
pub(crate) enum Injected {
    Done,
    /// Refused by the rules above; `Some` the first time in a row.
    Refused(Option<&'static str>),
    Failed(String),
}

impl Control {
    /// Inject `event` from `from` if the rules allow it. Each injection is a few XTest requests
    /// (tens of microseconds), so it runs inline.
    pub(crate) fn handle(
        &mut self,
        me: ParticipantId,
        from: ParticipantId,
        roster: &Roster,
        consents: &std::collections::HashSet<Capability>,
        config: &EngineConfig,
        event: &InputEvent,
    ) -> Injected {
        let consent = consents.contains(&Capability::RemoteControl);
        if let Some(reason) = refusal(me, from, roster, consent) {
            self.stop();
            let first = self.last_refusal != Some(reason);
            self.last_refusal = Some(reason);
            return Injected::Refused(first.then_some(reason));
        }
        self.last_refusal = None;
        let application = roster
            .activities
            .iter()
            .any(|a| a.activity == Activity::ControlApplication);
        // Opened once per control activity (the monitor or window is looked up then; a
        // window's place is re-read by the injector before each pointer event).
        if self
            .injector
            .as_ref()
            .is_none_or(|(a, _)| *a != application)
        {
            self.stop();
            let opened = target_for(application, config)
                .and_then(|target| Injector::open(config.x_display.as_deref(), target));
            match opened {
                Ok(injector) => self.injector = Some((application, injector)),
                Err(e) => return Injected::Failed(e.to_string()),
            }
        }
        let Some((_, injector)) = self.injector.as_mut() else {
            return Injected::Failed("no injector".into());
        };
        match injector.inject(event) {
            Ok(()) => Injected::Done,
            Err(e) => Injected::Failed(e.to_string()),
        }
    }

    /// Control is over (revoked, stopped, or the session ended): let go of every key and
    /// button held, and close the connection to the X server.
    pub(crate) fn stop(&mut self) {
        if let Some((_, mut injector)) = self.injector.take() {
            let _ = injector.release_all();
        }
    }

    /// The roster changed: stop at once if control no longer runs for anyone.
    pub(crate) fn roster_changed(&mut self, roster: &Roster) {
        let running = roster.activities.iter().any(|a| {
            matches!(
                a.activity,
                Activity::ControlDesktop | Activity::ControlApplication
            )
        });
        if !running {
            self.stop();
        }
    }
}
