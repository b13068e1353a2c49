//! A reader for the numeric arrays of MATLAB Level-5 MAT files (what SVHN's `*_32x32.mat` are),
//! compressed (`miCOMPRESSED`, zlib) or not.
//!
//! Written here rather than taken from a crate because a loader must say exactly what is wrong
//! with a file (which variable, which size) and must never allocate more than the file can hold:
//! every size read from a header is checked before anything is allocated.
//!
//! Layout: a 128-byte header (text, subsystem offset, version 0x0100, endian indicator "IM" for
//! little-endian); then data elements, each an 8-byte tag (type u32, byte count u32) or a 4-byte
//! "small element" tag (count in the upper 16 bits), padded to 8 bytes. A variable is an
//! `miMATRIX` element: array flags, dimensions, name, real part.
use crate::error::{Error, Result};
use flate2::read::ZlibDecoder;
use std::io::Read;
use std::path::Path;

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;

/// Largest decompressed variable accepted (a compressed size says little about the content).
/// The largest inflate ratio zlib can produce (deflate's limit is about 1032:1).
const MAX_ZLIB_RATIO: usize = 1100;
const MAX_VARIABLE: usize = 8 << 30;

/// The numeric data of a variable, kept in the type it was stored as.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    U8(Vec<u8>),
    F64(Vec<f64>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::U8(v) => v.len(),
            Values::F64(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Element `i` as f64.
    pub fn get(&self, i: usize) -> f64 {
        match self {
            Values::U8(v) => v[i] as f64,
            Values::F64(v) => v[i],
        }
    }
}

/// One variable: name, dimensions (column-major, as MATLAB stores them) and values.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    pub name: String,
    pub dims: Vec<usize>,
    pub values: Values,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    little: bool,
}

impl<'a> Cursor<'a> {
    fn u32(&mut self) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(self.pos..self.pos + 4)?.try_into().ok()?;
        self.pos += 4;
        Some(if self.little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn align8(&mut self) {
        self.pos = self.pos.div_ceil(8) * 8;
    }
    /// Reads a tag: (type, byte count, small-format).
    fn tag(&mut self) -> Option<(u32, usize, bool)> {
        let first = self.u32()?;
        if first >> 16 != 0 {
            Some((first & 0xffff, (first >> 16) as usize, true))
        } else {
            Some((first, self.u32()? as usize, false))
        }
    }
    /// Reads a whole sub-element: (type, data).
    fn element(&mut self) -> Option<(u32, &'a [u8])> {
        let (ty, n, small) = self.tag()?;
        if small {
            let data = self.take(4)?;
            return Some((ty, &data[..n.min(4)]));
        }
        let data = self.take(n)?;
        self.align8();
        Some((ty, data))
    }
}

/// Reads the variables named in `wanted` from a MAT file (others are skipped without decoding).
pub fn read_variables(path: &Path, wanted: &[&str]) -> Result<Vec<Variable>> {
    let bytes = std::fs::read(path).map_err(crate::error::io_at(path))?;
    let bad = |msg: String| Error::format(path, msg);
    if bytes.len() < 128 {
        return Err(bad(format!("{} bytes: too short for a MAT-file header (128 bytes)", bytes.len())));
    }
    let little = match &bytes[126..128] {
        b"IM" => true,
        b"MI" => false,
        other => {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(20)]).into_owned();
            return Err(bad(format!(
                "not a MATLAB 5 MAT file: endian indicator {other:?}, header starts {text:?} (MATLAB 7.3 / HDF5 files are not supported; save with -v7)"
            )));
        }
    };
    let mut cur = Cursor { bytes: &bytes, pos: 128, little };
    let mut found = Vec::new();
    while cur.pos + 8 <= bytes.len() {
        let start = cur.pos;
        let (ty, n, small) = cur.tag().ok_or_else(|| bad(format!("truncated element tag at byte {start}")))?;
        if small || cur.pos + n > bytes.len() {
            return Err(bad(format!(
                "element at byte {start} declares {n} bytes but only {} remain (truncated?)",
                bytes.len() - cur.pos
            )));
        }
        let body = &bytes[cur.pos..cur.pos + n];
        cur.pos += n;
        match ty {
            MI_COMPRESSED => {
                if let Some(v) = read_compressed(path, body, little, wanted, start)? {
                    found.push(v);
                }
            }
            MI_MATRIX => {
                cur.align8();
                if let Some(v) = read_matrix(path, body, little, wanted, start)? {
                    found.push(v);
                }
            }
            _ => cur.align8(),
        }
    }
    for w in wanted {
        if !found.iter().any(|v| v.name == *w) {
            let names: Vec<&str> = found.iter().map(|v| v.name.as_str()).collect();
            return Err(bad(format!("no variable `{w}` (found {names:?})")));
        }
    }
    Ok(found)
}

