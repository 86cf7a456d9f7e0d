//! Reading a file to send on a blocking thread, in blocks handed over without copying (the
//! sender splits each block into data-channel messages that share its allocation), hashing
//! the whole file on the way when the digest is to follow the bytes.

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom};
use tokio::sync::mpsc;

/// What the reading thread hands over, in order.
pub enum Piece {
    Block(BytesMut),
    /// The SHA-256 of the whole file (from byte 0, whatever the offset), after the last block.
    Digest([u8; 32]),
}

/// One block read from the file: a multiple of the message size, so only the last message of
/// the file is short.
pub const BLOCK_BYTES: usize = tether_protocol::FILE_CHUNK_BYTES * 224;
/// Blocks read ahead of the sender (about 1 MiB).
const READ_AHEAD: usize = 4;

/// Read `file` from `offset` to its end on a blocking thread. Blocks arrive in order, then the
/// digest when `hash` is set (the bytes before `offset` are read again for it); an error ends
/// the stream; the stream ends early when the receiver is dropped.
pub fn read_from(
    file: std::fs::File,
    offset: u64,
    hash: bool,
) -> mpsc::Receiver<std::io::Result<Piece>> {
    let (pieces, rx) = mpsc::channel(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut hasher = hash.then(Sha256::new);
        let read = read_blocks(file, offset, hasher.as_mut(), &pieces);
        if let Err(e) = read {
            let _ = pieces.blocking_send(Err(e));
        } else if let Some(hasher) = hasher {
            let _ = pieces.blocking_send(Ok(Piece::Digest(hasher.finalize().into())));
        }
    });
    rx
}

/// Hash the bytes before `offset`, then send the blocks from there on; `Ok` also when the
/// receiver went away.
fn read_blocks(
    mut file: std::fs::File,
    offset: u64,
    mut hasher: Option<&mut Sha256>,
    pieces: &mpsc::Sender<std::io::Result<Piece>>,
) -> std::io::Result<()> {
    if let Some(hasher) = hasher.as_deref_mut() {
        let copied = std::io::copy(&mut (&mut file).take(offset), hasher)?;
        if copied < offset {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file is shorter than the offset",
            ));
        }
    } else {
        file.seek(SeekFrom::Start(offset))?;
    }
    loop {
        let mut block = Vec::with_capacity(BLOCK_BYTES);
        // `read_to_end` fills the spare capacity without zeroing it first.
        let n = (&mut file)
            .take(BLOCK_BYTES as u64)
            .read_to_end(&mut block)?;
        if n == 0 {
            return Ok(());
        }
        if let Some(hasher) = hasher.as_deref_mut() {
            hasher.update(&block);
        }
        let piece = Piece::Block(BytesMut::from(Bytes::from(block)));
        if pieces.blocking_send(Ok(piece)).is_err() || n < BLOCK_BYTES {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(bytes: &[u8], offset: u64, hash: bool) -> (Vec<BytesMut>, Option<[u8; 32]>) {
        let dir = std::env::temp_dir().join(format!("tether-blocks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(format!("f-{}-{offset}", bytes.len()));
        std::fs::write(&path, bytes).expect("write");
        let mut rx = read_from(std::fs::File::open(&path).expect("open"), offset, hash);
        let (mut out, mut digest) = (Vec::new(), None);
        while let Some(piece) = rx.recv().await {
            match piece.expect("read") {
                Piece::Block(b) => {
                    assert!(digest.is_none(), "a block after the digest");
                    out.push(b);
                }
                Piece::Digest(d) => digest = Some(d),
            }
        }
        let _ = std::fs::remove_file(&path);
        (out, digest)
    }

    #[tokio::test]
    async fn blocks_cover_the_file_from_the_offset() {
        let data: Vec<u8> = (0..BLOCK_BYTES * 2 + 100)
            .map(|i| (i % 251) as u8)
            .collect();
        let whole: [u8; 32] = Sha256::digest(&data).into();
        for (offset, blocks) in [(0usize, 3usize), (5, 3), (BLOCK_BYTES, 2), (data.len(), 0)] {
            for hash in [false, true] {
                let (got, digest) = read_all(&data, offset as u64, hash).await;
                assert_eq!(got.len(), blocks, "offset {offset}");
                assert!(got.iter().all(|b| b.len() <= BLOCK_BYTES && !b.is_empty()));
                assert_eq!(got.concat(), &data[offset..], "offset {offset}");
                assert_eq!(digest, hash.then_some(whole), "offset {offset}");
            }
        }
        assert!(read_all(&[], 0, false).await.0.is_empty());
        assert_eq!(
            read_all(&[], 0, true).await.1,
            Some(Sha256::digest([]).into())
        );
    }
}
