#!/usr/bin/env python3
"""The ceiling for a 1 GB cross-node get on this machine: raw loopback TCP, 1 GiB sent by one
thread and received by another into a pre-faulted buffer (8 MiB socket buffers), 3 runs.

    python3 experiments/cluster/loopback.py
"""
import socket
import threading
import time

N = 1 << 30


def once():
    buf = bytearray(N)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def send():
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        c.connect(("127.0.0.1", port))
        c.sendall(memoryview(bytes(N)))
        c.close()

    t = threading.Thread(target=send)
    t.start()
    s, _ = srv.accept()
    start = time.time()
    view, got = memoryview(buf), 0
    while got < N:
        n = s.recv_into(view[got:], N - got)
        if n == 0:
            break
        got += n
    dt = time.time() - start
    t.join()
    s.close()
    srv.close()
    return got / dt / 1e9


rates = [once() for _ in range(3)]
print("raw loopback TCP, 1 GiB: " + " / ".join(f"{r:.2f}" for r in rates) + " GB/s")
