//! File writers shared by the tests: each format written byte by byte, as its specification lays
//! it out.
#![allow(dead_code)]
use std::io::Write;

/// An IDX file: 0x00 0x00, type 0x08, ndims, big-endian dims, data.
pub fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

/// `bytes` gzip-compressed.
pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A CIFAR binary record: the label byte(s), then 3,072 known pixel bytes.
pub fn cifar_record(label_bytes: &[u8], seed: usize) -> Vec<u8> {
    let mut r = label_bytes.to_vec();
    r.extend((0..3072).map(|i| ((i * 7 + seed * 13) % 256) as u8));
    r
}

/// A MAT level-5 data element: tag (type, byte count) + data padded to 8 bytes.
pub fn element(ty: u32, data: &[u8]) -> Vec<u8> {
    let mut e = ty.to_le_bytes().to_vec();
    e.extend((data.len() as u32).to_le_bytes());
    e.extend_from_slice(data);
    while e.len() % 8 != 0 {
        e.push(0);
    }
    e
}

/// A miMATRIX variable: flags (class), dims, name, real part.
pub fn matrix(name: &str, class: u8, dims: &[i32], data_type: u32, data: &[u8]) -> Vec<u8> {
    let mut body = element(6, &[class, 0, 0, 0, 0, 0, 0, 0]);
    body.extend(element(5, &dims.iter().flat_map(|d| d.to_le_bytes()).collect::<Vec<_>>()));
    body.extend(element(1, name.as_bytes()));
    body.extend(element(data_type, data));
    element(14, &body)
}

/// A MAT v5 file of `vars`, each optionally zlib-compressed (miCOMPRESSED).
pub fn mat_file(vars: &[Vec<u8>], compress: bool) -> Vec<u8> {
    let mut header = b"MATLAB 5.0 MAT-file, written by the unlearn tests".to_vec();
    header.resize(116, b' ');
    header.extend([0u8; 8]);
    header.extend(0x0100u16.to_le_bytes());
    header.extend(b"IM");
    for v in vars {
        if compress {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(v).unwrap();
            let packed = z.finish().unwrap();
            header.extend(15u32.to_le_bytes());
            header.extend((packed.len() as u32).to_le_bytes());
            header.extend(packed);
        } else {
            header.extend(v);
        }
    }
    header
}
