"""A rank that raises in the middle of a step ends the whole MPI job quickly, with a non-zero exit code and its
traceback, while the other rank waits in a collective: never a hang."""
import time

from test_distributed_worker import HERE, mpirun, requires_mpi


@requires_mpi
def test_a_failing_rank_aborts_the_job_with_its_traceback(tmp_path):
    start = time.monotonic()
    done = mpirun([HERE, "crash", str(tmp_path)], timeout=60)
    elapsed = time.monotonic() - start
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert elapsed < 30, f"the job took {elapsed:.1f} s to end"
    assert "gpuad.distributed: rank 1 of 2 raised an exception; aborting the MPI job" in output
    assert "Traceback (most recent call last)" in output
    assert "ValueError: rank 1 fails on purpose in the middle of a step" in output
    assert "rank 0 of 2 raised" not in output  # only the failing rank reports a failure
