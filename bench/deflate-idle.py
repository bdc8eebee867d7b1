#!/usr/bin/python3
"""Opens N WebSocket connections offering permessage-deflate as Chromium does
(`permessage-deflate; client_max_window_bits`), sends one compressed 2 KiB text message on each (so that both
directions compress: over ws's and sockeye's 1 KiB threshold) and reads its echo, then keeps them idle and
prints the server's RSS growth per connection 1 s and 8 s later (sockeye frees idle contexts after 5 s).
Usage: deflate-idle.py PORT SERVER_PID N"""
import asyncio, base64, json, os, resource, struct, sys, time, zlib
port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard))
def rss_kib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1])
MSG = json.dumps([{"id": i, "user": "user%d" % (i % 7), "text": "hello from the chat room %d" % i} for i in range(40)])[:2048].encode()
def frame(payload):
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    body = c.compress(payload) + c.flush(zlib.Z_SYNC_FLUSH)
    assert body.endswith(b"\x00\x00\xff\xff")
    body = body[:-4]
    mask = os.urandom(4)
    n = len(body)
    head = bytes([0xC1]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(body))
async def read_frame(r):
    b0, b1 = await r.readexactly(2)
    n = b1 & 0x7F
    if n == 126: n = struct.unpack("!H", await r.readexactly(2))[0]
    elif n == 127: n = struct.unpack("!Q", await r.readexactly(8))[0]
    return b0, await r.readexactly(n)
async def one(sem, conns, negotiated):
    async with sem:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        w.write((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n").encode())
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
        if b" 101 " not in head.split(b"\r\n")[0]: raise RuntimeError(head[:60])
        if b"permessage-deflate" in head.lower(): negotiated.append(1)
        w.write(frame(MSG))
        b0, payload = await asyncio.wait_for(read_frame(r), 10)
        if b0 & 0x40:
            payload = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
        if payload != MSG: raise RuntimeError("bad echo")
        conns.append((r, w))
async def main():
    time.sleep(0.5); base = rss_kib()
    sem = asyncio.Semaphore(200); conns = []; negotiated = []
    t0 = time.time()
    await asyncio.gather(*(one(sem, conns, negotiated) for _ in range(n)))
    secs = time.time() - t0
    await asyncio.sleep(1); at1 = rss_kib() - base
    await asyncio.sleep(7); at8 = rss_kib() - base
    print(f"{n} compressed idle connections in {secs:.1f} s ({len(negotiated)} negotiated); server RSS "
          f"+{at1/1024:.1f} MiB = {at1/n:.2f} KiB/conn after 1 s, +{at8/1024:.1f} MiB = {at8/n:.2f} KiB/conn after 8 s")
    for _, w in conns: w.close()
asyncio.run(main())
