//! Binary sizes and memory: the stripped bootstraps per architecture
//! (`--bin-dir`, and `target/lambda/*/bootstrap` as cargo lambda leaves
//! them, the architecture read from the ELF header) and peak RSS.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::report::Row;

const FUNCTIONS: [&str; 2] = ["upload-api", "upload-events"];

/// What an ELF file says about itself.
struct Elf {
    arch: &'static str,
    stripped: bool,
}

/// The machine and whether a `.symtab` section is left (ELF64, little endian).
fn elf(path: &Path) -> Option<Elf> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut h = [0u8; 64];
    f.read_exact(&mut h).ok()?;
    if &h[..4] != b"\x7fELF" || h[4] != 2 || h[5] != 1 {
        return None;
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as u64;
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let arch = match u16_at(&h, 18) {
        0x3e => "x86_64",
        0xb7 => "arm64",
        _ => "other",
    };
    let (shoff, shentsize, shnum, shstrndx) = (
        u64_at(&h, 0x28),
        u16_at(&h, 0x3a),
        u16_at(&h, 0x3c),
        u16_at(&h, 0x3e),
    );
    if shnum == 0 || shstrndx >= shnum || shentsize < 0x28 {
        return Some(Elf {
            arch,
            stripped: true,
        });
    }
    let mut sections = vec![0u8; (shentsize * shnum) as usize];
    f.seek(SeekFrom::Start(shoff)).ok()?;
    f.read_exact(&mut sections).ok()?;
    let header = |i: u64| &sections[(i * shentsize) as usize..][..shentsize as usize];
    let names = header(shstrndx);
    let mut strtab = vec![0u8; u64_at(names, 0x20) as usize];
    f.seek(SeekFrom::Start(u64_at(names, 0x18))).ok()?;
    f.read_exact(&mut strtab).ok()?;
    let symtab = (0..shnum).any(|i| {
        let at = u32::from_le_bytes(header(i)[..4].try_into().unwrap()) as usize;
        strtab
            .get(at..)
            .is_some_and(|s| s.starts_with(b".symtab\0"))
    });
    Some(Elf {
        arch,
        stripped: !symtab,
    })
}

fn size_mb(p: &Path) -> Option<f64> {
    std::fs::metadata(p).ok().map(|m| m.len() as f64 / 1e6)
}

/// One row per function and architecture (x86_64 ≤ 10 MB, arm64 ≤ 8 MB),
/// bench-probe's size as the floor where it was built alongside.
pub fn size_rows(bin_dir: &Path, lambda_dir: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    for (arch, target) in [("arm64", "≤ 8 MB"), ("x86_64", "≤ 10 MB")] {
        for f in FUNCTIONS {
            let candidates = [lambda_dir.join(f).join("bootstrap"), bin_dir.join(f)];
            let found: Option<(PathBuf, Elf)> = candidates
                .into_iter()
                .find_map(|p| elf(&p).filter(|e| e.arch == arch).map(|e| (p, e)));
            let what = format!("stripped bootstrap {f}, {arch}");
            let Some((path, e)) = found else {
                rows.push(Row::not_measured(
                    &what,
                    target,
                    &format!(
                        "no {arch} build of {f} in {} or {} (cargo lambda build --release --{} -p {f})",
                        lambda_dir.display(),
                        bin_dir.display(),
                        if arch == "arm64" { "arm64" } else { "x86-64" }
                    ),
                ));
                continue;
            };
            let mut r = Row::mb(&what, size_mb(&path).unwrap_or(0.0), target, "");
            r.what = format!("{what} ({})", path.display());
            let probe = bin_dir.join("bench-probe");
            if elf(&probe).is_some_and(|p| p.arch == arch) {
                r.floor = size_mb(&probe);
            }
            if !e.stripped {
                r.not_judged = Some("not stripped (a debug build?)".into());
            }
            rows.push(r);
        }
    }
    rows
}

/// Memory as the runs measured it, in MB (kB / 1024, as VmHWM reports).
pub struct Memory {
    pub invocations: usize,
    pub api_hwm_kb: u64,
    pub api_rss_100_kb: u64,
    pub api_rss_end_kb: u64,
    pub probe_hwm_kb: u64,
    pub events_hwm_kb: u64,
    pub event_batches: usize,
}

/// RSS may grow by at most this much from invocation 100 to the last and
/// still be "flat" (allocator noise).
const FLAT_MB: f64 = 0.5;

pub fn memory_rows(m: &Memory) -> Vec<Row> {
    let mb = |kb: u64| kb as f64 / 1024.0;
    let n = m.invocations;
    let growth = mb(m.api_rss_end_kb) - mb(m.api_rss_100_kb);
    let mut api = Row::mb(
        &format!("peak RSS upload-api over {n} invocations (VmHWM)"),
        mb(m.api_hwm_kb),
        "≤ 12 MB, flat",
        &format!(
            "RSS after 100: {:.1} MB, after {n}: {:.1} MB; flat: at most {FLAT_MB} MB growth",
            mb(m.api_rss_100_kb),
            mb(m.api_rss_end_kb)
        ),
    );
    api.floor = Some(mb(m.probe_hwm_kb));
    api.check = Some((
        growth <= FLAT_MB,
        format!("grew {growth:.1} MB from invocation 100 to {n}"),
    ));
    if n < 1000 {
        api.not_judged = Some(format!(
            "{n} invocations in this run, the target is over 1,000"
        ));
    }
    let events = Row::mb(
        &format!(
            "peak RSS upload-events after {} 100-record events (VmHWM)",
            m.event_batches
        ),
        mb(m.events_hwm_kb),
        "report",
        "",
    );
    vec![api, events]
}
