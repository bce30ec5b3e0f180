"""The web server the docker-tier domain test starts in a container (by a provisioner).

GET / says hello; GET /stream sends a first chunk, then the last once /tmp/release exists (the
test creates it after it received the first); an upgrade to `echo` on /echo answers 101 and
echoes bytes until the client closes.
"""
import http.server
import os
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):
        if self.path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.chunk(b"first\n")
            for _ in range(600):
                if os.path.exists("/tmp/release"):
                    break
                time.sleep(0.05)
            self.chunk(b"last\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        elif self.path == "/echo" and self.headers.get("Upgrade", "").lower() == "echo":
            self.send_response(101)
            self.send_header("Connection", "Upgrade")
            self.send_header("Upgrade", "echo")
            self.end_headers()
            self.wfile.flush()
            while True:
                data = self.connection.recv(4096)
                if not data:
                    break
                self.connection.sendall(data)
            self.close_connection = True
        else:
            body = ("hello from the container %s\n" % os.uname().nodename).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
