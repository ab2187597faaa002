//! A TensorBoard event-file writer for scalars.
//!
//! tensorboard-rs panics on I/O errors, stamps every event with `now()` and names its file
//! with a constant suffix, so two writers in one second collide. The format is small (a
//! TFRecord of `Event` protos), so it is written here with typed errors instead.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

const CRC32C_POLY: u32 = 0x82F6_3B78;

fn crc32c(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ CRC32C_POLY
                } else {
                    c >> 1
                };
            }
            *e = c;
        }
        t
    });
    let mut crc = !0u32;
    for b in data {
        crc = table[((crc ^ *b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c(data);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(tag: u8, data: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

/// Writes scalar summaries to one `events.out.tfevents.*` file.
pub struct EventWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// Creates the event file in `dir` and writes the file-version header event.
    pub fn create(dir: &Path) -> std::io::Result<EventWriter> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        let path = dir.join(format!(
            "events.out.tfevents.{}.{}.{}",
            now.as_secs(),
            host,
            std::process::id()
        ));
        let out = BufWriter::new(File::create(&path)?);
        let mut w = EventWriter { out, path };
        let mut ev = Vec::new();
        ev.push(0x09);
        ev.extend_from_slice(&now.as_secs_f64().to_le_bytes());
        bytes_field(0x1a, b"brain.Event:2", &mut ev);
        w.record(&ev)?;
        Ok(w)
    }

    /// The event file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn record(&mut self, data: &[u8]) -> std::io::Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        self.out.write_all(&len)?;
        self.out.write_all(&masked_crc(&len).to_le_bytes())?;
        self.out.write_all(data)?;
        self.out.write_all(&masked_crc(data).to_le_bytes())
    }

    /// Writes one event holding all `scalars` at `step`.
    pub fn add_scalars(&mut self, scalars: &[(String, f32)], step: i64) -> std::io::Result<()> {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let mut summary = Vec::new();
        for (tag, v) in scalars {
            let mut value = Vec::new();
            bytes_field(0x0a, tag.as_bytes(), &mut value);
            value.push(0x15);
            value.extend_from_slice(&v.to_le_bytes());
            bytes_field(0x0a, &value, &mut summary);
        }
        let mut ev = Vec::new();
        ev.push(0x09);
        ev.extend_from_slice(&wall.to_le_bytes());
        ev.push(0x10);
        varint(step as u64, &mut ev);
        bytes_field(0x2a, &summary, &mut ev);
        self.record(&ev)
    }

    /// Pushes buffered events to disk.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }
}
