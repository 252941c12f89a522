//! The streaming detector behind `ctlake insights`: unusual per-minute rates of one series
//! (one API, or one API and error code, in one account and region) against its own baseline.
//!
//! AWS does not publish its detector; this one approximates it, and says how. At each minute
//! with calls, the calls of the last `window` minutes (k) are compared with the baseline: the
//! per-minute average over the `baseline` minutes before that window, empty minutes counted
//! (AWS's definition: one call in 11,336 minutes is 0.0000882 a minute). The minute is unusual
//! when all three hold:
//! - k is at least `min_count` (a handful of calls is never an insight);
//! - the Poisson probability of k or more calls in the window at the baseline rate is below
//!   `p_value` (so a rate that is high but usual for this API is not flagged);
//! - k is more than `ratio` times the busiest window seen in the baseline (so a series with
//!   regular bursts, which a Poisson rate underrates, is not flagged for the next one).
//!
//! An insight starts at the first call of the first unusual window and ends after the last
//! call of the last unusual one, once `quiet` minutes pass without an unusual window.
//!
//! One pass over the series in time order; memory is the baseline's minutes with calls.

use std::collections::VecDeque;

/// The detector's parameters (the README lists the defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Minutes in the short window.
    pub window: i64,
    /// Minutes of baseline before it (AWS: seven days).
    pub baseline: i64,
    /// Calls a window needs at least.
    pub min_count: u64,
    /// The Poisson tail probability below which a window is unusual.
    pub p_value: f64,
    /// How many times the busiest baseline window a window must exceed.
    pub ratio: f64,
    /// Minutes without an unusual window that end an insight.
    pub quiet: i64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            window: 5,
            baseline: 10_080,
            min_count: 10,
            p_value: 1e-6,
            ratio: 2.0,
            quiet: 5,
        }
    }
}

/// One insight found in a series.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The minute of its first call (minutes since the epoch).
    pub start: i64,
    /// The minute after its last call.
    pub end: i64,
    /// Calls from `start` to `end`.
    pub calls: u64,
    /// The baseline's per-minute average when it started.
    pub baseline_average: f64,
}

impl Found {
    /// Calls a minute during the insight.
    pub fn average(&self) -> f64 {
        self.calls as f64 / (self.end - self.start).max(1) as f64
    }
}

/// `P(X >= k)` for `X ~ Poisson(lambda)`.
pub fn poisson_tail(k: u64, lambda: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    if (k as f64) <= lambda {
        // The tail of a mean at or above k is not small: no need to be exact.
        return 1.0;
    }
    // pmf(k) in logs, then the tail summed upwards until its terms vanish.
    let ln_fact: f64 = (1..=k).map(|i| (i as f64).ln()).sum();
    let mut term = (-lambda + k as f64 * lambda.ln() - ln_fact).exp();
    let mut sum = 0.0;
    let mut i = k;
    while term > sum * 1e-12 && i < k + 10_000 {
        sum += term;
        i += 1;
        term *= lambda / i as f64;
    }
    sum.min(1.0)
}

/// Where a burst begins in an unusual window: the first minute of the shortest tail of the
/// window (oldest minutes dropped) that is still unusual, so a stray call just before a burst
/// does not move its start. Returns that minute and the calls from it on.
fn onset(
    window: impl Iterator<Item = (i64, u64)>,
    total: u64,
    is_unusual: impl Fn(u64) -> bool,
) -> (i64, u64) {
    let mut calls = total;
    let mut start = None;
    for (at, n) in window {
        if start.is_none() && is_unusual(calls - n) {
            calls -= n;
            continue;
        }
        start.get_or_insert(at);
    }
    (start.unwrap_or(i64::MIN), calls)
}

