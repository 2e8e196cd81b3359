# Sets the default multiprocessing start method for the runtime proofs of the fixtures.
# It sits on PYTHONPATH, so it also runs (harmlessly) in every spawned child, whose
# method the parent has already chosen.
import os

_method = os.environ.get("MPDOCTOR_START_METHOD")
if _method:
    # Change what the default is, as a platform does, without fixing it: a program that
    # calls set_start_method() itself still may, once, as it would on that platform.
    import multiprocessing.context as _context

    _context._default_context._default_context = _context._concrete_contexts[_method]

# Records the name of every shared-memory segment a run makes or opens, so that the test
# harness can remove what is left when a run fails or is killed together with its
# resource tracker.
_shm_log = os.environ.get("MPDOCTOR_SHM_LOG")
if _shm_log:
    try:
        from multiprocessing import shared_memory as _shared_memory
    except ImportError:
        _shared_memory = None
    if _shared_memory is not None:
        _original_init = _shared_memory.SharedMemory.__init__

        def _logged_init(self, *args, **kwargs):
            _original_init(self, *args, **kwargs)
            try:
                with open(_shm_log, "a") as log:
                    log.write(self._name.lstrip("/") + "\n")
            except OSError:
                pass

        _shared_memory.SharedMemory.__init__ = _logged_init
