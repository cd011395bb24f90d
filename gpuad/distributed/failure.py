"""An exception on one rank must end the whole job, never leave the other ranks waiting in a collective: an exception
hook prints the failing rank's traceback and calls ``MPI.COMM_WORLD.Abort`` (as ChainerMN's global_except_hook does),
after which ``mpiexec`` ends every process with a non-zero exit code."""
import os
import sys
import threading
import time
import traceback

_saved = None  # (sys.excepthook, threading.excepthook) before install


def install_abort_hook(MPI):
    """Abort the MPI job on any uncaught exception (main thread or other threads); idempotent."""
    global _saved
    if _saved is not None:
        return
    _saved = (sys.excepthook, threading.excepthook)

    def abort(exc_type, exc, tb, where=""):
        try:
            world = MPI.COMM_WORLD
            sys.stdout.flush()
            report = (f"gpuad.distributed: rank {world.rank} of {world.size} raised an exception{where}; "
                      f"aborting the MPI job\n" + "".join(traceback.format_exception(exc_type, exc, tb)))
            sys.stderr.flush()
            os.write(2, report.encode(errors="replace"))  # one write, so the report arrives whole
            time.sleep(0.5)  # NOTE: Abort kills at once; give mpiexec's output forwarding time to pass the report on
        finally:
            MPI.COMM_WORLD.Abort(1)

    sys.excepthook = abort
    threading.excepthook = lambda args: abort(args.exc_type, args.exc_value, args.exc_traceback,
                                              f" in thread {args.thread.name if args.thread else '?'}")


def uninstall_abort_hook():
    global _saved
    if _saved is not None:
        sys.excepthook, threading.excepthook = _saved
        _saved = None
