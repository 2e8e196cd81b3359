# Injected by `mpdoctor run` through PYTHONPATH, into every Python process of the run.
#
# 1. With MPDOCTOR_RUN_START_METHOD it changes multiprocessing's *default* start method,
#    the way Python 3.14 changed it, without "setting" it: a program that calls
#    set_start_method() itself still can, and get_context("fork") still means fork.
# 2. With MPDOCTOR_RUN_MARKER it appends "S pid" when a process starts and "E pid" when
#    the main thread of a program (not of a multiprocessing child or helper) has finished
#    and the interpreter begins to shut down: from then on the program has no more work,
#    so a process still alive long after is hung at exit.
#    It also appends "R pid rtype name" when a process registers a shared-memory
#    segment or a semaphore with multiprocessing's resource tracker: a segment made
#    and dropped between two looks at /proc is still known to be the run's. For a
#    shared-memory segment it adds "O pid name create|attach file:line", the user's call
#    that made or opened it, and "U pid shared_memory name" when it is unregistered
#    (unlink() does that), so a leak can be traced to the line that made it.
#    When multiprocessing.pool is imported it also appends "W pid count file:line" when
#    a `with Pool()` block ends with tasks still unfinished (its exit terminates them),
#    and, when the program's main thread ends, "F pid count exception file:line" for
#    pool results that failed and that nobody read (get() or successful()), and that had
#    no error_callback: the line of the first such apply_async/map_async call.
#    In a multiprocessing child it appends "X pid code seconds phase where exception" when the
#    child ends with a non-zero exit code: phase `run` when its target raised or exited
#    (from BaseProcess._bootstrap), `start` when it died before its target ran (from
#    spawn._main, which spawn and forkserver children run: importing the main module,
#    unpickling the process); `where` is the function that raised, `-` when none did.
#    In a parent it appends "D pid child code seconds name" when it sees a child that it
#    did not stop itself end with a non-zero exit code (a signal is negative), with the
#    time.monotonic() of that moment and the child's Process name.
# 3. Then it runs the sitecustomize module that would have run without it, if any.
import os
import sys


def _mpdoctor_mark(tag, extra=None):
    path = os.environ.get("MPDOCTOR_RUN_MARKER")
    if not path:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            line = "%s %d" % (tag, os.getpid())
            if extra:
                line += " " + extra
            os.write(fd, (line + "\n").encode("utf-8", "backslashreplace"))
        finally:
            os.close(fd)
    except OSError:
        pass


def _mpdoctor_now():
    # CLOCK_MONOTONIC, the clock mpdoctor reads: marks made after it began to stop the
    # run are told from the run's own.
    import time

    return time.monotonic()


def _mpdoctor_origin(name):
    """Marks "O pid name kind file:line": the first frame outside multiprocessing that
    made (create) or opened (attach) the segment being registered."""
    try:
        import multiprocessing

        package = os.path.dirname(os.path.abspath(multiprocessing.__file__)) + os.sep
        frame = sys._getframe(2)
        create = None
        while frame is not None:
            filename = os.path.abspath(frame.f_code.co_filename)
            if not filename.startswith(package):
                break
            if create is None and frame.f_code.co_name == "__init__" and "create" in frame.f_locals:
                create = bool(frame.f_locals["create"])
            frame = frame.f_back
        if frame is None:
            return
        kind = "unknown" if create is None else ("create" if create else "attach")
        _mpdoctor_mark("O", "%s %s %s:%d" % (name, kind, frame.f_code.co_filename, frame.f_lineno))
    except Exception:
        pass


def _mpdoctor_caller(depth):
    """The "file:line" of the first frame outside multiprocessing, from `depth` up."""
    try:
        import multiprocessing

        package = os.path.dirname(os.path.abspath(multiprocessing.__file__)) + os.sep
        frame = sys._getframe(depth + 1)
        while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
            frame = frame.f_back
        if frame is None:
            return None
        return "%s:%d" % (frame.f_code.co_filename, frame.f_lineno)
    except Exception:
        return None


# Pool results that failed, had no error_callback, and were not read (yet).
_mpdoctor_failed = []


def _mpdoctor_unread_failures():
    unread = [r for r in _mpdoctor_failed if not getattr(r, "_mpdoctor_seen", False)]
    if not unread:
        return
    first = unread[0]
    value = getattr(first, "_value", None)
    kind = type(value).__name__ if isinstance(value, BaseException) else "exception"
    _mpdoctor_mark(
        "F", "%d %s %s" % (len(unread), kind, getattr(first, "_mpdoctor_at", None) or "?")
    )


