"""A real PyKMIP server (Debian's python3-pykmip) for one flow, and the `--kms kmip` arguments that reach it.

    from pykmip_server import PyKmipServer
    with PyKmipServer() as kmip:
        with Blobseal(extra_args=kmip.kms_args()) as server:    # serve's own --kms / --kms-setting
            ...
        subprocess.run([blobseal, *kmip.kms_args(), "keys", "list"])  # the same, as global options

A fresh test CA, server certificate (subjectAltName IP:127.0.0.1, serverAuth) and client certificate (clientAuth)
made with openssl in a temporary directory; the server on 127.0.0.1 at a free port with mutual TLS 1.2, in its own
process group (it runs a policy monitor as a child process). Ready when PyKMIP's own client gets an answer to
Discover Versions (a bare TCP probe would leave a TLS traceback in its log). Stopped by PID: SIGTERM, SIGKILL after
5 s (it waits for its sessions to end), then SIGKILL to whatever is left in its group; the directory is removed.
The C++ tests' counterpart is tests/keys/kmip/pykmip_server.{h,cc}; recipe: /work/shared/RECIPES.md, "KMIP".
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PYKMIP_SERVER = "/usr/bin/pykmip-server"
SYSTEM_PYTHON = "/usr/bin/python3"  # PyKMIP runs only on Debian's Python (3.11); the python3 first on PATH lacks it
SKIP = 77  # the exit code CTest's SKIP_RETURN_CODE maps to "skipped"


def require_pykmip():
    """Exits with SKIP (77) when PyKMIP or openssl is not installed: the only reason a KMIP flow may skip."""
    missing = [path for path in (PYKMIP_SERVER, SYSTEM_PYTHON) if not os.access(path, os.X_OK)]
    if shutil.which("openssl") is None:
        missing.append("openssl")
    if missing:
        print(f"skipped: PyKMIP is not installed ({', '.join(missing)} missing): apt-get install python3-pykmip "
              "openssl", file=sys.stderr)
        sys.exit(SKIP)


def free_local_port():
    """A port on 127.0.0.1 nobody listens on (bound and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PyKmipServer:
    def __init__(self, settings=("create_key=true",), start_timeout=60):
        """`settings`: more --kms-setting values (NAME=VALUE) added by kms_args(), e.g. refresh_interval_ms=500."""
        self.settings = list(settings)
        self.start_timeout = start_timeout
        self.directory = None
        self.port = None
        self.process = None

    def file(self, name):
        return os.path.join(self.directory, name)

    def kms_args(self, settings=()):
        """`--kms kmip` and its settings: this server's address, CA and client certificate, then this server's
        settings and `settings`."""
        arguments = ["--kms", "kmip"]
        for setting in ["host=127.0.0.1", f"port={self.port}", f"ca_file={self.file('ca.crt')}",
                        f"cert_file={self.file('client.crt')}", f"key_file={self.file('client.key')}",
                        *self.settings, *settings]:
            arguments += ["--kms-setting", setting]
        return arguments

    def log_tail(self, characters=4000):
        text = ""
        for name in ("server.out", "server.log"):
            try:
                with open(self.file(name), errors="replace") as f:
                    content = f.read()
            except OSError:
                content = ""
            text += f"--- {name}\n{content[-characters:]}\n"
        return text

    # -- life cycle ---------------------------------------------------------------------------------------------
    def __enter__(self):
        require_pykmip()
        self.directory = tempfile.mkdtemp(prefix="blobseal-it-kmip.")
        try:
            self._make_certificates()
            self._write_config()
            self._start()
            self._wait_until_ready()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def _openssl(self, *arguments):
        with open(self.file("setup.log"), "ab") as log:
            result = subprocess.run(["openssl", *arguments], cwd=self.directory, stdout=log, stderr=log,
                                    stdin=subprocess.DEVNULL, timeout=60)
        if result.returncode != 0:
            with open(self.file("setup.log"), errors="replace") as log:
                raise AssertionError(f"openssl {' '.join(arguments[:2])} failed:\n{log.read()[-3000:]}")

    def _certificate(self, name, subject, extensions):
        """A key and a certificate for `subject`, signed by the test CA, with `extensions`."""
        with open(self.file(name + ".ext"), "w") as f:
            f.write(extensions)
        self._openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                      "-subj", "/CN=" + subject)
        self._openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                      "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext")

    def _make_certificates(self):
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
                      "-days", "2", "-subj", "/CN=blobseal test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self._certificate("server", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                          "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
        self._certificate("client", "blobseal", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
        for name in os.listdir(self.directory):
            if name.endswith(".key"):
                os.chmod(self.file(name), 0o600)

    def _write_config(self):
        os.makedirs(self.file("policies"), mode=0o700)
        self.port = free_local_port()
        with open(self.file("server.conf"), "w") as f:
            f.write(f"[server]\nhostname=127.0.0.1\nport={self.port}\ncertificate_path={self.file('server.crt')}\n"
                    f"key_path={self.file('server.key')}\nca_path={self.file('ca.crt')}\nauth_suite=TLS1.2\n"
                    f"policy_path={self.file('policies')}\nenable_tls_client_auth=True\nlogging_level=INFO\n"
                    f"database_path={self.file('pykmip.db')}\n")
        os.chmod(self.file("server.conf"), 0o600)

    def _start(self):
        with open(self.file("server.out"), "wb") as out:
            # Its own session and process group: the policy monitor it forks is stopped with it (killpg below).
            self.process = subprocess.Popen(
                [SYSTEM_PYTHON, PYKMIP_SERVER, "-f", self.file("server.conf"), "-l", self.file("server.log")],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                cwd=self.directory)

    def _wait_until_ready(self):
        import logging
        from kmip.services.kmip_client import KMIPProxy
        # Its client logs every refused connection while the server starts; the last failure is reported below.
        logging.getLogger("kmip.services.kmip_client").setLevel(logging.CRITICAL)
        deadline = time.time() + self.start_timeout
        last = None
        while time.time() < deadline:
            if self._exited():
                raise AssertionError(f"pykmip-server exited during start-up:\n{self.log_tail()}")
            proxy = KMIPProxy(host="127.0.0.1", port=self.port, keyfile=self.file("client.key"),
                              certfile=self.file("client.crt"), cert_reqs="CERT_REQUIRED",
                              ssl_version="PROTOCOL_TLSv1_2", ca_certs=self.file("ca.crt"),
                              do_handshake_on_connect=True, suppress_ragged_eofs=True, timeout=5,
                              config_file=os.devnull)
            try:
                proxy.open()
                try:
                    result = proxy.discover_versions()
                finally:
                    proxy.close()
                if result.result_status.value.name == "SUCCESS":
                    return
                last = f"Discover Versions answered {result.result_status.value.name}"
            except Exception as exc:  # noqa: BLE001 - not up yet: connection refused, reset, timeout
                last = repr(exc)
            time.sleep(0.25)
        raise AssertionError(f"pykmip-server did not answer within {self.start_timeout} s (last: {last}):\n"
                             f"{self.log_tail()}")

    def _exited(self):
        """Whether the server has exited, without reaping it: while it is a zombie its PID, the id of its process
        group, cannot be reused, so the group can still be killed safely in stop()."""
        return os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None

    def stop(self):
        """SIGTERM, SIGKILL after 5 s, then SIGKILL to what is left of its process group. Idempotent."""
        if self.process is None:
            return
        pid = self.process.pid
        if not self._exited():
            os.kill(pid, signal.SIGTERM)  # the server stops its policy monitor itself
            deadline = time.time() + 5  # it waits for its sessions to end; a client may hold an idle one
            while not self._exited():
                if time.time() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    break
                time.sleep(0.1)
        try:
            os.killpg(pid, signal.SIGKILL)  # anything left in its group (a policy monitor it failed to stop)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.process = None

    def __exit__(self, exc_type, exc, tb):
        try:
            self.stop()
        finally:
            if exc_type is not None and self.directory:
                print(f"pykmip-server log:\n{self.log_tail()}", file=sys.stderr)
            if self.directory:
                shutil.rmtree(self.directory, ignore_errors=True)
                self.directory = None
        return False
