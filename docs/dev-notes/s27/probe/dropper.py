import os, sys, time
pid = int(sys.argv[1]); every = float(sys.argv[2])
while os.path.exists(f"/proc/{pid}"):
    seen = set()
    try:
        for e in os.listdir(f"/proc/{pid}/fd"):
            try: t = os.readlink(f"/proc/{pid}/fd/{e}")
            except OSError: continue
            if (t.endswith(".db") or t.endswith(".db-wal")) and t not in seen:
                seen.add(t)
                fd = os.open(t, os.O_RDONLY)
                os.fdatasync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)
    except OSError: pass
    time.sleep(every)