def _mpdoctor_patch_pool(module):
    """Notes pool work dropped by a `with` block's exit and failures nobody reads."""
    pool_class = getattr(module, "Pool", None)
    result_class = getattr(module, "ApplyResult", None)
    if pool_class is None or result_class is None:
        return
    original_exit = pool_class.__exit__

    def __exit__(self, *exc):
        try:
            pending = len(getattr(self, "_cache", ()))
            if pending and exc[0] is None:
                _mpdoctor_mark("W", "%d %s" % (pending, _mpdoctor_caller(1) or "?"))
        except Exception:
            pass
        return original_exit(self, *exc)

    pool_class.__exit__ = __exit__
    original_init = result_class.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self._mpdoctor_at = _mpdoctor_caller(1)

    result_class.__init__ = __init__

    def seen(method):
        def read(self, *args, **kwargs):
            self._mpdoctor_seen = True
            return method(self, *args, **kwargs)

        return read

    for cls in [result_class] + [getattr(module, n, None) for n in ("MapResult",)]:
        if cls is None:
            continue
        for name in ("get", "successful"):
            if name in vars(cls):
                setattr(cls, name, seen(vars(cls)[name]))
        if "_set" in vars(cls):
            original_set = vars(cls)["_set"]

            def _set(self, *args, _original=original_set, **kwargs):
                result = _original(self, *args, **kwargs)
                try:
                    if (
                        self._event.is_set()
                        and not self._success
                        and getattr(self, "_error_callback", None) is None
                        and not getattr(self, "_mpdoctor_failed", False)
                    ):
                        self._mpdoctor_failed = True
                        _mpdoctor_failed.append(self)
                except Exception:
                    pass
                return result

            cls._set = _set


def _mpdoctor_exception_text(exc):
    text = " ".join(("%s: %s" % (type(exc).__name__, exc)).split())
    return text[:300]


def _mpdoctor_innermost(tb):
    name = "-"
    while tb is not None:
        name = tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return name


def _mpdoctor_patch_process(module):
    """Marks how a child's target ended, when it ended badly."""
    base = getattr(module, "BaseProcess", None)
    original = getattr(base, "_bootstrap", None)
    if original is None:
        return

    def _bootstrap(self, *args, **kwargs):
        # The original prints the target's exception with traceback.print_exc(): seen
        # there, the child's traceback gets no frame of ours.
        import traceback

        seen = []
        print_exc = traceback.print_exc

        def watched_print_exc(*a, **k):
            try:
                if sys._getframe(1).f_code.co_name == "_bootstrap":
                    exc = sys.exc_info()[1]
                    if exc is not None:
                        tb = getattr(exc, "__traceback__", None) or sys.exc_info()[2]
                        seen.append((exc, _mpdoctor_innermost(tb)))
            except Exception:
                pass
            return print_exc(*a, **k)

        traceback.print_exc = watched_print_exc
        try:
            code = original(self, *args, **kwargs)
        finally:
            traceback.print_exc = print_exc
        try:
            if code:
                exc, where = seen[-1] if seen else (None, "-")
                text = _mpdoctor_exception_text(exc) if exc is not None else "-"
                _mpdoctor_mark("X", "%d %.3f run %s %s" % (code, _mpdoctor_now(), where, text))
        except Exception:
            pass
        return code

    base._bootstrap = _bootstrap


def _mpdoctor_patch_spawn(module):
    """Marks a spawned or forkserver child that dies before its target runs."""
    original = getattr(module, "_main", None)
    if original is None:
        return

    def _main(*args, **kwargs):
        try:
            return original(*args, **kwargs)
        except SystemExit:
            raise
        except BaseException as exc:
            try:
                where = _mpdoctor_innermost(getattr(exc, "__traceback__", None))
                _mpdoctor_mark(
                    "X", "1 %.3f start %s %s" % (_mpdoctor_now(), where, _mpdoctor_exception_text(exc))
                )
            except Exception:
                pass
            raise

    module._main = _main