/// Finds the insights of one series: `(minute, calls)` in increasing minutes, no zero counts.
/// Minutes before `analyse_from` only feed the baseline; an insight needs a full baseline of
/// history before it (`history_from`: the first minute the data covers).
pub fn detect(
    series: &[(i64, u64)],
    history_from: i64,
    analyse_from: i64,
    p: &Params,
) -> Vec<Found> {
    let mut found = Vec::new();
    // Calls of the minutes in the short window (m - window, m].
    let mut recent: VecDeque<(i64, u64)> = VecDeque::new();
    let mut recent_sum = 0u64;
    // Calls of the minutes in the baseline (m - window - baseline, m - window].
    let mut base: VecDeque<(i64, u64)> = VecDeque::new();
    let mut base_sum = 0u64;
    // Window sums at past minutes, waiting to enter the baseline, then in it (kept as a
    // decreasing deque, so its front is the busiest window of the baseline).
    let mut pending_windows: VecDeque<(i64, u64)> = VecDeque::new();
    let mut max_windows: VecDeque<(i64, u64)> = VecDeque::new();
    let mut open: Option<Found> = None;
    let mut last_unusual = i64::MIN;
    let mut last_call_in = i64::MIN;
    for &(m, c) in series {
        // An open insight ends once `quiet` minutes pass without an unusual window.
        if let Some(f) = open.take() {
            if m > last_unusual + p.quiet {
                found.push(Found {
                    end: last_call_in + 1,
                    ..f
                });
            } else {
                open = Some(f);
            }
        }
        // Slide the windows to end at m.
        recent.push_back((m, c));
        recent_sum += c;
        while let Some(&(old, n)) = recent.front() {
            if old > m - p.window {
                break;
            }
            recent.pop_front();
            recent_sum -= n;
            base.push_back((old, n));
            base_sum += n;
        }
        while let Some(&(old, n)) = base.front() {
            if old > m - p.window - p.baseline {
                break;
            }
            base.pop_front();
            base_sum -= n;
        }
        while let Some(&(at, s)) = pending_windows.front() {
            if at > m - p.window {
                break;
            }
            pending_windows.pop_front();
            while max_windows.back().is_some_and(|&(_, v)| v <= s) {
                max_windows.pop_back();
            }
            max_windows.push_back((at, s));
        }
        while max_windows
            .front()
            .is_some_and(|&(at, _)| at <= m - p.window - p.baseline)
        {
            max_windows.pop_front();
        }
        pending_windows.push_back((m, recent_sum));
        if m < analyse_from || m - p.window - p.baseline + 1 < history_from {
            continue;
        }
        let rate = base_sum as f64 / p.baseline as f64;
        let busiest = max_windows.front().map_or(0, |&(_, v)| v);
        let is_unusual = |k: u64| {
            k >= p.min_count
                && poisson_tail(k, rate * p.window as f64) < p.p_value
                && k as f64 > p.ratio * busiest as f64
        };
        if is_unusual(recent_sum) {
            last_unusual = m;
            if let Some(f) = &mut open {
                f.calls += c;
            } else {
                let (start, calls) = onset(recent.iter().copied(), recent_sum, is_unusual);
                open = Some(Found {
                    start,
                    end: m + 1,
                    calls,
                    baseline_average: rate,
                });
            }
            last_call_in = m;
        } else if let Some(f) = &mut open {
            f.calls += c;
            last_call_in = m;
        }
    }
    if let Some(f) = open {
        found.push(Found {
            end: last_call_in + 1,
            ..f
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same detector written plainly (every minute recomputed from the series): the
    /// streaming one must agree with it.
    fn detect_reference(
        series: &[(i64, u64)],
        history_from: i64,
        analyse_from: i64,
        p: &Params,
    ) -> Vec<Found> {
        let sum = |from: i64, to: i64| -> u64 {
            series
                .iter()
                .filter(|(m, _)| *m >= from && *m < to)
                .map(|(_, c)| c)
                .sum()
        };
        let window_sum = |m: i64| sum(m - p.window + 1, m + 1);
        let mut found: Vec<Found> = Vec::new();
        let mut open: Option<Found> = None;
        let mut last_unusual = i64::MIN;
        let mut last_call_in = i64::MIN;
        for &(m, c) in series {
            if let Some(f) = open.take() {
                if m > last_unusual + p.quiet {
                    found.push(Found {
                        end: last_call_in + 1,
                        ..f
                    });
                } else {
                    open = Some(f);
                }
            }
            if m < analyse_from || m - p.window - p.baseline + 1 < history_from {
                continue;
            }
            let k = window_sum(m);
            let base_from = m - p.window - p.baseline + 1;
            let base_to = m - p.window + 1;
            let rate = sum(base_from, base_to) as f64 / p.baseline as f64;
            let busiest = series
                .iter()
                .filter(|(at, _)| *at >= base_from && *at < base_to)
                .map(|(at, _)| window_sum(*at))
                .max()
                .unwrap_or(0);
            let is_unusual = |k: u64| {
                k >= p.min_count
                    && poisson_tail(k, rate * p.window as f64) < p.p_value
                    && k as f64 > p.ratio * busiest as f64
            };
            if is_unusual(k) {
                last_unusual = m;
                if let Some(f) = &mut open {
                    f.calls += c;
                } else {
                    let window: Vec<(i64, u64)> = series
                        .iter()
                        .filter(|(at, _)| *at > m - p.window && *at <= m)
                        .copied()
                        .collect();
                    let (start, calls) = onset(window.into_iter(), k, is_unusual);
                    open = Some(Found {
                        start,
                        end: m + 1,
                        calls,
                        baseline_average: rate,
                    });
                }
                last_call_in = m;
            } else if let Some(f) = &mut open {
                f.calls += c;
                last_call_in = m;
            }
        }
        if let Some(f) = open {
            found.push(Found {
                end: last_call_in + 1,
                ..f
            });
        }
        found
    }

    #[test]
    fn poisson_tail_matches_closed_forms() {
        // P(X >= 1) = 1 - e^-l; P(X >= 2) = 1 - e^-l (1 + l).
        for l in [0.01_f64, 0.5, 0.9] {
            assert!(
                (poisson_tail(1, l) - (1.0 - (-l).exp())).abs() < 1e-9,
                "{l}"
            );
            let want = 1.0 - (-l).exp() * (1.0 + l);
            assert!((poisson_tail(2, l) - want).abs() < 1e-9, "{l}");
        }
        assert_eq!(poisson_tail(5, 0.0), 0.0);
        assert!(poisson_tail(10, 0.001) < 1e-30);
    }

    #[test]
    fn aws_documented_averages() {
        // AWS: one call in 11,336 minutes is a baseline average of 0.0000882 a minute; three
        // calls in five minutes an insight average of 0.6.
        assert!((1.0 / 11_336.0 - 0.0000882_f64).abs() < 1e-7);
        let f = Found {
            start: 0,
            end: 5,
            calls: 3,
            baseline_average: 1.0 / 11_336.0,
        };
        assert!((f.average() - 0.6).abs() < 1e-12);
    }

    /// A small xorshift, so the random series need no crate.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn streaming_agrees_with_the_reference_on_random_series() {
        let p = Params {
            window: 5,
            baseline: 300,
            min_count: 6,
            p_value: 1e-4,
            ratio: 2.0,
            quiet: 5,
        };
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200 {
            let mut series = Vec::new();
            for m in 0..1500i64 {
                let r = rng(&mut seed) % 100;
                let mut c = u64::from(r < 8) + u64::from(r < 2);
                // Now and then a burst.
                if rng(&mut seed).is_multiple_of(400) {
                    c += 5 + rng(&mut seed) % 20;
                }
                if c > 0 {
                    series.push((m, c));
                }
            }
            let a = detect(&series, 0, 0, &p);
            let b = detect_reference(&series, 0, 0, &p);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn a_burst_on_quiet_traffic_is_one_insight_and_flat_traffic_none() {
        let p = Params::default();
        // Two calls every ten minutes for eight days.
        let flat: Vec<(i64, u64)> = (0..8 * 1440)
            .filter(|m| m % 10 == 0)
            .map(|m| (m, 2))
            .collect();
        assert!(detect(&flat, 0, 0, &p).is_empty());
        let burst_at = 7 * 1440 + 600;
        let mut bursty = flat.clone();
        bursty.retain(|(m, _)| !(burst_at..burst_at + 4).contains(m));
        for m in burst_at..burst_at + 4 {
            bursty.push((m, 15));
        }
        bursty.sort();
        let found = detect(&bursty, 0, 0, &p);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].start, burst_at);
        assert_eq!(found[0].end, burst_at + 4);
        assert_eq!(found[0].calls, 60);
    }
}
