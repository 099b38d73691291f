#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# A hostile ETSI GS QKD 014 KME for tests/integration/test_qkd_hostile.sh.
#
#   hostile_kme.py PORT CERT KEY CA MODEFILE
#
# HTTPS with client certificates (CN = caller's SAE ID). It serves both SAEs
# and keeps the keys it handed out, so in mode "good" it is a working KME.
# MODEFILE holds the misbehaviour, read on every request:
#   good       correct answers
#   short      enc_keys: keys of 248 bits instead of 256
#   dup        enc_keys: the same key ID twice
#   count      enc_keys: one key less than asked
#   wrongid    dec_keys: keys under IDs that were not asked for (another SAE's keys)
#   wrongsae   status: about another master SAE
import base64
import json
import os
import ssl
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, CERT, KEY, CA, MODEFILE = sys.argv[1:6]
KEYS = {}  # key ID -> (bytes, master, slave)


def mode():
    try:
        with open(MODEFILE) as f:
            return f.read().strip()
    except OSError:
        return "good"


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def caller(self):
        cert = self.connection.getpeercert()
        for rdn in cert.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return ""

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def do_GET(self):
        parts = self.path.split("/")
        if len(parts) == 6 and parts[5] == "status":
            master = self.caller()
            if mode() == "wrongsae":
                master = "sae-someone-else"
            return self.reply(200, {
                "source_KME_ID": "kme-hostile", "target_KME_ID": "kme-hostile",
                "master_SAE_ID": master, "slave_SAE_ID": parts[4], "key_size": 256,
                "stored_key_count": 1000, "max_key_count": 1000, "max_key_per_request": 64,
                "max_key_size": 256, "min_key_size": 256, "max_SAE_ID_count": 0})
        self.reply(404, {"message": "not found"})

    def do_POST(self):
        parts = self.path.split("/")
        req = self.body()
        m = mode()
        if len(parts) == 6 and parts[5] == "enc_keys":
            n = int(req.get("number", 1))
            size = int(req.get("size", 256)) // 8
            out = []
            for i in range(n):
                kid = str(uuid.uuid4())
                key = os.urandom(size)
                KEYS[kid] = (key, self.caller(), parts[4])
                out.append({"key_ID": kid, "key": base64.b64encode(key).decode()})
            if m == "short":
                for k in out:
                    k["key"] = base64.b64encode(os.urandom(size - 1)).decode()
            elif m == "dup" and n > 1:
                out[1]["key_ID"] = out[0]["key_ID"]
            elif m == "count":
                out = out[:-1]
            return self.reply(200, {"keys": out})
        if len(parts) == 6 and parts[5] == "dec_keys":
            out = []
            for e in req.get("key_IDs", []):
                kid = e.get("key_ID")
                if kid not in KEYS:
                    return self.reply(400, {"message": "one or more keys specified are not found on KME"})
                key = KEYS.pop(kid)[0]
                if m == "wrongid":
                    kid = str(uuid.uuid4())
                out.append({"key_ID": kid, "key": base64.b64encode(key).decode()})
            return self.reply(200, {"keys": out})
        self.reply(404, {"message": "not found"})


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
ctx.load_verify_locations(CA)
ctx.verify_mode = ssl.CERT_REQUIRED
srv = ThreadingHTTPServer(("127.0.0.1", int(PORT)), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
