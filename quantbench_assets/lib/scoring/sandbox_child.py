"""The child side of the sandbox: the bootstrap the sandboxed interpreter runs (`python -I -B -c`). It
applies the kernel layers, installs the audit hook, runs the code and its tests, classifies the first
failure and writes one JSON result line carrying the run's nonce to the result pipe."""

# Runs in the sandboxed interpreter: read the payload, install the audit hook, exec code and tests,
# write one JSON result line carrying the nonce to fd 3.
BOOTSTRAP = r'''
import errno as _errno, json as _json, os as _os, sys as _sys
_payload = _json.loads(_sys.stdin.read())
_nonce = _payload.pop("nonce")
# Kernel layers, applied here in a fresh single-threaded interpreter before any completion code runs
# (not in a preexec_fn: that runs Python between fork and exec, unsafe when the parent has threads).
_applied = []
if _payload.get("netns"):
    import ctypes as _ctypes
    if _ctypes.CDLL(None, use_errno=True).unshare(0x40000000) == 0:  # CLONE_NEWNET
        _applied.append("netns")
if _payload.get("uid") is not None:
    _os.setgroups([])
    _os.setgid(_payload["uid"])
    _os.setuid(_payload["uid"])
    _applied.append("uid")
import resource as _resource
for _name, _value in _payload["rlimits"].items():
    _resource.setrlimit(getattr(_resource, _name), tuple(_value))
_root = _os.path.realpath(_os.getcwd())
_violations = []
_RESULT_FD = _payload.pop("result_fd")

def _result(**kw):
    kw["nonce"] = _nonce
    kw["violations"] = _violations[:20]
    kw["applied"] = _applied
    try:
        _os.write(_RESULT_FD, (_json.dumps(kw) + "\n").encode())
    except OSError:
        pass

_PROC = ("os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system", "subprocess.Popen",
         "os.kill", "os.killpg", "pty.spawn")
_FS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.symlink",
       "os.link", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile", "shutil.copytree", "os.chdir",
       "os.chroot", "os.setxattr", "os.removexattr")

def _inside(p):
    if isinstance(p, int):
        return True
    try:
        p = _os.fsdecode(p)
    except Exception:
        return False
    real = _os.path.realpath(_os.path.join(_root, p))
    return real == _root or real.startswith(_root + _os.sep)

def _hook(event, args):
    kind = None
    if event.startswith("socket."):
        kind = "network_blocked"
    elif event in _PROC:
        kind = "process_blocked"
    elif event == "open":
        path, mode, flags = (list(args) + [None, None, None])[:3]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (_os.O_WRONLY | _os.O_RDWR | _os.O_CREAT | _os.O_TRUNC | _os.O_APPEND))
        if writing and not _inside(path):
            kind = "filesystem_blocked"
    elif event in _FS:
        paths = [a for a in args[:2] if isinstance(a, (str, bytes, _os.PathLike))]
        if event in ("os.chdir", "os.chroot") or not all(_inside(p) for p in paths):
            kind = "filesystem_blocked"
    elif event == "ctypes.dlopen":
        kind = "process_blocked"
    if kind:
        _violations.append({"kind": kind, "event": event})
        raise PermissionError(_errno.EPERM, "sandbox: %s refused (%s)" % (event, kind))

def _classify(e):
    if isinstance(e, AssertionError):
        return "assertion", None
    if isinstance(e, MemoryError):
        return "resource_limit", "rlimit_as"
    if isinstance(e, RecursionError):
        return "exception", None
    if isinstance(e, OSError):
        if e.errno == _errno.EFBIG:
            return "resource_limit", "rlimit_fsize"
        if isinstance(e, BlockingIOError) and e.errno == _errno.EAGAIN:
            return "resource_limit", "rlimit_nproc"
        if e.errno in (_errno.ENETUNREACH, _errno.EHOSTUNREACH, _errno.EADDRNOTAVAIL) or (
                e.errno == _errno.ECONNREFUSED and "netns" in _applied):
            return "network_blocked", "netns"
        if e.errno in (_errno.EACCES, _errno.EPERM) and "uid" in _applied:
            return "filesystem_blocked", "uid"
    return "exception", None

def _detail(e):
    return ("%s: %s" % (type(e).__name__, e))[:500]

if _payload.get("audit"):
    _sys.addaudithook(_hook)

_ns = {"__name__": "__sandbox__", "__builtins__": __builtins__}
_tests = _payload["tests"]
try:
    _code = compile(_payload["code"], "<completion>", "exec")
except (SyntaxError, ValueError) as e:
    _result(stage="compile", kind="syntax", blocked_by=None, detail=_detail(e), passed=0, total=len(_tests))
    _sys.exit(0)
_first = None
_passed = 0
try:
    exec(_code, _ns)
except BaseException as e:
    _first = e
if _first is None:
    for _t in _tests:
        try:
            exec(compile(_t, "<test>", "exec"), _ns)
            _passed += 1
        except BaseException as e:
            if _first is None:
                _first = e
if _violations:
    _kind, _by, _det = _violations[0]["kind"], "audit_hook", "refused " + _violations[0]["event"]
elif _first is not None:
    _kind, _by = _classify(_first)
    _det = _detail(_first)
else:
    _kind, _by, _det = None, None, None
_result(stage="run", kind=_kind, blocked_by=_by, detail=_det, passed=_passed, total=len(_tests))
_sys.stdout.flush()
_os._exit(0)
'''
