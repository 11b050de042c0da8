//! Exact virtual-time schedules of the STUN client transaction (RFC 8489 §6.2.1).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pinhole::stun::transaction::{
    Outcome, Transaction, TransactionConfig, TransactionError, Transactions,
};
use pinhole::stun::TransactionId;

fn dst() -> SocketAddr {
    "192.0.2.1:3478".parse().unwrap()
}

fn tid(n: u8) -> TransactionId {
    TransactionId([n; 12])
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Runs one transaction with nobody answering, always on time. Returns the send offsets
/// (ms) and the failure offset (ms).
fn run_unanswered(config: TransactionConfig) -> (Vec<u64>, u64) {
    let t0 = Instant::now();
    let mut t = Transaction::new(t0, tid(1), dst(), vec![0, 1, 2], config).unwrap();
    let mut sends = Vec::new();
    let mut now = t0;
    loop {
        while let Some(tx) = t.poll_transmit() {
            assert_eq!(tx.to, dst());
            assert_eq!(tx.bytes, vec![0, 1, 2]);
            sends.push((now - t0).as_millis() as u64);
        }
        match t.poll_timeout() {
            Some(deadline) => {
                assert!(deadline > now, "deadline must move forward");
                // One nanosecond early changes nothing.
                t.handle_timeout(deadline - Duration::from_nanos(1));
                assert!(t.poll_transmit().is_none() && !t.is_done());
                now = deadline;
                t.handle_timeout(now);
            }
            None => break,
        }
    }
    assert!(t.is_done());
    assert_eq!(
        t.outcome(),
        Some(Outcome::TimedOut {
            transmissions: sends.len() as u32
        })
    );
    (sends, (now - t0).as_millis() as u64)
}

#[test]
fn rfc8489_default_schedule_is_0_500_1500_to_31500_then_fails_at_39500() {
    let c = TransactionConfig::rfc8489();
    assert_eq!(TransactionConfig::default(), c);
    let (sends, fail) = run_unanswered(c);
    assert_eq!(sends, vec![0, 500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(fail, 39_500);
    assert_eq!(c.total_timeout(), ms(39_500));
}

#[test]
fn ice_check_preset_caps_intervals_at_1s_and_gives_up_at_5s() {
    let c = TransactionConfig::ice_check();
    let (sends, fail) = run_unanswered(c);
    assert_eq!(sends, vec![0, 250, 750, 1750, 2750, 3750]);
    assert_eq!(fail, 5_000);
    assert_eq!(c.total_timeout(), ms(5_000));
}

#[test]
fn gathering_preset_doubles_and_gives_up_at_5s() {
    let c = TransactionConfig::gathering();
    let (sends, fail) = run_unanswered(c);
    assert_eq!(sends, vec![0, 250, 750, 1750, 3750]);
    assert_eq!(fail, 5_000);
    assert_eq!(c.total_timeout(), ms(5_000));
}

#[test]
fn reliable_transport_sends_once_and_fails_after_ti() {
    let c = TransactionConfig::reliable(TransactionConfig::RELIABLE_TI);
    let (sends, fail) = run_unanswered(c);
    assert_eq!(sends, vec![0]);
    assert_eq!(fail, 39_500);
}

#[test]
fn cap_limits_each_interval_but_not_the_final_wait() {
    let mut c = TransactionConfig::rfc8489();
    c.rto = ms(100);
    c.max_rto = Some(ms(300));
    c.max_transmissions = 6;
    c.final_wait_factor = 4;
    let (sends, fail) = run_unanswered(c);
    // Intervals 100, 200, 300 (capped from 400), 300, 300; then 4·100.
    assert_eq!(sends, vec![0, 100, 300, 600, 900, 1200]);
    assert_eq!(fail, 1600);
    assert_eq!(c.total_timeout(), ms(1600));
}

#[test]
fn single_transmission_waits_rm_times_rto() {
    let mut c = TransactionConfig::rfc8489();
    c.rto = ms(200);
    c.max_rto = None;
    c.max_transmissions = 1;
    c.final_wait_factor = 3;
    assert_eq!(run_unanswered(c), (vec![0], 600));
}

#[test]
fn late_driver_gets_one_retransmission_and_the_next_interval_counts_from_then() {
    let t0 = Instant::now();
    let mut t = Transaction::new(t0, tid(1), dst(), vec![9], TransactionConfig::rfc8489()).unwrap();
    assert!(t.poll_transmit().is_some());
    // Woken 2 s late for the 500 ms deadline: one copy, not three.
    t.handle_timeout(t0 + ms(2500));
    assert!(t.poll_transmit().is_some());
    assert!(t.poll_transmit().is_none());
    assert_eq!(t.poll_timeout(), Some(t0 + ms(2500) + ms(1000)));
}

#[test]
fn invalid_configs_are_rejected_with_a_reason() {
    let with = |change: fn(&mut TransactionConfig)| {
        let mut c = TransactionConfig::rfc8489();
        change(&mut c);
        c
    };
    let bad = [
        with(|c| c.rto = Duration::ZERO),
        with(|c| c.max_transmissions = 0),
        with(|c| c.final_wait_factor = 0),
        with(|c| c.max_rto = Some(Duration::ZERO)),
    ];
    for c in bad {
        let err = Transaction::new(Instant::now(), tid(1), dst(), vec![], c).unwrap_err();
        assert!(matches!(err, TransactionError::InvalidConfig(_)));
        assert!(err.to_string().contains("must be"), "{err}");
    }
}

#[test]
fn rtt_is_measured_when_only_one_copy_was_sent() {
    let t0 = Instant::now();
    let mut t = Transaction::new(t0, tid(1), dst(), vec![], TransactionConfig::rfc8489()).unwrap();
    t.poll_transmit().unwrap();
    let timing = t.handle_response(t0 + ms(42)).unwrap();
    assert_eq!(timing.rtt, Some(ms(42)));
    assert_eq!(timing.elapsed, ms(42));
    assert_eq!(timing.transmissions, 1);
    assert!(t.is_done() && t.poll_timeout().is_none());
    // A duplicate response changes nothing.
    assert_eq!(t.handle_response(t0 + ms(50)), None);
    assert_eq!(t.outcome(), Some(Outcome::Response(timing)));
}

#[test]
fn karn_no_rtt_sample_after_a_retransmission() {
    let t0 = Instant::now();
    let mut t = Transaction::new(t0, tid(1), dst(), vec![], TransactionConfig::rfc8489()).unwrap();
    t.poll_transmit().unwrap();
    t.handle_timeout(t0 + ms(500));
    t.poll_transmit().unwrap();
    let timing = t.handle_response(t0 + ms(600)).unwrap();
    assert_eq!(timing.rtt, None);
    assert_eq!(timing.elapsed, ms(600));
    assert_eq!(timing.transmissions, 2);
}

#[test]
fn karn_a_retransmission_that_never_left_is_unambiguous() {
    let t0 = Instant::now();
    let mut t = Transaction::new(t0, tid(1), dst(), vec![], TransactionConfig::rfc8489()).unwrap();
    t.poll_transmit().unwrap();
    t.handle_timeout(t0 + ms(500)); // queued, not polled
    let timing = t.handle_response(t0 + ms(501)).unwrap();
    assert_eq!(timing.rtt, Some(ms(501)));
    assert!(
        t.poll_transmit().is_none(),
        "a finished transaction sends nothing"
    );
}

#[test]
fn table_matches_responses_and_reports_timeouts_with_context() {
    let t0 = Instant::now();
    let mut table: Transactions<&str> = Transactions::new();
    let g = TransactionConfig::gathering();
    table.start(t0, tid(1), dst(), vec![1], g, "one").unwrap();
    table
        .start(t0 + ms(10), tid(2), dst(), vec![2], g, "two")
        .unwrap();
    assert_eq!(
        table.start(t0, tid(1), dst(), vec![1], g, "dup"),
        Err(TransactionError::DuplicateId(tid(1)))
    );
    assert_eq!(table.len(), 2);
    assert_eq!(table.context(&tid(2)), Some(&"two"));
    // First transmissions in start order.
    assert_eq!(table.poll_transmit().unwrap().bytes, vec![1]);
    assert_eq!(table.poll_transmit().unwrap().bytes, vec![2]);
    assert!(table.poll_transmit().is_none());
    assert_eq!(table.poll_timeout(), Some(t0 + ms(250)));

    // Stray ID: nothing.
    assert!(table.handle_response(t0 + ms(20), &tid(9)).is_none());
    // #2 answered once-sent: RTT 20 ms.
    let done = table.handle_response(t0 + ms(30), &tid(2)).unwrap();
    assert_eq!((done.context, done.timing.rtt), ("two", Some(ms(20))));
    assert!(table.handle_response(t0 + ms(31), &tid(2)).is_none());

    // #1 runs its schedule: 250, 750, 1750, 3750 ms, then fails at 5 s.
    let mut sends = Vec::new();
    while let Some(deadline) = table.poll_timeout() {
        table.handle_timeout(deadline);
        while let Some(tx) = table.poll_transmit() {
            assert_eq!(tx.bytes, vec![1]);
            sends.push((deadline - t0).as_millis());
        }
    }
    assert_eq!(sends, vec![250, 750, 1750, 3750]);
    let expired = table.poll_timed_out().unwrap();
    assert_eq!(
        (expired.id, expired.context, expired.transmissions),
        (tid(1), "one", 5)
    );
    assert!(table.poll_timed_out().is_none());
    assert!(table.is_empty());
    assert!(table.handle_response(t0 + ms(6000), &tid(1)).is_none());
}

#[test]
fn table_retransmits_interleaved_in_deadline_order_and_cancel_stops_one() {
    let t0 = Instant::now();
    let mut table: Transactions<u8> = Transactions::new();
    let c = TransactionConfig::rfc8489();
    for n in 1..=3u8 {
        table
            .start(t0 + ms(n as u64), tid(n), dst(), vec![n], c, n)
            .unwrap();
    }
    while table.poll_transmit().is_some() {}
    assert_eq!(table.cancel(&tid(2)), Some(2));
    assert!(!table.contains(&tid(2)));
    // A single late wake-up fires both remaining deadlines, one copy each.
    table.handle_timeout(t0 + ms(600));
    let order: Vec<u8> = std::iter::from_fn(|| table.poll_transmit())
        .map(|t| t.bytes[0])
        .collect();
    assert_eq!(order, vec![1, 3]);
    assert_eq!(table.get(&tid(1)).unwrap().transmissions(), 2);
    assert_eq!(table.poll_timeout(), Some(t0 + ms(1600)));
}

/// `Duration::MAX` as the RTO ("retransmit never") is a valid schedule: its deadlines
/// saturate, and the total time to failure saturates too, instead of overflowing.
#[test]
fn huge_timeouts_saturate_instead_of_panicking() {
    let t0 = Instant::now();
    let mut c = TransactionConfig::rfc8489();
    c.rto = Duration::MAX;
    assert_eq!(c.total_timeout(), Duration::MAX);
    let mut table = Transactions::new();
    table.start(t0, tid(1), dst(), vec![1], c, ()).unwrap();
    assert!(table.poll_transmit().is_some());
    let deadline = table.poll_timeout().unwrap();
    assert!(deadline > t0 + Duration::from_secs(365 * 24 * 3600));
    table.handle_timeout(deadline);
    assert!(
        table.poll_transmit().is_some(),
        "the retransmission, a century later"
    );
}