fn read_compressed(path: &Path, body: &[u8], little: bool, wanted: &[&str], at: usize) -> Result<Option<Variable>> {
    let bad = |msg: String| Error::format(path, format!("compressed element at byte {at}: {msg}"));
    let mut z = ZlibDecoder::new(body);
    let mut tag = [0u8; 8];
    z.read_exact(&mut tag).map_err(|e| bad(format!("cannot inflate ({e})")))?;
    let word = |b: &[u8]| {
        let b: [u8; 4] = b.try_into().unwrap_or([0; 4]);
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let (ty, n) = (word(&tag[..4]), word(&tag[4..]) as usize);
    if ty != MI_MATRIX {
        return Ok(None);
    }
    if n > MAX_VARIABLE {
        return Err(bad(format!("variable of {n} bytes is larger than the {MAX_VARIABLE} accepted")));
    }
    // zlib inflates at most about 1032:1, so a declared size beyond that is a lie; checking it
    // before inflating bounds the allocation by the file's own size
    if n > body.len().saturating_mul(MAX_ZLIB_RATIO).saturating_add(1024) {
        return Err(bad(format!(
            "declares {n} bytes from {} compressed bytes, more than zlib can inflate to",
            body.len()
        )));
    }
    // read the sub-element headers first, to skip unwanted variables cheaply
    let mut inner = Vec::with_capacity(n.min(1 << 16));
    (&mut z).take(n.min(256) as u64).read_to_end(&mut inner).map_err(|e| bad(format!("cannot inflate ({e})")))?;
    match matrix_name(&inner, little) {
        Some(name) if !wanted.contains(&name.as_str()) => return Ok(None),
        _ => {}
    }
    (&mut z)
        .take((n - inner.len()) as u64)
        .read_to_end(&mut inner)
        .map_err(|e| bad(format!("cannot inflate ({e})")))?;
    if inner.len() < n {
        return Err(bad(format!("inflates to {} bytes, the variable declares {n} (truncated?)", inner.len())));
    }
    read_matrix(path, &inner, little, wanted, at)
}

/// The name of a matrix from the start of its body (flags, dims, name), if readable.
fn matrix_name(body: &[u8], little: bool) -> Option<String> {
    let mut c = Cursor { bytes: body, pos: 0, little };
    c.element()?;
    c.element()?;
    let (_, name) = c.element()?;
    Some(String::from_utf8_lossy(name).into_owned())
}

fn read_matrix(path: &Path, body: &[u8], little: bool, wanted: &[&str], at: usize) -> Result<Option<Variable>> {
    let bad = |msg: String| Error::format(path, format!("variable at byte {at}: {msg}"));
    let mut c = Cursor { bytes: body, pos: 0, little };
    let (_, _flags) = c.element().ok_or_else(|| bad("truncated array flags".into()))?;
    let (dty, dims) = c.element().ok_or_else(|| bad("truncated dimensions".into()))?;
    if dty != MI_INT32 || dims.len() % 4 != 0 || dims.is_empty() {
        return Err(bad(format!("dimensions stored as type {dty} with {} bytes: expected int32 values", dims.len())));
    }
    let dims: Vec<usize> = dims
        .chunks_exact(4)
        .map(|b| {
            let b: [u8; 4] = [b[0], b[1], b[2], b[3]];
            (if little { i32::from_le_bytes(b) } else { i32::from_be_bytes(b) }).max(0) as usize
        })
        .collect();
    let (_, name) = c.element().ok_or_else(|| bad("truncated name".into()))?;
    let name = String::from_utf8_lossy(name).into_owned();
    if !wanted.contains(&name.as_str()) {
        return Ok(None);
    }
    let bad = |msg: String| Error::format(path, format!("variable `{name}`: {msg}"));
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(format!("dimensions {dims:?} overflow")))?;
    let (ty, data) = c
        .element()
        .ok_or_else(|| bad(format!("truncated data: dimensions {dims:?} need more bytes than the file has")))?;
    let width = match ty {
        MI_INT8 | MI_UINT8 => 1,
        MI_INT16 | MI_UINT16 => 2,
        MI_INT32 | MI_UINT32 | MI_SINGLE => 4,
        MI_DOUBLE | MI_INT64 | MI_UINT64 => 8,
        other => return Err(bad(format!("data type {other} is not a supported numeric type"))),
    };
    let need = count.checked_mul(width).ok_or_else(|| bad(format!("dimensions {dims:?} overflow")))?;
    if data.len() != need {
        return Err(bad(format!("dimensions {dims:?} need {need} bytes of data, found {} (truncated?)", data.len())));
    }
    let word = |b: &[u8]| -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..b.len()].copy_from_slice(b);
        out
    };
    let values = match ty {
        MI_UINT8 => Values::U8(data.to_vec()),
        _ => Values::F64(
            data.chunks_exact(width)
                .map(|b| {
                    let w = word(b);
                    let le = |n: usize| {
                        let mut x = [0u8; 8];
                        if little {
                            x[..n].copy_from_slice(&w[..n]);
                        } else {
                            for i in 0..n {
                                x[i] = w[n - 1 - i];
                            }
                        }
                        x
                    };
                    match ty {
                        MI_INT8 => w[0] as i8 as f64,
                        MI_INT16 => i16::from_le_bytes([le(2)[0], le(2)[1]]) as f64,
                        MI_UINT16 => u16::from_le_bytes([le(2)[0], le(2)[1]]) as f64,
                        MI_INT32 => i32::from_le_bytes(le(4)[..4].try_into().unwrap_or([0; 4])) as f64,
                        MI_UINT32 => u32::from_le_bytes(le(4)[..4].try_into().unwrap_or([0; 4])) as f64,
                        MI_SINGLE => f32::from_le_bytes(le(4)[..4].try_into().unwrap_or([0; 4])) as f64,
                        MI_DOUBLE => f64::from_le_bytes(le(8)),
                        MI_INT64 => i64::from_le_bytes(le(8)) as f64,
                        _ => u64::from_le_bytes(le(8)) as f64,
                    }
                })
                .collect(),
        ),
    };
    Ok(Some(Variable { name, dims, values }))
}
