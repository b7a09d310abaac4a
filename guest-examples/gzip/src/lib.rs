//! Gzip in a sandbox: `compress` and `decompress` take a file's bytes and
//! give the bytes of the file to write, the shape of a plugin that
//! `wpool run --files 'logs/*.txt' --out-dir DIR` maps over files.

use std::io::{Read as _, Write as _};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

wit_bindgen::generate!({ path: "wit" });

struct Gzip;

impl Guest for Gzip {
    fn compress(data: Vec<u8>) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder
            .write_all(&data)
            .and_then(|()| encoder.finish())
            .expect("writing into a Vec cannot fail")
    }

    fn decompress(data: Vec<u8>) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        GzDecoder::new(&data[..])
            .read_to_end(&mut out)
            .map_err(|e| format!("not a gzip file: {e}"))?;
        Ok(out)
    }
}

export!(Gzip);
