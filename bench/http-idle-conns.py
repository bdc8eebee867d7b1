#!/usr/bin/python3
"""Opens N keep-alive HTTP/1.1 connections to a server, sends one `GET /` on each and reads the response, keeps
them idle, and prints the server's RSS growth per connection (KiB). Usage: http-idle-conns.py PORT SERVER_PID N"""
import asyncio, resource, sys, time
port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard))
def rss_kib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1])
async def one(sem, conns):
    async with sem:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: idle\r\nAccept: */*\r\n\r\n".encode())
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
        if b" 200 " not in head.split(b"\r\n")[0]: raise RuntimeError(head[:60])
        length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
        await asyncio.wait_for(r.readexactly(int(length[0].split(b":")[1])), 10)
        conns.append((r, w))
async def main():
    time.sleep(0.5); base = rss_kib()
    sem = asyncio.Semaphore(200); conns = []
    t0 = time.time()
    await asyncio.gather(*(one(sem, conns) for _ in range(n)))
    await asyncio.sleep(3)
    grown = rss_kib() - base
    print(f"{n} idle keep-alive connections in {time.time()-t0:.1f} s; server RSS +{grown/1024:.1f} MiB = {grown/n:.2f} KiB per connection")
    for _, w in conns: w.close()
asyncio.run(main())
