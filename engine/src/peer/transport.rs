//! The transport settings of every connection: send back-pressure, and tokio's runtime with
//! UDP receive buffers big enough for a whole SCTP window. With the kernel's default socket
//! buffer (208 KiB) a fast transfer's datagrams overflow it whenever the connection's driver is
//! late to read, and a loss that fast retransmit does not repair waits out SCTP's 1 s minimum
//! retransmission timeout: throughput swung by a factor of four from one transfer to the next.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use webrtc::peer_connection::PeerConnectionBuilder;
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime, UdpSockRef, UdpSocketState,
};

/// Outstanding bytes per data channel before `send` waits (Chromium caps at 16 MiB; a few MiB
/// keeps the SCTP window full on loopback and memory small). Without a limit, webrtc-rs admits
/// every send and queues a whole file in memory.
pub const SEND_BUFFER_LIMIT: usize = 4 << 20;

/// Apply the engine's transport settings to a connection about to be built.
pub fn tuned<A: std::net::ToSocketAddrs>(
    builder: PeerConnectionBuilder<A>,
) -> PeerConnectionBuilder<A> {
    builder
        .with_runtime(RoomySockets::shared())
        .with_data_channel_send_buffer_limit(SEND_BUFFER_LIMIT)
}

/// The receive buffer asked for each socket. The kernel caps it at `net.core.rmem_max`, and
/// charges each datagram about twice its payload; the SCTP receive window is 1 MiB. (A larger
/// SCTP window was tried: transfers stalled for minutes.)
pub const UDP_RECEIVE_BUFFER: usize = 4 << 20;

/// Tokio's runtime for webrtc-rs, with roomy UDP receive buffers.
#[derive(Debug)]
pub struct RoomySockets(TokioRuntime);

impl RoomySockets {
    pub fn shared() -> Arc<dyn Runtime> {
        Arc::new(RoomySockets(TokioRuntime))
    }
}

/// Ask for `UDP_RECEIVE_BUFFER` bytes and return what the kernel granted. Failing to enlarge
/// the buffer is not an error: the socket works as before, only less smoothly.
pub fn enlarge_receive_buffer(socket: &std::net::UdpSocket) -> Option<usize> {
    let state = UdpSocketState::new(UdpSockRef::from(socket)).ok()?;
    let _ = state.set_recv_buffer_size(UdpSockRef::from(socket), UDP_RECEIVE_BUFFER);
    state.recv_buffer_size(UdpSockRef::from(socket)).ok()
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Runtime for RoomySockets {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.0.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.0.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        enlarge_receive_buffer(&socket);
        self.0.wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.0.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Boxed<'a, io::Result<Arc<dyn AsyncTcpStream>>> {
        self.0.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(&'a self, host: &'a str) -> Boxed<'a, io::Result<Vec<SocketAddr>>> {
        self.0.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.0.now()
    }

    fn sleep(&self, duration: Duration) -> Boxed<'static, ()> {
        self.0.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.0.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.0.block_on(future)
    }

    fn yield_now(&self) -> Boxed<'static, ()> {
        self.0.yield_now()
    }

    fn name(&self) -> &'static str {
        "tokio, roomy UDP receive buffers"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_gets_more_than_the_default_buffer() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let before = UdpSocketState::new(UdpSockRef::from(&socket))
            .and_then(|s| s.recv_buffer_size(UdpSockRef::from(&socket)))
            .expect("size");
        let after = enlarge_receive_buffer(&socket).expect("granted");
        // The kernel grants up to `net.core.rmem_max`; where that is the default, nothing
        // can grow, and the socket must still work.
        // Linux reports twice what was asked (its bookkeeping share).
        let max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        assert!(
            after >= UDP_RECEIVE_BUFFER.min(max) && after >= before,
            "buffer {before} → {after} with rmem_max {max}"
        );
    }
}
