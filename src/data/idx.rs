//! Reader for the IDX format of MNIST and Fashion-MNIST, plain or gzip-compressed.
//!
//! Layout: two zero bytes, a data-type byte (0x08 = unsigned byte, the only type these datasets
//! use), a byte with the number of dimensions, then each dimension as a big-endian u32, then the
//! values in row-major order. Sizes from the header are checked against the file before any
//! large allocation, so a corrupt header cannot ask for gigabytes.
use crate::error::{io_at, Error, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Largest payload accepted from a compressed file (whose size says nothing about the payload).
const MAX_GZ_PAYLOAD: usize = 4 << 30;

/// Reads an IDX file of unsigned bytes; `.gz` files (by content) are decompressed on the fly.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let raw = std::fs::read(path).map_err(io_at(path))?;
    if raw.starts_with(&GZIP_MAGIC) {
        let mut decoder = GzDecoder::new(raw.as_slice());
        let mut head = [0u8; 4];
        decoder
            .read_exact(&mut head)
            .map_err(|e| Error::format(path, format!("gzip stream too short for an IDX header ({e})")))?;
        let ndims = check_magic(path, head)?;
        let mut dim_bytes = vec![0u8; 4 * ndims];
        decoder
            .read_exact(&mut dim_bytes)
            .map_err(|_| Error::format(path, format!("truncated header: expected {ndims} dimensions")))?;
        let dims = parse_dims(&dim_bytes);
        let expected = payload_len(path, &dims)?;
        if expected > MAX_GZ_PAYLOAD {
            return Err(Error::format(
                path,
                format!("header declares {expected} bytes, more than the {MAX_GZ_PAYLOAD} accepted"),
            ));
        }
        let mut data = Vec::new();
        decoder
            .take(expected as u64 + 1)
            .read_to_end(&mut data)
            .map_err(|e| Error::format(path, format!("corrupt gzip stream: {e}")))?;
        check_len(path, &dims, expected, data.len())?;
        Ok(IdxArray { dims, data })
    } else {
        if raw.len() < 4 {
            return Err(Error::format(path, format!("{} bytes: too short for an IDX header (empty file?)", raw.len())));
        }
        let ndims = check_magic(path, [raw[0], raw[1], raw[2], raw[3]])?;
        let header = 4 + 4 * ndims;
        if raw.len() < header {
            return Err(Error::format(path, format!("truncated header: expected {ndims} dimensions")));
        }
        let dims = parse_dims(&raw[4..header]);
        let expected = payload_len(path, &dims)?;
        check_len(path, &dims, expected, raw.len() - header)?;
        Ok(IdxArray { dims, data: raw[header..].to_vec() })
    }
}

fn check_magic(path: &Path, head: [u8; 4]) -> Result<usize> {
    if head[0] != 0 || head[1] != 0 {
        return Err(Error::format(
            path,
            format!(
                "bad magic number 0x{:02x}{:02x}{:02x}{:02x}: an IDX file starts with two zero bytes (MNIST images: 0x00000803, labels: 0x00000801)",
                head[0], head[1], head[2], head[3]
            ),
        ));
    }
    if head[2] != 0x08 {
        return Err(Error::format(
            path,
            format!("IDX data type 0x{:02x} is not supported: expected 0x08 (unsigned byte)", head[2]),
        ));
    }
    match head[3] {
        1..=4 => Ok(head[3] as usize),
        n => Err(Error::format(path, format!("IDX header declares {n} dimensions: expected 1 to 4"))),
    }
}

fn parse_dims(bytes: &[u8]) -> Vec<usize> {
    bytes.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect()
}

fn payload_len(path: &Path, dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::format(path, format!("dimensions {dims:?} overflow")))
}

fn check_len(path: &Path, dims: &[usize], expected: usize, found: usize) -> Result<()> {
    let shape = dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x");
    if found < expected {
        Err(Error::format(path, format!("expected {expected} bytes of data ({shape}), found {found} (truncated?)")))
    } else if found > expected {
        Err(Error::format(
            path,
            format!("expected {expected} bytes of data ({shape}), found more (trailing bytes: wrong header?)"),
        ))
    } else {
        Ok(())
    }
}
