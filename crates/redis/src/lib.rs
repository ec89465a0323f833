//! boxoffice-redis: the Redis adapters, used when several instances share
//! one Redis: the waiting room, locks and the popular-concert ranking.
//!
//! Every multi-step operation is one Lua script, so it is atomic on the
//! server; a lock is released and extended by compare-and-act scripts, never
//! by GET then DEL. A Redis that cannot be reached, or answers too late,
//! makes calls fail fast with `Unavailable` (the API answers 503); the
//! connection manager reconnects by itself when Redis returns.
//!
//! Layout:
//! - [`cache`]: [`RedisCache`] (cache-aside entries with `PX` expiry).
//! - [`connection`]: [`RedisSettings`], connecting, error classification.
//! - [`waiting_room`]: [`RedisWaitingRoom`] (sorted sets per concert).
//! - [`lock`]: [`RedisLock`] (`SET NX PX`, compare-and-delete).
//! - [`single_use`]: [`RedisSingleUse`] (`SET NX PX`).
//! - [`ranking`]: [`RedisRanking`] (`ZINCRBY` once per event id).

pub mod cache;
pub mod connection;
pub mod lock;
pub mod ranking;
pub mod single_use;
pub mod waiting_room;

pub use cache::RedisCache;
pub use connection::{Probe, Redis, RedisSettings, RedisTls};
pub use lock::RedisLock;
pub use ranking::RedisRanking;
pub use single_use::RedisSingleUse;
pub use waiting_room::RedisWaitingRoom;

#[cfg(test)]
mod contract {
    use crate::{
        Redis, RedisCache, RedisLock, RedisRanking, RedisSettings, RedisSingleUse, RedisWaitingRoom,
    };
    use std::sync::Arc;
    use std::time::Duration;

    /// A connection to the test Redis (`BOXOFFICE_TEST_REDIS_URL`, default
    /// the local one `scripts/services` starts) under a prefix of its own.
    fn fresh_redis() -> Redis {
        redis_with_timeout(Duration::from_secs(2))
    }

    /// A connection to the test Redis Cluster
    /// (`BOXOFFICE_TEST_REDIS_CLUSTER_URL`, default the three local nodes
    /// `scripts/services` starts) under a prefix of its own.
    fn fresh_cluster() -> Redis {
        let url = std::env::var("BOXOFFICE_TEST_REDIS_CLUSTER_URL").unwrap_or_else(|_| {
            "redis://127.0.0.1:7101,redis://127.0.0.1:7102,redis://127.0.0.1:7103".to_owned()
        });
        connect(url, true, Duration::from_secs(2))
    }

    fn redis_with_timeout(command_timeout: Duration) -> Redis {
        let url = std::env::var("BOXOFFICE_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned());
        connect(url, false, command_timeout)
    }

    fn connect(url: String, cluster: bool, command_timeout: Duration) -> Redis {
        let settings = RedisSettings {
            url,
            cluster,
            sentinel_service: String::new(),
            key_prefix: format!("test:{}:", uuid::Uuid::new_v4().simple()),
            command_timeout,
            connect_timeout: Duration::from_secs(2),
            tls: None,
        };
        Redis::connect(&settings).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Keeps the Redis server busy for `millis` (a script that spins on
    /// `TIME`): every other client's commands wait, as under overload.
    fn stall(millis: u64) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let redis = redis_with_timeout(Duration::from_secs(10));
            let mut conn = redis.conn.clone();
            redis::Script::new(
                "local t = redis.call('TIME')
                 local start = t[1] * 1000000 + t[2]
                 while true do
                   local n = redis.call('TIME')
                   if n[1] * 1000000 + n[2] - start > tonumber(ARGV[1]) * 1000 then return 1 end
                 end",
            )
            .arg(millis)
            .invoke_async::<i64>(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        })
    }

    mod timeouts {
        use super::*;
        use boxoffice_core::domain::queue_token::{Lane, QueuePolicy};
        use boxoffice_core::domain::{Timestamp, TokenId};
        use boxoffice_core::ports::{WaitingRoom, is_unavailable};
        use boxoffice_core::testing::{concert_id, user};

        const T0: Timestamp = Timestamp::from_millis(1_893_456_000_000);

        async fn enter(room: &RedisWaitingRoom, who: i64) -> anyhow::Result<()> {
            let policy = QueuePolicy::default();
            let token = TokenId::from_bytes(*uuid::Uuid::new_v4().as_bytes());
            room.enter(concert_id(1), user(who), token, T0, &policy, Lane::Line)
                .await
                .map(drop)
        }

        /// One test, so that the two stalls do not overlap.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn an_entry_that_times_out_is_tried_once_more_then_unavailable() {
            let room = RedisWaitingRoom::new(redis_with_timeout(Duration::from_millis(400)));
            // Connected, and the script loaded, before Redis stalls.
            enter(&room, 1).await.unwrap_or_else(|e| panic!("{e:#}"));

            // Busy past one timeout, not two: the second attempt answers.
            let stalled = stall(600);
            tokio::time::sleep(Duration::from_millis(50)).await;
            enter(&room, 2).await.unwrap_or_else(|e| panic!("{e:#}"));
            stalled.await.unwrap_or_else(|e| panic!("{e}"));

            // Busy past both: unavailable (the API answers 503).
            let stalled = stall(1_000);
            tokio::time::sleep(Duration::from_millis(50)).await;
            let err = enter(&room, 3).await.err();
            assert!(err.as_ref().is_some_and(is_unavailable), "{err:?}");
            stalled.await.unwrap_or_else(|e| panic!("{e}"));
        }
    }

