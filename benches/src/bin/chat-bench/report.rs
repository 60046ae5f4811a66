//! Measurements: latency histograms, process CPU and memory, and the final table and JSON.

use hdrhistogram::Histogram;
use std::time::Duration;

/// A latency histogram in microseconds, up to a minute.
pub fn histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Percentiles of a histogram, in milliseconds.
pub fn percentiles(h: &Histogram<u64>) -> serde_json::Value {
    let ms = |us: u64| us as f64 / 1000.0;
    serde_json::json!({
        "p50_ms": ms(h.value_at_quantile(0.50)),
        "p90_ms": ms(h.value_at_quantile(0.90)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "p999_ms": ms(h.value_at_quantile(0.999)),
        "max_ms": ms(h.max()),
    })
}

/// CPU time (user + system) a process has used, from `/proc/PID/stat`.
pub fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may contain spaces) start at ") ".
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports in USER_HZ, which is 100 on every supported configuration.
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time of the server's processes together; `None` without any (or if one is gone).
pub fn servers_cpu_time(pids: &[u32]) -> Option<Duration> {
    let each: Option<Vec<Duration>> = pids.iter().map(|&p| cpu_time(Some(p))).collect();
    each.filter(|e| !e.is_empty()).map(|e| e.into_iter().sum())
}

/// Resident memory of the server's processes together, in bytes; `None` without any.
pub fn rss(pids: &[u32]) -> Option<u64> {
    let each: Option<Vec<u64>> = pids.iter().map(|&p| rss_of(p)).collect();
    each.filter(|e| !e.is_empty()).map(|e| e.into_iter().sum())
}

/// Resident memory of a process in bytes, from `/proc/PID/status`.
fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Prints a result as an aligned table on stdout, then as one JSON line.
pub fn print(result: &serde_json::Value) {
    fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&key, v, out);
                }
            }
            serde_json::Value::Number(n) => out.push((
                prefix.to_string(),
                match n.as_f64() {
                    Some(f) if n.is_f64() => format!("{f:.3}"),
                    _ => n.to_string(),
                },
            )),
            other => out.push((
                prefix.to_string(),
                other.to_string().trim_matches('"').to_string(),
            )),
        }
    }
    let mut rows = Vec::new();
    flatten("", result, &mut rows);
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in &rows {
        println!("{k:<width$}  {v}");
    }
    println!("{result}");
}

/// The server's memory before and after holding `n` connections, and per connection.
pub fn memory(before: Option<u64>, after: Option<u64>, n: usize) -> serde_json::Value {
    let per = match (before, after) {
        (Some(b), Some(a)) => serde_json::json!(a.saturating_sub(b) as f64 / n as f64),
        _ => serde_json::json!(null),
    };
    serde_json::json!({
        "server_rss_before_bytes": before,
        "server_rss_after_bytes": after,
        "server_rss_per_connection_bytes": per,
    })
}
