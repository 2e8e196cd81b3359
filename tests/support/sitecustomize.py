# Forces the multiprocessing start method for the runtime proofs of the fixtures.
# It sits on PYTHONPATH, so it also runs (harmlessly) in every spawned child: a
# forced method there is the one the parent already chose.
import os

_method = os.environ.get("MPDOCTOR_START_METHOD")
if _method:
    import multiprocessing

    multiprocessing.set_start_method(_method, force=True)
