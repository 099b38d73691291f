#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# Move a file over one TCP connection (for the tunnel tests and the demo).
#   tcp_xfer.py recv ADDR PORT OUTFILE [TIMEOUT]   accept one connection, write what arrives
#   tcp_xfer.py send ADDR PORT INFILE [TIMEOUT]    connect (retrying), send the file
# Exit 0 when the whole stream was moved, 1 otherwise.
import socket
import sys
import time


def main():
    mode, addr, port, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 60.0
    fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
    if mode == 'recv':
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(1)
        s.settimeout(timeout)
        c, _ = s.accept()
        c.settimeout(timeout)
        with open(path, 'wb') as f:
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                f.write(b)
        return 0
    deadline = time.monotonic() + timeout
    while True:
        try:
            c = socket.create_connection((addr, port), timeout=timeout)
            break
        except OSError:
            if time.monotonic() > deadline:
                return 1
            time.sleep(0.1)
    with open(path, 'rb') as f:
        c.sendfile(f)
    c.shutdown(socket.SHUT_WR)
    c.recv(1)
    c.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
