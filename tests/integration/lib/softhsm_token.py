"""A fresh SoftHSM2 token for one flow, and the `--kms pkcs11` arguments that select it.

    from softhsm_token import SoftHsmToken
    with SoftHsmToken() as token:
        with Blobseal(extra_args=token.kms_args()) as server:   # serve's own --kms / --kms-setting
            ...
        subprocess.run([blobseal, *token.kms_args(), "keys", "list"])  # the same, as global options

The token lives in a temporary directory (removed on exit) with its own softhsm2.conf. While the context is open,
SOFTHSM2_CONF and the PIN's environment variable are set in os.environ, so every process started meanwhile (the
server, the CLI; the harness copies os.environ when a Blobseal is made) finds the token; both are restored on exit.
Recipe: /work/shared/RECIPES.md, "PKCS#11: SoftHSM2".
"""
import os
import shutil
import subprocess
import sys
import tempfile

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SKIP = 77  # the exit code CTest's SKIP_RETURN_CODE maps to "skipped"


def require_softhsm():
    """Exits with SKIP (77) when SoftHSM2 is not installed: the only reason a SoftHSM2 flow may skip."""
    missing = [path for path in (MODULE, "/usr/bin/softhsm2-util") if not os.path.exists(path)]
    if missing:
        print(f"skipped: SoftHSM2 is not installed ({', '.join(missing)} missing): apt-get install softhsm2",
              file=sys.stderr)
        sys.exit(SKIP)


class SoftHsmToken:
    def __init__(self, label="blobseal-it", pin="31415926", so_pin="27182818284", pin_env="BLOBSEAL_IT_HSM_PIN",
                 settings=("create_default_key=true",)):
        """`settings`: more --kms-setting values (NAME=VALUE) added by kms_args(), e.g. refresh_interval_ms=200."""
        self.label = label
        self.pin = pin
        self.so_pin = so_pin
        self.pin_env = pin_env
        self.settings = list(settings)
        self.directory = None
        self._saved_environment = {}

    def kms_args(self, pin_env=None, settings=()):
        """`--kms pkcs11` and its settings: the module, this token by label, the PIN from the environment variable
        `pin_env` (default: the one this token set), then this token's settings and `settings`."""
        arguments = ["--kms", "pkcs11", "--kms-setting", f"module={MODULE}", "--kms-setting",
                     f"token_label={self.label}", "--kms-setting", f"pin_env={pin_env or self.pin_env}"]
        for setting in [*self.settings, *settings]:
            arguments += ["--kms-setting", setting]
        return arguments

    def __enter__(self):
        require_softhsm()
        self.directory = tempfile.mkdtemp(prefix="blobseal-it-hsm.")
        try:
            conf = os.path.join(self.directory, "softhsm2.conf")
            os.makedirs(os.path.join(self.directory, "tokens"))
            with open(conf, "w") as f:
                f.write(f"directories.tokendir = {self.directory}/tokens\nobjectstore.backend = file\n"
                        "log.level = ERROR\n")
            self._set_environment(SOFTHSM2_CONF=conf, **{self.pin_env: self.pin})
            subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", self.label, "--pin", self.pin,
                            "--so-pin", self.so_pin], check=True, stdout=subprocess.DEVNULL, timeout=60)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def _set_environment(self, **variables):
        for name, value in variables.items():
            self._saved_environment.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def __exit__(self, exc_type, exc, tb):
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment = {}
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
        return False
