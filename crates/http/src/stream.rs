//! [`Streams`]: the event streams of fans watching their tokens, fanned
//! out in process.
//!
//! Each open stream registers its ticket here. Every `refresh` one task
//! asks the waiting room about all the watched tokens of a concert in one
//! call (`App::watch_tokens`), whatever the number of streams, and hands
//! each stream its token's view; a stream sends an event only when what
//! its fan sees changed. The waiting room is the shared truth, so a stream
//! on any instance sees admissions and room changes made by any other.

use boxoffice_core::domain::ConcertId;
use boxoffice_core::domain::access::Ticket;
use boxoffice_core::use_cases::{App, TokenView};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The open streams of one instance.
#[derive(Debug)]
pub struct Streams {
    app: App,
    refresh: Duration,
    watchers: Mutex<HashMap<ConcertId, Vec<Watcher>>>,
    next_id: AtomicU64,
    /// Waiting-room calls made to refresh streams, since start.
    refresh_calls: AtomicU64,
}

#[derive(Debug)]
struct Watcher {
    id: u64,
    ticket: Ticket,
    views: watch::Sender<Option<TokenView>>,
}

/// Unregisters its stream when the stream is dropped (the fan went away).
#[derive(Debug)]
pub struct Watching {
    streams: Arc<Streams>,
    concert: ConcertId,
    id: u64,
}

impl Drop for Watching {
    fn drop(&mut self) {
        let mut watchers = self.streams.lock();
        if let Some(list) = watchers.get_mut(&self.concert) {
            list.retain(|w| w.id != self.id);
            if list.is_empty() {
                watchers.remove(&self.concert);
            }
        }
    }
}

impl Streams {
    pub fn new(app: App, refresh: Duration) -> Arc<Self> {
        Arc::new(Self {
            app,
            refresh,
            watchers: Mutex::default(),
            next_id: AtomicU64::new(1),
            refresh_calls: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConcertId, Vec<Watcher>>> {
        self.watchers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a stream for `ticket`, starting from `first`.
    pub fn watch(
        self: &Arc<Self>,
        ticket: Ticket,
        first: TokenView,
    ) -> (Watching, watch::Receiver<Option<TokenView>>) {
        let (views, receiver) = watch::channel(Some(first));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .entry(ticket.concert)
            .or_default()
            .push(Watcher { id, ticket, views });
        (
            Watching {
                streams: self.clone(),
                concert: ticket.concert,
                id,
            },
            receiver,
        )
    }

    /// How many streams are open.
    pub fn open(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    /// Waiting-room calls made for streams since start.
    pub fn refresh_calls(&self) -> u64 {
        self.refresh_calls.load(Ordering::Relaxed)
    }

    /// One refresh: per concert with open streams, one call for all of
    /// them, then each stream gets its view (a changed view wakes it).
    pub async fn refresh_once(&self) {
        let concerts: Vec<(ConcertId, Vec<(u64, Ticket)>)> = self
            .lock()
            .iter()
            .map(|(c, list)| (*c, list.iter().map(|w| (w.id, w.ticket)).collect()))
            .collect();
        for (concert, watched) in concerts {
            let tickets: Vec<Ticket> = watched.iter().map(|(_, t)| *t).collect();
            self.refresh_calls.fetch_add(1, Ordering::Relaxed);
            let views = match self.app.watch_tokens(concert, &tickets).await {
                Ok(views) => views,
                Err(err) => {
                    // The streams stay open and are refreshed on the next turn.
                    tracing::warn!(concert = %concert, error = format!("{err:#}"), "token streams not refreshed");
                    continue;
                }
            };
            let by_id: HashMap<u64, Option<TokenView>> =
                watched.iter().map(|(id, _)| *id).zip(views).collect();
            let watchers = self.lock();
            for watcher in watchers.get(&concert).into_iter().flatten() {
                if let Some(view) = by_id.get(&watcher.id) {
                    watcher.views.send_if_modified(|current| {
                        let changed = current != view;
                        if changed {
                            current.clone_from(view);
                        }
                        changed
                    });
                }
            }
        }
    }

    /// Refreshes every `refresh` until the process stops.
    pub async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.refresh);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.refresh_once().await;
        }
    }
}
