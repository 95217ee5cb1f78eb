import apsw, os, sys, threading, time
path = "/tmp/s27/rd.db"
rows = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
if not os.path.exists(path):
    c = apsw.Connection(path); c.execute("pragma journal_mode=wal")
    c.execute("create table a(id integer primary key, t text, d text)"); c.execute("create index ai on a(t)")
    with c:
        for i in range(rows): c.execute("insert into a(t,d) values(?,?)", (f"type{i%17}", "x"*200))
    c.close()
def vol():
    for line in open(f"/proc/self/task/{threading.get_native_id()}/status"):
        if line.startswith("voluntary"): return int(line.split()[1])
def drop():
    for p in (path, path + "-wal"):
        if os.path.exists(p):
            fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)
side = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
print("size", os.path.getsize(path))
for mode in ("plain", "willneed", "plain", "willneed", "warm"):
    if mode != "warm": drop()
    v0, t0 = vol(), time.perf_counter()
    if mode == "willneed":
        for p in (path, path + "-wal"):
            if os.path.exists(p):
                fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED); os.close(fd)
    side.pragma("shrink_memory")
    r = list(side.execute("pragma quick_check"))
    print(mode, r[0][0], "+%d" % (vol() - v0), "%.2f ms" % (1000 * (time.perf_counter() - t0)))
