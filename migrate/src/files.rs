//! Migration files: `NNN_name.sql` with an optional `NNN_name.down.sql`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::MigrateError;

#[derive(Debug, Clone)]
pub struct Migration {
    pub version: i64,
    pub name: String,
    pub file: PathBuf,
    pub up_sql: String,
    pub down_sql: Option<String>,
    pub checksum: String,
}

pub fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Loads `NNN_name.sql` (+ optional `NNN_name.down.sql`) files, in version order.
pub fn load_dir(dir: &Path) -> Result<Vec<Migration>, MigrateError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        MigrateError::Io(format!(
            "cannot read migrations directory {}: {e}",
            dir.display()
        ))
    })?;
    let mut out: Vec<Migration> = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| MigrateError::Io(format!("cannot list {}: {e}", dir.display())))?
            .path();
        let Some(fname) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        if !fname.ends_with(".sql") || fname.ends_with(".down.sql") {
            continue;
        }
        let stem = &fname[..fname.len() - 4];
        let (num, name) = stem.split_once('_').ok_or_else(|| {
            MigrateError::Usage(format!("migration file {fname} is not named NNN_name.sql"))
        })?;
        let version: i64 = num.parse().map_err(|_| {
            MigrateError::Usage(format!(
                "migration file {fname} does not start with a version number"
            ))
        })?;
        if let Some(other) = out.iter().find(|m| m.version == version) {
            return Err(MigrateError::Usage(format!(
                "two migrations have version {version}: {} and {fname}",
                other.file.display()
            )));
        }
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map_err(|e| MigrateError::Io(format!("cannot read {}: {e}", p.display())))
        };
        let up_sql = read(&path)?;
        let down_path = dir.join(format!("{stem}.down.sql"));
        let down_sql = if down_path.exists() {
            Some(read(&down_path)?)
        } else {
            None
        };
        out.push(Migration {
            version,
            name: name.to_owned(),
            checksum: checksum(&up_sql),
            file: path,
            up_sql,
            down_sql,
        });
    }
    out.sort_by_key(|m| m.version);
    Ok(out)
}
