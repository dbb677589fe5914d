"""yt-dlp fork server for ytdl-live.

Starting yt-dlp costs most of a second (more on a Raspberry Pi): Python starts, imports yt-dlp and
compiles the URL patterns of ~1,800 extractors before the first byte. This program pays that once,
then forks one child per download. The child runs yt-dlp's own entry point with the argv the
service would have passed on a command line, so behaviour is the same as a spawned yt-dlp.

Started and supervised by the service (src/ytdlp/fork_server.ts) with the Python of the yt-dlp it
serves: `python -u fork_server.py <socket path> <blank room> <service pid>`, where the blank
argument is room for each child's command line (see set_command_line). It prints one line,
`ready <yt-dlp version>`, once warm, and dies with its parent (PR_SET_PDEATHSIG). Requests come over a Unix socket, one JSON line
each, on three connections per download:

  stream connection (twice: stdout, stderr)
    -> {"op": "stream"}
    <- {"slot": "<id>"}          the connection becomes the child's stdout or stderr

  run connection
    -> {"op": "run", "argv": [...], "cwd": "...", "env": {...},
        "stdout": "<id>", "stderr": "<id>", "lock": "<path>" | null}
    <- {"pid": <pid>}            the child's pid, also its process group and session id
    <- {"exit": <code>, "signal": <number> | null}   once it has exited; killed by a signal, the
                                                     code is 128 + its number
    or {"error": "<why>"}        nothing was started

The server is single-threaded (forking a threaded process is unsafe): one select loop accepts
connections, reads requests and reaps children on SIGCHLD.
"""

import ctypes
import fcntl
import json
import os
import secrets
import selectors
import signal
import socket
import sys
import time

STREAM_SLOT_SECONDS = 30  # a stream connection not claimed by a run within this is closed
MAX_REQUEST_BYTES = 4 * 1024 * 1024  # argv and env of one run, with room to spare


def die_with_parent(service_pid):
    """Linux only: the kernel sends SIGKILL to this process when the service goes away.

    The service passes its pid: in a container it is pid 1 itself, so "reparented to 1" cannot
    be the sign that it died before prctl took effect; a parent other than the service is."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != service_pid:
        os._exit(0)


def warm():
    """Imports yt-dlp and what a download uses, and compiles every extractor's URL pattern."""
    import yt_dlp
    import yt_dlp.downloader  # noqa: F401  (HLS, DASH, HTTP downloaders)
    import yt_dlp.postprocessor  # noqa: F401  (ffmpeg merge, metadata, thumbnails)
    from yt_dlp.extractor import gen_extractor_classes
    from yt_dlp.version import __version__

    for extractor in gen_extractor_classes():
        try:
            extractor.suitable("https://warm-up.invalid/")
        except Exception:
            pass
    try:
        import yt_dlp.networking._requests  # noqa: F401  (the requests handler, when installed)
    except ImportError:
        pass
    # What every run does before its first byte, done once here so that children inherit it:
    # each step is optional (a future yt-dlp may lack one), none touches the network.
    steps = (warm_generic, warm_ffmpeg, warm_dates, remember_extractor_choice, warm_options, warm_tls)
    for step in steps:
        try:
            step(yt_dlp)
        except Exception:
            pass
    return yt_dlp, __version__


def warm_generic(yt_dlp):
    """The generic extractor (pages with <video>, direct links) is a real import, not lazy."""
    import yt_dlp.extractor.generic  # noqa: F401
    import yt_dlp.extractor.youtube  # noqa: F401


def warm_ffmpeg(yt_dlp):
    """yt-dlp asks `ffmpeg -bsfs` and `ffprobe` for their versions once per process (~0.1 s)."""
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor

    probe = FFmpegPostProcessor(None)
    probe._get_ffmpeg_version("ffmpeg")
    probe._get_ffmpeg_version("ffprobe")


def warm_dates(yt_dlp):
    """Date parsing compiles a regex per strptime format the first time it meets it."""
    from yt_dlp.utils import unified_strdate, unified_timestamp

    unified_timestamp("Mon, 30 Nov 2026 07:00:00 GMT")
    unified_strdate("20261130")


def remember_extractor_choice(yt_dlp):
    """Every YoutubeDL picks its extractors from ~1,800 names with a quadratic de-duplication
    (~0.07 s a run). The pick depends only on its arguments, so the server remembers each answer
    (the default one is computed by warm_options below) and children inherit it."""
    module = sys.modules["yt_dlp.YoutubeDL"]
    choose = module.orderedSet_from_options
    remembered = {}

    def remembering(options, alias_dict, *, use_regex=False, start=None):
        try:
            aliases = tuple((name, tuple(alias_dict[name])) for name in sorted(alias_dict))
            key = (tuple(options), aliases, use_regex, tuple(start or ()))
            hash(key)
        except TypeError:  # unhashable values: nothing to remember them by
            return choose(options, alias_dict, use_regex=use_regex, start=start)
        if key not in remembered:
            remembered[key] = list(choose(options, alias_dict, use_regex=use_regex, start=start))
        return list(remembered[key])

    module.orderedSet_from_options = remembering


def warm_tls(yt_dlp):
    """Loading the CA bundle into a TLS context costs each run ~0.04 s. The server builds one
    context with yt-dlp's default settings; in each child, the first request handler that asks
    for exactly those settings gets that child's copy of it, and every later one a new context."""
    import inspect

    common = sys.modules["yt_dlp.networking.common"]
    make = common.make_ssl_context
    signature = inspect.signature(make)
    settings = {"verify": True, "legacy_support": False, "use_certifi": True}
    wanted = signature.bind(**settings)
    wanted.apply_defaults()
    spare = [make(**settings)]

    def make_or_take(*args, **kwargs):
        asked = signature.bind(*args, **kwargs)
        asked.apply_defaults()
        keylog = os.environ.get("SSLKEYLOGFILE") or None
        if spare and asked.arguments == wanted.arguments and spare[0].keylog_filename == keylog:
            return spare.pop()
        return make(*args, **kwargs)

    common.make_ssl_context = make_or_take


