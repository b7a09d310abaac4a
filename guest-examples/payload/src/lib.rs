//! Bytes in and out of a task: the payload benchmark's guest.

wit_bindgen::generate!({ path: "wit" });

struct Payload;

impl Guest for Payload {
    fn len(data: Vec<u8>) -> u64 {
        data.len() as u64
    }

    fn echo(data: Vec<u8>) -> Vec<u8> {
        data
    }
}

export!(Payload);
