#!/usr/bin/python3
"""Opens N idle connections to a server and prints what each costs it. Mode `ws`: complete the upgrade and echo
one small message on each; mode `http`: one keep-alive `GET /` and its response on each. The server must be
started with bench/gc-on-signal.cjs preloaded: before the baseline and after the connections are open, it is
asked (SIGUSR2) for two full GCs and its memory figures, so handshake garbage is not counted.
Prints one line: RSS and JS heap (heapUsed + external) growth per connection, in bytes and KiB.
Usage: idle-conns.py ws|http PORT SERVER_PID N REPORT_DIR"""
import asyncio, base64, json, os, resource, signal, sys, time
mode, port, pid, n, report_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard))
def rss_kib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1])
def gc_figures():
    path = f"{report_dir}/mu.{pid}.json"
    if os.path.exists(path): os.remove(path)
    os.kill(pid, signal.SIGUSR2)
    for _ in range(100):
        time.sleep(0.05)
        if os.path.exists(path) and os.path.getsize(path) > 0:
            time.sleep(0.05)
            m = json.load(open(path)); m["rss_kib"] = rss_kib(); return m
    raise RuntimeError("server did not answer SIGUSR2: start it with bench/gc-on-signal.cjs preloaded")
async def ws_conn(r, w):
    key = base64.b64encode(os.urandom(16)).decode()
    w.write((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
    if b" 101 " not in head.split(b"\r\n")[0]: raise RuntimeError(head[:60])
    # one small masked message and its echo, so per-connection state is fully set up
    w.write(bytes([0x81, 0x85, 1, 2, 3, 4]) + bytes(a ^ b for a, b in zip(b"hello", b"\x01\x02\x03\x04\x01")))
    echo = await asyncio.wait_for(r.readexactly(7), 10)
    if echo[2:] != b"hello": raise RuntimeError("bad echo")
async def http_conn(r, w):
    w.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: idle\r\nAccept: */*\r\n\r\n".encode())
    head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
    if b" 200 " not in head.split(b"\r\n")[0]: raise RuntimeError(head[:60])
    length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
    await asyncio.wait_for(r.readexactly(int(length[0].split(b":")[1])), 10)
async def one(sem, conns):
    async with sem:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        await (ws_conn(r, w) if mode == "ws" else http_conn(r, w))
        conns.append((r, w))
async def main():
    time.sleep(0.5); m0 = gc_figures()
    sem = asyncio.Semaphore(200); conns = []
    t0 = time.time()
    await asyncio.gather(*(one(sem, conns) for _ in range(n)))
    secs = time.time() - t0
    await asyncio.sleep(2)
    m1 = gc_figures()
    rss = (m1["rss_kib"] - m0["rss_kib"]) / n
    heap = ((m1["heapUsed"] + m1["external"]) - (m0["heapUsed"] + m0["external"])) / n
    print(f"{n} idle {mode} connections in {secs:.1f} s; after GC: RSS {rss:.2f} KiB/conn, JS heap {heap:.0f} B/conn")
    print(json.dumps({"rss_kib": rss, "heap_bytes": heap}))
    for _, w in conns: w.close()
asyncio.run(main())
