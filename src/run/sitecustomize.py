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


class _MpdoctorFinder:
    """Wraps resource_tracker.register when that module is first imported, so that
    processes that never use multiprocessing do not pay for importing it."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "multiprocessing.resource_tracker":
            return None
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        real_exec = spec.loader.exec_module

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
    method = os.environ.get("MPDOCTOR_RUN_START_METHOD")
    if method:
        try:
            import multiprocessing.context as context

            concrete = context._concrete_contexts.get(method)
            if concrete is not None:
                context._default_context._default_context = concrete
        except Exception:
            pass
    if not os.environ.get("MPDOCTOR_RUN_MARKER"):
        return
    _mpdoctor_mark("S")
    sys.meta_path.insert(0, _MpdoctorFinder)
    import threading

    original = threading._shutdown

    def _shutdown():
        if _mpdoctor_is_program():
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