def warm_options(yt_dlp):
    """Option parsing and a YoutubeDL with the extractors, as a run builds them."""
    options = yt_dlp.parse_options(["--ignore-config", "--", "http://warm-up.invalid/"])
    with yt_dlp.YoutubeDL(options.ydl_opts) as ydl:
        ydl.get_info_extractor("Generic")


def set_command_line(words):
    """Shows the child in `ps` as the yt-dlp command it runs, as a spawned one would be.

    The kernel reads /proc/<pid>/cmdline from the process's own argument memory, so the child
    overwrites that memory (through /proc/self/mem) with its argv. The service starts this server
    with a long blank argument to leave room for long URLs; what does not fit is cut.
    """
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48 and 49)
        text = "\0".join(words).encode("utf-8", "replace")[: end - start - 1]
        with open("/proc/self/mem", "r+b", buffering=0) as memory:
            memory.seek(start)
            memory.write(text + b"\0" * (end - start - len(text)))
    except (OSError, ValueError, IndexError):
        pass  # only cosmetic: ps shows the server's command line instead


def run_child(yt_dlp, request, stdout, stderr, go):
    """In the forked child: become a session leader, set up the task's world, run yt-dlp, exit."""
    os.setsid()  # its own process group: the service stops yt-dlp and its ffmpeg together
    for name in ("SIGCHLD", "SIGTERM", "SIGINT", "SIGPIPE"):
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(stdout.fileno(), 1)
    os.dup2(stderr.fileno(), 2)
    # Only 0, 1, 2 (and the lock below) stay open: the server's sockets are not the child's.
    os.closerange(3, go)
    os.closerange(go + 1, 65536)
    os.read(go, 1)  # the server has told the service our pid; output may start
    os.close(go)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if request.get("lock"):
        # Held for the child's lifetime, as `flock --no-fork` holds it for a spawned yt-dlp.
        lock = os.open(request["lock"], os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(lock, fcntl.LOCK_EX)
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
    sys.argv = ["yt-dlp", *request["argv"]]
    set_command_line(sys.argv)
    code = 1
    try:
        yt_dlp.main(request["argv"])
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class Server:
    def __init__(self, path, yt_dlp):
        self.yt_dlp = yt_dlp
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        os.chmod(path, 0o600)
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.slots = {}  # slot id -> (socket, when it was offered)
        self.children = {}  # pid -> run connection waiting for the exit
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")

    def serve(self):
        while True:
            for key, _ in self.selector.select(timeout=5):
                if key.data == "accept":
                    self.accept()
                elif key.data == "wake":
                    os.read(self.wake_r, 512)
                else:
                    self.read(key.fileobj, key.data)
            self.reap()
            self.expire_slots()

    def accept(self):
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self.selector.register(conn, selectors.EVENT_READ, bytearray())

    def read(self, conn, buffer):
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(conn)
            conn.close()
            return
        buffer += data
        if b"\n" not in buffer:
            if len(buffer) > MAX_REQUEST_BYTES:
                self.selector.unregister(conn)
                conn.close()
            return
        self.selector.unregister(conn)
        conn.setblocking(True)
        try:
            request = json.loads(buffer[: buffer.index(b"\n")])
            if request.get("op") == "stream":
                slot = secrets.token_hex(16)
                self.slots[slot] = (conn, time.monotonic())
                conn.sendall(json.dumps({"slot": slot}).encode() + b"\n")
            elif request.get("op") == "run":
                self.start(conn, request)
            else:
                raise ValueError("unknown op")
        except Exception as error:  # a bad request closes its connection, never the server
            try:
                conn.sendall(json.dumps({"error": str(error)}).encode() + b"\n")
            except OSError:
                pass
            conn.close()

    def start(self, conn, request):
        stdout = self.slots.pop(request["stdout"], (None,))[0]
        stderr = self.slots.pop(request["stderr"], (None,))[0]
        if stdout is None or stderr is None:
            raise ValueError("unknown stream slot")
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(go_w)
                run_child(self.yt_dlp, request, stdout, stderr, go_r)
            finally:
                os._exit(127)
        os.close(go_r)
        stdout.close()  # the child holds them now; EOF reaches the service when it exits
        stderr.close()
        self.children[pid] = conn
        try:
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        finally:
            os.write(go_w, b"g")
            os.close(go_w)

    def reap(self):
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            if os.WIFSIGNALED(status):
                message = {"exit": 128 + os.WTERMSIG(status), "signal": os.WTERMSIG(status)}
            else:
                message = {"exit": os.WEXITSTATUS(status), "signal": None}
            try:
                conn.sendall(json.dumps(message).encode() + b"\n")
            except OSError:
                pass
            conn.close()

    def expire_slots(self):
        now = time.monotonic()
        for slot, (conn, offered) in list(self.slots.items()):
            if now - offered > STREAM_SLOT_SECONDS:
                del self.slots[slot]
                conn.close()


def main():
    die_with_parent(int(sys.argv[3]))
    yt_dlp, version = warm()
    server = Server(sys.argv[1], yt_dlp)
    print(f"ready {version}", flush=True)
    server.serve()


if __name__ == "__main__":
    main()
