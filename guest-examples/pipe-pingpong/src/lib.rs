//! Seed example 4, `multiprocessing.Pipe`: two processes talk both ways
//! over the two ends of one pipe.

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "wpool-examples:pipe-pingpong/pipe-pingpong",
    generate_all,
});

use wpool::task::pipe::{Connection, End};
use wpool::task::types::Error;

struct PipePingpong;

fn describe(error: Error) -> String {
    format!("pipe table: {error:?}")
}

impl Guest for PipePingpong {
    fn ping(rounds: u32) -> Result<u32, String> {
        let end = Connection::open("table", End::A).map_err(describe)?;
        for round in 0..rounds {
            end.send(format!("ping {round}").as_bytes(), None)
                .map_err(describe)?;
            let answer = end.recv(None).map_err(describe)?;
            println!("{}", String::from_utf8_lossy(&answer));
        }
        end.close().map_err(describe)?;
        Ok(rounds)
    }

    fn pong() -> Result<u32, String> {
        let end = Connection::open("table", End::B).map_err(describe)?;
        let mut answered = 0;
        loop {
            match end.recv(None) {
                Ok(message) => {
                    let message = String::from_utf8_lossy(&message).into_owned();
                    println!("{message}");
                    let reply = message.replacen("ping", "pong", 1);
                    end.send(reply.as_bytes(), None).map_err(describe)?;
                    answered += 1;
                }
                Err(Error::Closed) => return Ok(answered),
                Err(error) => return Err(describe(error)),
            }
        }
    }
}

export!(PipePingpong);
