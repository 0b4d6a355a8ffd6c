//! The gRPC codec of the client API's services and clients (and of the
//! benchmark's etcd client): prost's, with smaller buffers. tonic starts each request's and each response's
//! encoding and decoding buffer at 8 KiB; most of coffer's messages are a
//! few hundred bytes (a secret read's answer, its request, a peer's
//! acknowledgement), and an 8 KiB allocation is one glibc serves from its
//! shared heap (consolidating its fast bins first) rather than from the
//! thread's cache: ~2% of a leader's CPU serving audited reads
//! (bench/RESULTS.md, 'What was tried'). A larger message grows its buffer as
//! it is written. The peer API keeps tonic's buffers: its log entries run
//! to tens of KiB.

use std::marker::PhantomData;

use tonic::codec::BufferSettings;
use tonic_prost::{ProstDecoder, ProstEncoder};

/// A buffer's first size: under glibc's per-thread cache limit (chunks
/// of up to 1,032 bytes, header included).
const BUFFER_BYTES: usize = 1000;
/// tonic's default: how much a streamed response encodes before yielding.
const YIELD_THRESHOLD: usize = 32 * 1024;

/// prost's codec with [`BUFFER_BYTES`] buffers (named in `build.rs`).
#[derive(Debug, Clone, Copy)]
pub struct Codec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for Codec<T, U> {
    fn default() -> Self {
        Codec(PhantomData)
    }
}

fn settings() -> BufferSettings {
    BufferSettings::new(BUFFER_BYTES, YIELD_THRESHOLD)
}

impl<T, U> tonic::codec::Codec for Codec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::new(settings())
    }
}