def _mpdoctor_patch_popen(module):
    """Marks "D pid child code seconds name" when a parent sees a child end with a
    non-zero exit code or a signal, unless the parent itself stopped it (terminate(),
    kill(): a pool's exit, a broken executor, daemonic children at exit). The child's
    own mark cannot see a signal or os._exit(); this one can."""
    popen = getattr(module, "Popen", None)
    if popen is None:
        return
    own = vars(popen)
    if "__init__" in own:
        original_init = own["__init__"]

        def __init__(self, process_obj, *args, **kwargs):
            try:
                self._mpdoctor_name = str(getattr(process_obj, "name", "-"))
            except Exception:
                pass
            return original_init(self, process_obj, *args, **kwargs)

        popen.__init__ = __init__
    if "poll" in own:
        original_poll = own["poll"]

        def poll(self, *args, **kwargs):
            before = self.returncode
            code = original_poll(self, *args, **kwargs)
            try:
                if before is None and code and not getattr(self, "_mpdoctor_stopped", False):
                    _mpdoctor_mark(
                        "D",
                        "%d %d %.3f %s"
                        % (
                            self.pid,
                            code,
                            _mpdoctor_now(),
                            " ".join(getattr(self, "_mpdoctor_name", "-").split()) or "-",
                        ),
                    )
            except Exception:
                pass
            return code

        popen.poll = poll
    for name in ("terminate", "kill", "_send_signal"):
        if name in own:

            def stop(self, *args, _original=own[name], **kwargs):
                self._mpdoctor_stopped = True
                return _original(self, *args, **kwargs)

            setattr(popen, name, stop)


_MPDOCTOR_PATCHES = {
    "multiprocessing.pool": _mpdoctor_patch_pool,
    "multiprocessing.process": _mpdoctor_patch_process,
    "multiprocessing.spawn": _mpdoctor_patch_spawn,
    "multiprocessing.popen_fork": _mpdoctor_patch_popen,
    "multiprocessing.popen_forkserver": _mpdoctor_patch_popen,
}


class _MpdoctorFinder:
    """Wraps resource_tracker.register, and the pool, process and spawn modules, when they
    are first imported,
    so that processes that never use multiprocessing do not pay for importing it."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "multiprocessing.resource_tracker" and name not in _MPDOCTOR_PATCHES:
            return None
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        real_exec = spec.loader.exec_module

        patch = _MPDOCTOR_PATCHES.get(name)
        if patch is not None:

            def exec_patched(module):
                real_exec(module)
                try:
                    patch(module)
                except Exception:
                    pass

            spec.loader.exec_module = exec_patched
            return spec

        def exec_module(module):
            real_exec(module)
            original = module.register
            original_unregister = module.unregister

            def register(name, rtype):
                _mpdoctor_mark("R", "%s %s" % (rtype, name))
                if rtype == "shared_memory":
                    _mpdoctor_origin(name)
                return original(name, rtype)

            def unregister(name, rtype):
                if rtype == "shared_memory":
                    _mpdoctor_mark("U", "%s %s" % (rtype, name))
                return original_unregister(name, rtype)

            module.register = register
            module.unregister = unregister

        spec.loader.exec_module = exec_module
        return spec


def _mpdoctor_is_program():
    # Helpers run `python -c "from multiprocessing.xxx import main; main(...)"`.
    argv = getattr(sys, "orig_argv", None) or sys.argv
    if any("from multiprocessing." in a or "loky.backend" in a for a in argv):
        return False
    process = sys.modules.get("multiprocessing.process")
    parent = getattr(process, "_parent_process", None) if process else None
    return parent is None


def _mpdoctor_setup():
    marking = bool(os.environ.get("MPDOCTOR_RUN_MARKER"))
    if marking:
        # Before anything imports multiprocessing: setting the start method below does.
        sys.meta_path.insert(0, _MpdoctorFinder)
    method = os.environ.get("MPDOCTOR_RUN_START_METHOD")
    if method:
        try:
            import multiprocessing.context as context

            concrete = context._concrete_contexts.get(method)
            if concrete is not None:
                context._default_context._default_context = concrete
        except Exception:
            pass
    if not marking:
        return
    _mpdoctor_mark("S")
    import threading

    original = threading._shutdown

    def _shutdown():
        if _mpdoctor_is_program():
            _mpdoctor_unread_failures()
            _mpdoctor_mark("E")
        return original()

    threading._shutdown = _shutdown


def _mpdoctor_chain():
    # Every injected copy is skipped (mpdoctor run inside mpdoctor run), not just this one.
    rest = [
        p
        for p in sys.path
        if not os.path.isfile(os.path.join(p or os.curdir, ".mpdoctor-run"))
    ]
    if sys.version_info[0] < 3:
        import imp

        try:
            found = imp.find_module("sitecustomize", rest)
        except ImportError:
            return
        try:
            imp.load_module("sitecustomize", *found)
        finally:
            if found[0]:
                found[0].close()
        return
    import importlib.machinery
    import importlib.util

    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


# Python 2 only gets its own sitecustomize back: multiprocessing there has no start
# methods and no resource tracker.
if sys.version_info[0] >= 3:
    _mpdoctor_setup()
_mpdoctor_chain()
