//! A snapshot's bytes as openraft reads and writes them. A snapshot this
//! node built is a RocksDB checkpoint (see `storage::snapshots`); its bytes
//! in the snapshot file format are produced only when something reads them
//! (a follower that needs the snapshot, a backup), on a blocking thread,
//! never on the task that asked for the snapshot. A snapshot being received
//! is a plain file from the start.

use std::future::Future;
use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};
use tokio::task::JoinHandle;

type Open = Box<dyn FnOnce() -> io::Result<std::fs::File> + Send>;

/// openraft's `SnapshotData`: a file, or one opened when first read.
pub struct SnapshotData {
    state: State,
    /// A seek asked for before the file was open, applied once it is.
    pending_seek: Option<SeekFrom>,
}

enum State {
    Ready(tokio::fs::File),
    Lazy(Open),
    Opening(JoinHandle<io::Result<std::fs::File>>),
    Failed(io::ErrorKind, String),
}

impl SnapshotData {
    /// An open file (a snapshot being received, or one already written).
    pub fn file(file: std::fs::File) -> Self {
        SnapshotData { state: State::Ready(tokio::fs::File::from_std(file)), pending_seek: None }
    }

    /// Bytes that `open` produces (on a blocking thread) when first read.
    pub fn lazy(open: impl FnOnce() -> io::Result<std::fs::File> + Send + 'static) -> Self {
        SnapshotData { state: State::Lazy(Box::new(open)), pending_seek: None }
    }

    /// The file itself (opened now if it was not yet).
    pub async fn into_std(mut self) -> io::Result<std::fs::File> {
        std::future::poll_fn(|cx| self.poll_open(cx).map_ok(drop)).await?;
        match self.state {
            State::Ready(f) => Ok(f.into_std().await),
            _ => Err(io::Error::other("snapshot data not open")),
        }
    }

    /// Drives the file open; once it is, starts any seek asked for before.
    fn poll_open(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Pin<&mut tokio::fs::File>>> {
        loop {
            match &mut self.state {
                State::Ready(_) => break,
                State::Lazy(_) => {
                    let State::Lazy(open) =
                        std::mem::replace(&mut self.state, State::Failed(io::ErrorKind::Other, String::new()))
                    else {
                        unreachable!("matched Lazy above")
                    };
                    self.state = State::Opening(tokio::task::spawn_blocking(open));
                }
                State::Opening(task) => {
                    let opened =
                        ready!(Pin::new(task).poll(cx)).unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
                    self.state = match opened {
                        Ok(f) => State::Ready(tokio::fs::File::from_std(f)),
                        Err(e) => State::Failed(e.kind(), e.to_string()),
                    };
                }
                State::Failed(kind, msg) => return Poll::Ready(Err(io::Error::new(*kind, msg.clone()))),
            }
        }
        let State::Ready(file) = &mut self.state else { unreachable!("the loop ends only when Ready") };
        // The file's own poll_read and poll_complete finish this seek first.
        if let Some(pos) = self.pending_seek.take() {
            Pin::new(&mut *file).start_seek(pos)?;
        }
        Poll::Ready(Ok(Pin::new(file)))
    }

    fn writable(&mut self) -> io::Result<Pin<&mut tokio::fs::File>> {
        match &mut self.state {
            State::Ready(f) if self.pending_seek.is_none() => Ok(Pin::new(f)),
            _ => Err(io::Error::new(io::ErrorKind::Unsupported, "a built snapshot is read-only")),
        }
    }
}

impl AsyncRead for SnapshotData {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let file = ready!(self.get_mut().poll_open(cx))?;
        file.poll_read(cx, buf)
    }
}

impl AsyncSeek for SnapshotData {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        match &mut this.state {
            State::Ready(f) if this.pending_seek.is_none() => Pin::new(f).start_seek(position),
            _ => {
                this.pending_seek = Some(position);
                Ok(())
            }
        }
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let file = ready!(self.get_mut().poll_open(cx))?;
        file.poll_complete(cx)
    }
}

impl AsyncWrite for SnapshotData {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().writable()?.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().writable()?.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().writable()?.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

    use super::*;

    fn temp_with(bytes: &[u8]) -> std::fs::File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[tokio::test]
    async fn lazy_data_opens_once_when_first_read_and_honours_an_earlier_seek() {
        let opened = Arc::new(AtomicUsize::new(0));
        let counter = opened.clone();
        let mut data = SnapshotData::lazy(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(temp_with(b"0123456789"))
        });
        tokio::task::yield_now().await;
        assert_eq!(opened.load(Ordering::SeqCst), 0, "nothing is produced before a read");
        assert_eq!(data.seek(SeekFrom::End(0)).await.unwrap(), 10);
        data.seek(SeekFrom::Start(4)).await.unwrap();
        let mut s = String::new();
        data.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "456789");
        assert_eq!(opened.load(Ordering::SeqCst), 1);

        let mut again = SnapshotData::lazy(|| Ok(temp_with(b"0123456789")));
        again.seek(SeekFrom::Start(3)).await.unwrap();
        s.clear();
        again.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "3456789");

        let mut unopened = SnapshotData::lazy(|| Ok(temp_with(b"")));
        let e = unopened.write_all(b"x").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
    }

    #[tokio::test]
    async fn a_failed_open_is_an_error_on_every_read_not_a_panic() {
        let mut data = SnapshotData::lazy(|| Err(io::Error::new(io::ErrorKind::NotFound, "checkpoint gone")));
        let mut buf = Vec::new();
        for _ in 0..2 {
            let e = data.read_to_end(&mut buf).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound);
        }
        assert!(SnapshotData::lazy(|| Err(io::Error::other("x"))).into_std().await.is_err());
    }

    #[tokio::test]
    async fn a_received_snapshot_is_written_then_read_back() {
        let mut data = SnapshotData::file(tempfile::tempfile().unwrap());
        data.write_all(b"chunk one, ").await.unwrap();
        data.write_all(b"chunk two").await.unwrap();
        data.flush().await.unwrap();
        let mut f = data.into_std().await.unwrap();
        use std::io::{Read, Seek};
        f.seek(SeekFrom::Start(0)).unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!(s, "chunk one, chunk two");
    }
}
