"""flood.py SOCKET SECONDS MODE: close = connect and close; send = connect, send a
status line, read the answer (or EOF), close. Prints: tried connected answered."""
import socket
import sys
import time

path, secs, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]
LINE = b'{"jsonrpc":"2.0","id":1,"method":"status"}\n'
end = time.monotonic() + secs
tried = connected = answered = 0
while time.monotonic() < end:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    tried += 1
    try:
        s.connect(path)
        connected += 1
        if mode == "send":
            s.sendall(LINE)
            data = b""
            while b"\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            if b"\n" in data:
                answered += 1
    except OSError:
        pass
    s.close()
print(tried, connected, answered, flush=True)
