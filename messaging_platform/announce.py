"""`make run` prints the address to open once the server answers: python -m messaging_platform.announce URL"""

import sys
import time
import urllib.error
import urllib.request


def main(url: str, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):  # noqa: S310 - our own http URL
                pass
        except urllib.error.HTTPError:
            pass  # it answers (a degraded health check is still a server to open)
        except OSError:
            time.sleep(0.3)
            continue
        print(f"\n  Messaging Platform is up: open {url}/ in your browser.\n", flush=True)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1].rstrip("/")))