    mod waiting_room {
        use super::*;
        boxoffice_core::waiting_room_contract_tests!(Arc::new(
            RedisWaitingRoom::new(fresh_redis())
        ));
    }

    mod cache {
        use super::*;
        boxoffice_core::cache_contract_tests!(Arc::new(RedisCache::new(fresh_redis())));
    }

    mod lock {
        use super::*;
        boxoffice_core::lock_contract_tests!(Arc::new(RedisLock::new(fresh_redis())));
    }

    mod single_use {
        use super::*;
        boxoffice_core::single_use_contract_tests!(Arc::new(RedisSingleUse::new(fresh_redis())));
    }

    mod ranking {
        use super::*;
        boxoffice_core::ranking_contract_tests!(Arc::new(RedisRanking::new(fresh_redis())));
    }

    /// A primary, its replica and a Sentinel watching them, each a
    /// `redis-server` of its own on a free port, stopped when dropped.
    mod on_sentinel {
        use super::*;
        use boxoffice_core::domain::queue_token::{Lane, QueuePolicy, TokenState};
        use boxoffice_core::domain::{Timestamp, TokenId};
        use boxoffice_core::ports::{WaitingRoom, is_unavailable};
        use boxoffice_core::testing::{concert_id, user};
        use std::process::{Child, Command, Stdio};
        use std::time::Instant;

        const SERVICE: &str = "boxoffice-test";
        const T0: Timestamp = Timestamp::from_millis(1_893_456_000_000);

        struct Group {
            children: Vec<Child>,
            primary: u16,
            replica: u16,
            sentinel: u16,
            _dir: tempfile::TempDir,
        }

        impl Drop for Group {
            fn drop(&mut self) {
                for child in &mut self.children {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }

        fn free_port() -> u16 {
            let listener =
                std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
            listener
                .local_addr()
                .unwrap_or_else(|e| panic!("{e}"))
                .port()
        }

        fn cli(port: u16, args: &[&str]) -> String {
            let out = Command::new("redis-cli")
                .args(["-p", &port.to_string()])
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("redis-cli: {e}"));
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }

        fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
            let began = Instant::now();
            while !done() {
                assert!(began.elapsed() < within, "{what}: not within {within:?}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }

        impl Group {
            fn start() -> Self {
                let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
                let (primary, replica, sentinel) = (free_port(), free_port(), free_port());
                let node = |port: u16, extra: &[&str]| {
                    // Replication writes a snapshot, into the group's own folder.
                    Command::new("redis-server")
                        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                        .args(["--dir", &dir.path().display().to_string()])
                        .args(["--save", "", "--appendonly", "no"])
                        .args(extra)
                        .stdout(Stdio::null())
                        .spawn()
                        .unwrap_or_else(|e| panic!("redis-server: {e}"))
                };
                let mut children = vec![node(primary, &[])];
                let primary_port = primary.to_string();
                children.push(node(replica, &["--replicaof", "127.0.0.1", &primary_port]));
                let conf = dir.path().join("sentinel.conf");
                std::fs::write(
                    &conf,
                    format!(
                        "port {sentinel}\nbind 127.0.0.1\n\
                         sentinel monitor {SERVICE} 127.0.0.1 {primary} 1\n\
                         sentinel down-after-milliseconds {SERVICE} 1000\n\
                         sentinel failover-timeout {SERVICE} 5000\n"
                    ),
                )
                .unwrap_or_else(|e| panic!("{e}"));
                children.push(
                    Command::new("redis-server")
                        .arg(&conf)
                        .arg("--sentinel")
                        .stdout(Stdio::null())
                        .spawn()
                        .unwrap_or_else(|e| panic!("redis-server --sentinel: {e}")),
                );
                let group = Self {
                    children,
                    primary,
                    replica,
                    sentinel,
                    _dir: dir,
                };
                wait_until("the replica in sync", Duration::from_secs(20), || {
                    cli(replica, &["info", "replication"]).contains("master_link_status:up")
                });
                wait_until(
                    "the Sentinel sees the replica",
                    Duration::from_secs(20),
                    || {
                        cli(sentinel, &["sentinel", "replicas", SERVICE])
                            .contains(&replica.to_string())
                    },
                );
                group
            }

            fn primary_port(&self) -> String {
                cli(
                    self.sentinel,
                    &["sentinel", "get-master-addr-by-name", SERVICE],
                )
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn after_a_failover_the_room_follows_the_new_primary_and_keeps_the_line() {
            let group = Group::start();
            let redis = Redis::connect(&RedisSettings {
                url: format!("redis://127.0.0.1:{}/0", group.sentinel),
                cluster: false,
                sentinel_service: SERVICE.to_owned(),
                key_prefix: "test:".to_owned(),
                command_timeout: Duration::from_millis(500),
                connect_timeout: Duration::from_millis(500),
                tls: None,
            })
            .unwrap_or_else(|e| panic!("{e:#}"));
            let room = RedisWaitingRoom::new(redis);
            let policy = QueuePolicy::default();
            let enter = |who: i64| {
                let token = TokenId::from_bytes(*uuid::Uuid::new_v4().as_bytes());
                room.enter(concert_id(1), user(who), token, T0, &policy, Lane::Line)
            };
            let first = enter(1).await.unwrap_or_else(|e| panic!("{e:#}"));
            // The replica has the line before the primary goes.
            assert_eq!(cli(group.primary, &["wait", "1", "2000"]), "1");
            assert!(group.primary_port().ends_with(&group.primary.to_string()));

            // A replica the Sentinel has only just met may not be eligible
            // yet (NOGOODSLAVE): ask until it is.
            wait_until("the failover started", Duration::from_secs(30), || {
                cli(group.sentinel, &["sentinel", "failover", SERVICE]) == "OK"
            });
            wait_until("the replica promoted", Duration::from_secs(20), || {
                group.primary_port().ends_with(&group.replica.to_string())
            });
            // Once the old primary is a replica, a write to it is refused
            // (READONLY), which sends the room back to the Sentinel.
            wait_until("the old primary demoted", Duration::from_secs(20), || {
                cli(group.primary, &["role"]).starts_with("slave")
            });
            // Calls answer 503 or succeed while the room looks for the new
            // primary; then they reach it, with the line as it was.
            let began = Instant::now();
            let second = loop {
                match enter(2).await {
                    Ok(token) => break token,
                    Err(err) => assert!(is_unavailable(&err), "not a 503: {err:#}"),
                }
                assert!(
                    began.elapsed() < Duration::from_secs(20),
                    "no write after the failover"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            eprintln!("writes resumed {:?} after the demotion", began.elapsed());
            assert_eq!(second.state.status_name(), "WAITING");
            assert!(matches!(
                second.state,
                TokenState::Waiting {
                    position: Some(2),
                    ..
                }
            ));
            let again = room
                .poll(concert_id(1), first.token, T0, &policy)
                .await
                .unwrap_or_else(|e| panic!("{e:#}"));
            assert!(matches!(
                again.map(|t| t.state),
                Some(TokenState::Waiting {
                    position: Some(1),
                    ..
                })
            ));
            // The write after the failover is on the new primary.
            let key = format!("test:{{c:1}}:t:{}", second.token);
            assert_eq!(cli(group.replica, &["hget", &key, "state"]), "W");
        }
    }

    /// The same contracts on a three-node Redis Cluster, where a script
    /// may touch one slot only.
    mod on_a_cluster {
        use super::*;

        mod waiting_room {
            use super::*;
            boxoffice_core::waiting_room_contract_tests!(Arc::new(RedisWaitingRoom::new(
                fresh_cluster()
            )));
        }

        mod cache {
            use super::*;
            boxoffice_core::cache_contract_tests!(Arc::new(RedisCache::new(fresh_cluster())));
        }

        mod lock {
            use super::*;
            boxoffice_core::lock_contract_tests!(Arc::new(RedisLock::new(fresh_cluster())));
        }

        mod single_use {
            use super::*;
            boxoffice_core::single_use_contract_tests!(Arc::new(RedisSingleUse::new(
                fresh_cluster()
            )));
        }

        mod ranking {
            use super::*;
            boxoffice_core::ranking_contract_tests!(Arc::new(RedisRanking::new(fresh_cluster())));
        }

        /// The concerts of one test land on different nodes, so the test
        /// above really spans shards.
        #[tokio::test]
        async fn concerts_spread_over_the_nodes() {
            let redis = fresh_cluster();
            let room = RedisWaitingRoom::new(redis.clone());
            let mut conn = redis.conn.clone();
            let mut slots = std::collections::BTreeSet::new();
            for concert in 1..=8 {
                let id = boxoffice_core::domain::ConcertId::new(concert)
                    .unwrap_or_else(|e| panic!("{e}"));
                let slot: i64 = redis::cmd("CLUSTER")
                    .arg("KEYSLOT")
                    .arg(room.base(id))
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                slots.insert(slot * 3 / 16384);
            }
            assert!(
                slots.len() >= 2,
                "eight concerts all in one third of the slots: {slots:?}"
            );
        }
    }
}
