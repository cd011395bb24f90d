"""Every worked example in gpuad.examples runs and shows what it claims."""
import numpy as np
import pytest

from gpuad.examples import EXAMPLES, control_flow, detach, forward_vs_reverse, linear_network, sin_derivative, \
    three_methods


def test_every_example_is_listed_and_tested():
    assert set(EXAMPLES) == {"three_methods", "sin_derivative", "detach", "control_flow", "forward_vs_reverse",
                             "linear_network"}


def test_three_methods(capsys):
    result = three_methods.main([])
    single = result["single"]
    assert single["forward difference"] == pytest.approx(15.0801, abs=1e-9)
    assert abs(single["central difference"] - 15) < 1e-3
    assert single["AD"] == 15.0
    for row in result["rows"]:
        assert row["ad_error"] == 0.0 and row["fd_error"] > 0
    assert [r["N"] for r in result["rows"]] == [100, 1000, 10000]
    assert "15.0801" in capsys.readouterr().out


def test_sin_derivative_plot(tmp_path):
    pytest.importorskip("matplotlib")
    result = sin_derivative.main(["--out", str(tmp_path / "sin.png")])
    assert result["max_error"] < 1e-15
    assert open(result["plot"], "rb").read(4) == b"\x89PNG"


def test_sin_derivative_without_a_plot_still_checks_the_derivative():
    x, y, dy = sin_derivative.derivative_by_ad(101)
    np.testing.assert_allclose(dy, np.cos(x), rtol=0, atol=1e-15)


def test_detach():
    result = detach.main([])
    assert result["attached"] == [0.0, 3.0, 12.0, 27.0]
    assert result["detached"] == result["u"] == [0.0, 1.0, 4.0, 9.0]


def test_control_flow():
    for row in control_flow.main([]):
        assert row["grad"] == pytest.approx(row["f(a)/a"])


def test_forward_vs_reverse(capsys):
    result = forward_vs_reverse.main([])
    assert result["forward"] == pytest.approx((-4 - 1 / 3, 4.0))
    assert result["reverse"] == pytest.approx((-4 - 1 / 3, 4.0))
    out = capsys.readouterr().out
    assert "d/dx1" in out and "d/dx2" in out and "adjoint" in out


def test_linear_network():
    result = linear_network.main([])
    assert result["agree"] and result["loss"] == (36 - 2) ** 2
    np.testing.assert_array_equal(result["reverse"][3], [[680.0, 1088.0]])
