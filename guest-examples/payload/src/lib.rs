//! Bytes in and out of a task: the payload benchmark's guest, and the
//! shapes the value-size tests move payloads in (strings, records, lists
//! and results holding bytes).

wit_bindgen::generate!({ path: "wit" });

struct Payload;

impl Guest for Payload {
    fn len(data: Vec<u8>) -> u64 {
        data.len() as u64
    }

    fn echo(data: Vec<u8>) -> Vec<u8> {
        data
    }

    fn echo_text(text: String) -> String {
        text
    }

    fn echo_blob(b: Blob) -> Blob {
        b
    }

    fn echo_chunks(chunks: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        chunks
    }

    fn check(data: Vec<u8>) -> Result<Vec<u8>, String> {
        match data.is_empty() {
            true => Err("no data".into()),
            false => Ok(data),
        }
    }

    fn check_blob(b: Blob) -> Result<Vec<u8>, String> {
        match b.data.is_empty() {
            true => Err(format!("{} has no data", b.name)),
            false => Ok(b.data),
        }
    }
}

export!(Payload);
