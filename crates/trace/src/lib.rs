//! The trace context of a request: its W3C `traceparent` and its
//! `x-request-id`. The HTTP layer runs each request inside [`scope`]; the
//! store stamps every outbox event written inside it with [`current`]; the
//! relay sends both as Kafka headers and the data-platform consumer as HTTP
//! headers, so that one sale can be followed from the access line to the
//! platform.
//!
//! The `traceparent` boxoffice passes on names the caller's span (or, when
//! the caller sent none, a span id made up for the request). Built with
//! the `otlp` feature and given an endpoint, the server also records its
//! request spans as children of that span, and then passes on its own
//! request span instead, so that what happens downstream hangs under it
//! (decision 0022).

use std::fmt;
use std::future::Future;

tokio::task_local! {
    static CURRENT: Context;
}

/// What a request carries along.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub traceparent: TraceParent,
    pub request_id: String,
}

/// A W3C Trace Context `traceparent` (version 00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` header. Versions above 00 are read by their
    /// first four fields, as the specification asks; all-zero ids, version
    /// `ff`, upper-case hex and wrong lengths are refused.
    pub fn parse(header: &str) -> Option<Self> {
        let mut fields = header.trim().split('-');
        let version = fields.next()?;
        let trace_id = fields.next()?;
        let parent_id = fields.next()?;
        let flags = fields.next()?;
        let extra = fields.next();
        if version.len() != 2 || version == "ff" || (version == "00" && extra.is_some()) {
            return None;
        }
        hex::<1>(version)?;
        let trace_id = hex::<16>(trace_id)?;
        let parent_id = hex::<8>(parent_id)?;
        let [flags] = hex::<1>(flags)?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// A new trace, sampled, for a request that came without one.
    pub fn fresh() -> Self {
        let mut trace_id = [0u8; 16];
        let mut parent_id = [0u8; 8];
        // An id that cannot be drawn still makes a valid, if unlikely, one.
        if getrandom::fill(&mut trace_id).is_err() || trace_id == [0; 16] {
            trace_id[15] = 1;
        }
        if getrandom::fill(&mut parent_id).is_err() || parent_id == [0; 8] {
            parent_id[7] = 1;
        }
        Self {
            trace_id,
            parent_id,
            flags: 1,
        }
    }

    /// The 32 lower-case hex digits that name the trace.
    pub fn trace_id(&self) -> String {
        to_hex(&self.trace_id)
    }

    /// The trace id as bytes.
    pub fn trace_id_bytes(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The caller's span (or the made-up one) as bytes.
    pub fn parent_id_bytes(&self) -> [u8; 8] {
        self.parent_id
    }

    /// Whether the caller asked for the trace to be recorded.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The same trace and flags with `span_id` as the parent: what to pass
    /// on once boxoffice has a span of its own in the trace. An all-zero id
    /// is not a span, and leaves the parent as it was.
    pub fn with_parent(self, span_id: [u8; 8]) -> Self {
        if span_id == [0; 8] {
            return self;
        }
        Self {
            parent_id: span_id,
            ..self
        }
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            to_hex(&self.trace_id),
            to_hex(&self.parent_id),
            self.flags
        )
    }
}

fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `work` with `context` as the current one.
pub async fn scope<F: Future>(context: Context, work: F) -> F::Output {
    CURRENT.scope(context, work).await
}

/// The context of the request this task serves, if any.
pub fn current() -> Option<Context> {
    CURRENT.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_is_read_and_written_back_the_same() {
        let parsed = TraceParent::parse(EXAMPLE).expect("valid");
        assert_eq!(parsed.to_string(), EXAMPLE);
        assert_eq!(parsed.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad:?}");
        }
        // A later version may add fields; its first four are read.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what";
        assert!(TraceParent::parse(later).is_some());
    }

    #[test]
    fn fresh_traces_are_valid_sampled_and_different() {
        let a = TraceParent::fresh();
        let b = TraceParent::fresh();
        assert_ne!(a.trace_id(), b.trace_id());
        assert_eq!(TraceParent::parse(&a.to_string()), Some(a));
        assert!(a.to_string().ends_with("-01"));
    }

    #[test]
    fn a_new_parent_keeps_the_trace_and_its_flags() {
        let caller = TraceParent::parse(EXAMPLE).expect("valid");
        let ours = caller.with_parent([1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            ours.to_string(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0102030405060708-01"
        );
        assert_eq!(caller.with_parent([0; 8]), caller);
    }

    #[tokio::test]
    async fn the_context_is_current_inside_its_scope_only() {
        assert_eq!(current(), None);
        let context = Context {
            traceparent: TraceParent::fresh(),
            request_id: "r-1".into(),
        };
        let seen = scope(context.clone(), async { current() }).await;
        assert_eq!(seen, Some(context));
        assert_eq!(current(), None);
    }
}
