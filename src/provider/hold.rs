//! Release holds: Terraform's duration syntax, the RFC 3339 timestamps of `released`
//! entries, and the `released` map of an `ipam_pool`. Time never enters a plan: stamps
//! are set at apply and holds expire in Read (the refresh).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;

use crate::tfplugin::Value;

/// Parses a duration as Terraform writes one (Go's `time.ParseDuration`): one or more
/// decimal numbers each with a unit, `ns`, `us` (or `µs`), `ms`, `s`, `m` or `h`, such
/// as `"720h"`, `"90m"` or `"1h30m"`. Negative durations are refused.
///
/// ```
/// use ipam::provider::hold::parse_duration;
/// use std::time::Duration;
/// assert_eq!(parse_duration("720h"), Ok(Duration::from_secs(720 * 3600)));
/// assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert!(parse_duration("30").unwrap_err().contains("unit"));
/// assert!(parse_duration("-1h").is_err());
/// assert!(parse_duration("3 days").is_err());
/// // Bounded: past ten years a hold's end could not be written as a date.
/// assert!(parse_duration("87600000h").unwrap_err().contains("87600h"));
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const HINT: &str =
        "write a number with a unit (ns, us, ms, s, m, h), such as \"720h\", \"90m\" or \"1h30m\"";
    if text.is_empty() {
        return Err(format!("the duration is empty: {HINT}"));
    }
    let mut rest = text;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("{text:?} is not a duration: {HINT}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("{text:?} has a number without a unit: {HINT}")),
            other => return Err(format!("{text:?} has the unknown unit {other:?}: {HINT}")),
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    if total > MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "{text:?} is longer than the longest duration, 87600h (ten years)"
        ));
    }
    Duration::try_from_secs_f64(total).map_err(|_| format!("{text:?} is too long a duration"))
}

/// The longest duration any argument takes (ten years).
pub const MAX_DURATION: Duration = Duration::from_secs(87600 * 3600);

/// `t` as RFC 3339 UTC with whole seconds (`2026-11-27T08:00:00Z`).
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Reads an RFC 3339 UTC timestamp as [`format_time`] writes it.
pub fn parse_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(text).ok()
}

/// The stamps of a block released at `now` with a hold of `hold`:
/// (`released_at`, `hold_until`).
pub fn stamps(now: SystemTime, hold: Duration) -> (String, String) {
    let until = now.checked_add(hold).unwrap_or(now);
    (format_time(now), format_time(until))
}

/// The released blocks on hold in a state, by name.
pub fn held_of(state: &Value) -> BTreeMap<String, IpNet> {
    state
        .get("released")
        .entries()
        .into_iter()
        .flatten()
        .filter_map(|(name, e)| Some((name.clone(), e.get("cidr").as_str()?.parse().ok()?)))
        .collect()
}

/// The planned `released` map: each block still on hold, with the stamps it had in the
/// prior state, or unknown stamps (set at apply) for a block released by this plan.
pub fn released_value(held: &BTreeMap<String, IpNet>, prior: &Value) -> Value {
    let before = prior.get("released");
    Value::Map(
        held.iter()
            .map(|(name, net)| {
                let old = before.get(name);
                let same = old.get("cidr").as_str() == Some(net.to_string().as_str());
                let stamp = |k: &str| {
                    if same {
                        old.get(k).clone()
                    } else {
                        Value::Unknown
                    }
                };
                let entry = [
                    ("cidr".to_string(), Value::str(net.to_string())),
                    ("released_at".to_string(), stamp("released_at")),
                    ("hold_until".to_string(), stamp("hold_until")),
                ];
                (name.clone(), Value::Object(entry.into()))
            })
            .collect(),
    )
}

/// Drops the released entries whose hold has ended by `now` (or whose stamp is
/// unreadable); says whether any was dropped (the figures then need refreshing).
pub fn expire(state: Value, now: SystemTime) -> (Value, bool) {
    let Value::Object(mut obj) = state else {
        return (state, false);
    };
    let Some(Value::Map(released)) = obj.get_mut("released") else {
        return (Value::Object(obj), false);
    };
    let before = released.len();
    released.retain(|_, e| {
        e.get("hold_until")
            .as_str()
            .and_then(parse_time)
            .is_some_and(|until| until > now)
    });
    let changed = released.len() != before;
    (Value::Object(obj), changed)
}

/// Stamps the `released` entries this apply released (their stamps were unknown in the
/// plan) with `now` and the end of the hold (`release_hold`).
pub fn stamp_released(state: &mut BTreeMap<String, Value>, now: SystemTime) {
    let hold = state
        .get("release_hold")
        .and_then(|h| h.as_str())
        .and_then(|h| parse_duration(h).ok());
    let (Some(hold), Some(Value::Map(released))) = (hold, state.get_mut("released")) else {
        return;
    };
    let (at, until) = stamps(now, hold);
    for entry in released.values_mut() {
        if let Value::Object(o) = entry {
            if o.get("released_at").is_some_and(Value::is_unknown) {
                o.insert("released_at".into(), Value::str(at.clone()));
                o.insert("hold_until".into(), Value::str(until.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_to_the_second() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let (at, until) = stamps(t, Duration::from_secs(90 * 60));
        assert_eq!(at, "2026-11-18T11:06:40Z");
        assert_eq!(until, "2026-11-18T12:36:40Z");
        assert_eq!(parse_time(&until), Some(t + Duration::from_secs(5400)));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn durations_sum_their_parts() {
        assert_eq!(parse_duration("2h45m"), Ok(Duration::from_secs(9900)));
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("5d").unwrap_err().contains("\"d\""));
    }
}
