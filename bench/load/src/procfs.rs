//! What the benchmark reads about the process under test from /proc: CPU time (utime + stime of
//! every thread, /proc/PID/stat fields 14 and 15) and memory (VmRSS now, VmHWM = peak RSS).

use std::time::Duration;

/// CPU time the process has used so far; `clk_tck` is `getconf CLK_TCK` (100 on Linux).
pub fn cpu_time(pid: u32, clk_tck: u64) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // `rest` starts at field 3 (state), so field N is at index N - 3.
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_micros(ticks * 1_000_000 / clk_tck.max(1)))
}

/// A `Vm*` line of /proc/PID/status in kB (e.g. "VmRSS", "VmHWM").
pub fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(cpu_time(pid, 100).is_some());
        let rss = status_kb(pid, "VmRSS").expect("VmRSS");
        let hwm = status_kb(pid, "VmHWM").expect("VmHWM");
        assert!(rss > 0 && hwm >= rss, "rss {rss} hwm {hwm}");
        assert_eq!(status_kb(pid, "NoSuchKey"), None);
    }
}
