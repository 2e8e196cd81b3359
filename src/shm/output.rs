//! The probe's report: a table for people, JSON, and Prometheus textfile metrics.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use super::origin::Origin;
use super::{Report, ShmError, Verdict};

/// `1.5 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Warn when the filesystem is fuller than this: writes past it die with SIGBUS.
const NEARLY_FULL_PERCENT: f64 = 90.0;

pub fn table(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<13} {:>10} {:>10} {:>5} {:<10} {:<21} {:<18} NAME",
        "VERDICT", "SIZE", "ALLOCATED", "AGE", "OWNER", "ORIGIN", "HOLDERS"
    )?;
    for item in &report.items {
        let holders = if item.holders.is_empty() {
            "-".to_string()
        } else {
            item.holders
                .iter()
                .map(|h| h.pid.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let owner = item.owner.clone().unwrap_or_else(|| item.uid.to_string());
        let kind = match item.kind {
            super::inventory::Kind::Directory => "/",
            super::inventory::Kind::Symlink => "@",
            _ => "",
        };
        writeln!(
            out,
            "{:<13} {:>10} {:>10} {:>5} {:<10} {:<21} {:<18} {}{kind}",
            item.verdict.as_str(),
            human(item.size),
            human(item.allocated),
            age(item.age_seconds),
            owner,
            item.origin.as_str(),
            holders,
            item.name
        )?;
    }
    for item in report.items.iter().filter(|i| i.verdict != Verdict::InUse) {
        writeln!(
            out,
            "  {}: {} ({})",
            item.name,
            item.verdict.as_str(),
            item.reason
        )?;
    }
    sysv_table(report, out)?;
    if !report.helpers.is_empty() {
        writeln!(out, "cleanup helpers running:")?;
        for h in &report.helpers {
            writeln!(out, "  pid {} {}", h.pid, h.kind)?;
        }
    }
    for d in &report.deleted_mappings {
        writeln!(
            out,
            "pid {} maps {} of deleted files on this filesystem (not visible in a listing): {}",
            d.pid,
            human(d.bytes),
            super::escape_name(d.cmdline.as_bytes())
        )?;
    }
    let total: u64 = report.items.iter().map(|i| i.size).sum();
    let allocated: u64 = report.items.iter().map(|i| i.allocated).sum();
    let leaked: Vec<_> = report.leaked().collect();
    let leaked_bytes: u64 = leaked.iter().map(|i| i.allocated).sum();
    write!(
        out,
        "{} entries, {} ({} allocated); {} leaked ({} allocated)",
        report.items.len(),
        human(total),
        human(allocated),
        leaked.len(),
        human(leaked_bytes)
    )?;
    let sysv_leaked = report
        .sysv
        .iter()
        .filter(|s| s.verdict == Verdict::Leaked)
        .count();
    if !report.sysv.is_empty() {
        write!(
            out,
            "; {} System V segment(s), {sysv_leaked} leaked",
            report.sysv.len()
        )?;
    }
    let likely: Vec<_> = report.likely_leaked().collect();
    if !likely.is_empty() {
        write!(
            out,
            "; {} likely leaked ({} allocated)",
            likely.len(),
            human(likely.iter().map(|i| i.allocated).sum())
        )?;
    }
    if let Some(fs) = report.filesystem {
        write!(
            out,
            "; filesystem {} of {} used ({:.0}%), {} free",
            human(fs.used()),
            human(fs.size),
            fs.percent_used(),
            human(fs.available)
        )?;
    }
    writeln!(out)?;
    if let Some(advice) = &report.unreadable_advice {
        writeln!(
            out,
            "{} process(es) could not be read: {}. Entries only they could hold are \
             `likely-leaked` or `unknown`, never `leaked`: {advice}.",
            report.unreadable_pids.len(),
            report.unreadable.join(", "),
        )?;
    }
    if let Some(fs) = report.filesystem
        && fs.percent_used() >= NEARLY_FULL_PERCENT
    {
        writeln!(
            out,
            "warning: {} is {:.0}% full; processes that write to shared memory there die with SIGBUS when it fills",
            report.dir,
            fs.percent_used()
        )?;
    }
    Ok(())
}

fn sysv_table(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    if report.sysv.is_empty() {
        return Ok(());
    }
    writeln!(out, "System V shared memory:")?;
    writeln!(
        out,
        "{:<13} {:>10} {:>5} {:<10} {:>7} {:>10} {:<18} KEY",
        "VERDICT", "SIZE", "AGE", "OWNER", "ATTACH", "SHMID", "HOLDERS"
    )?;
    for seg in &report.sysv {
        let holders = if seg.holders.is_empty() {
            "-".to_string()
        } else {
            let pids: Vec<String> = seg.holders.iter().map(|h| h.pid.to_string()).collect();
            pids.join(",")
        };
        writeln!(
            out,
            "{:<13} {:>10} {:>5} {:<10} {:>7} {:>10} {:<18} {}",
            seg.verdict.as_str(),
            human(seg.size),
            age(seg.age_seconds),
            seg.owner.clone().unwrap_or_else(|| seg.uid.to_string()),
            seg.attachments,
            seg.shmid,
            holders,
            seg.key
        )?;
    }
    for seg in report.sysv.iter().filter(|s| s.verdict != Verdict::InUse) {
        writeln!(
            out,
            "  shmid {}: {} ({})",
            seg.shmid,
            seg.verdict.as_str(),
            seg.reason
        )?;
    }
    Ok(())
}

pub fn json(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

/// Metrics in the node_exporter textfile-collector format.
pub fn prometheus_text(report: &Report) -> String {
    let mut counts: BTreeMap<(Verdict, Origin), (u64, u64)> = BTreeMap::new();
    for item in &report.items {
        let c = counts.entry((item.verdict, item.origin)).or_default();
        c.0 += 1;
        c.1 += item.allocated;
    }
    for seg in &report.sysv {
        let c = counts.entry((seg.verdict, Origin::SysV)).or_default();
        c.0 += 1;
        c.1 += seg.resident.unwrap_or(seg.size);
    }
    let mut s = String::new();
    s.push_str("# HELP mpdoctor_shm_entries Entries in the shared-memory directory.\n");
    s.push_str("# TYPE mpdoctor_shm_entries gauge\n");
    for ((verdict, origin), (n, _)) in &counts {
        s.push_str(&format!(
            "mpdoctor_shm_entries{{verdict=\"{}\",origin=\"{}\"}} {n}\n",
            verdict.as_str(),
            origin.as_str()
        ));
    }
    s.push_str(
        "# HELP mpdoctor_shm_bytes Bytes allocated by entries in the shared-memory directory.\n",
    );
    s.push_str("# TYPE mpdoctor_shm_bytes gauge\n");
    for ((verdict, origin), (_, bytes)) in &counts {
        s.push_str(&format!(
            "mpdoctor_shm_bytes{{verdict=\"{}\",origin=\"{}\"}} {bytes}\n",
            verdict.as_str(),
            origin.as_str()
        ));
    }
    if let Some(fs) = report.filesystem {
        s.push_str(
            "# HELP mpdoctor_shm_filesystem_size_bytes Size of the shared-memory filesystem.\n",
        );
        s.push_str("# TYPE mpdoctor_shm_filesystem_size_bytes gauge\n");
        s.push_str(&format!("mpdoctor_shm_filesystem_size_bytes {}\n", fs.size));
        s.push_str("# HELP mpdoctor_shm_filesystem_free_bytes Free space on the shared-memory filesystem.\n");
        s.push_str("# TYPE mpdoctor_shm_filesystem_free_bytes gauge\n");
        s.push_str(&format!(
            "mpdoctor_shm_filesystem_free_bytes {}\n",
            fs.available
        ));
    }
    let deleted = report.deleted_mapped_bytes;
    s.push_str("# HELP mpdoctor_shm_deleted_mapped_bytes Memory mapped from deleted files on the filesystem.\n");
    s.push_str("# TYPE mpdoctor_shm_deleted_mapped_bytes gauge\n");
    s.push_str(&format!("mpdoctor_shm_deleted_mapped_bytes {deleted}\n"));
    s.push_str(
        "# HELP mpdoctor_shm_unreadable_processes Processes whose open files could not be read.\n",
    );
    s.push_str("# TYPE mpdoctor_shm_unreadable_processes gauge\n");
    s.push_str(&format!(
        "mpdoctor_shm_unreadable_processes {}\n",
        report.unreadable_processes
    ));
    s
}

/// Writes the metrics through a temporary file renamed into place, so the collector never
/// reads half a file.
pub fn write_prometheus(report: &Report, path: &Path) -> Result<(), ShmError> {
    let error = |source| ShmError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(error)?;
    tmp.write_all(prometheus_text(report).as_bytes())
        .map_err(error)?;
    tmp.as_file().sync_all().map_err(error)?;
    // Collectors read world-readable files; the temp file starts private.
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(error)?;
    tmp.persist(path).map_err(|e| error(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(64 << 20), "64.0 MiB");
    }
}
